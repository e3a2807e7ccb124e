// Command gen writes the heavy component catalogue into docs/rules.md,
// between the markers of package catalog: `go generate
// ./internal/analyze/catalog` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gantry-dev/gantry/internal/analyze/catalog"
)

func main() {
	doc := flag.String("doc", "docs/rules.md", "the Markdown file to update")
	flag.Parse()
	if err := run(*doc); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(doc string) error {
	old, err := os.ReadFile(doc)
	if err != nil {
		return fmt.Errorf("read %s: %w", doc, err)
	}
	out, err := catalog.Splice(old, catalog.Default().Markdown())
	if err != nil {
		return fmt.Errorf("%s: %w", doc, err)
	}
	if err := os.WriteFile(doc, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", doc, err)
	}
	return nil
}
