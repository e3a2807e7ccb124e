package cli

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/spf13/cobra"
)

func newBundleDiffCmd(e *env) *cobra.Command {
	var out *outputFormat
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two bundles: images added, removed, changed; blobs each adds",
		Long: `Compare two bundles by their gantry-bundle.json (volume 1 of a split bundle,
or any one volume, is enough): images added, removed and changed (same name,
other digest), and the blobs only one of them holds, with their sizes, which
is what a delta from OLD to NEW carries.`,
		Example: `  gantry bundle diff release-1.4.tar release-1.5.tar
  gantry bundle diff --json release-1.4.tar release-1.5.tar`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("bundle diff takes OLD and NEW, got %s", plural(len(args), "argument"))}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			a, err := bundle.Open(args[0])
			if err != nil {
				return fmt.Errorf("OLD: %w", err)
			}
			defer a.Close()
			b, err := bundle.Open(args[1])
			if err != nil {
				return fmt.Errorf("NEW: %w", err)
			}
			defer b.Close()
			d := bundle.Diff(a, b)
			if out.json() {
				return writeJSON(e.stdout, d)
			}
			w := e.stdout
			for _, n := range d.Added {
				fmt.Fprintf(w, "+ %s\n", n)
			}
			for _, n := range d.Removed {
				fmt.Fprintf(w, "- %s\n", n)
			}
			for _, c := range d.Changed {
				fmt.Fprintf(w, "~ %s %s -> %s\n", c.Name, shortDigest(c.From.String()), shortDigest(c.To.String()))
			}
			fmt.Fprintf(w, "%d unchanged; blobs: %d shared (%s), %d only in OLD (%s), %d only in NEW (%s)\n",
				len(d.Unchanged), d.Shared, formatBytes(d.SharedBytes),
				len(d.OnlyInA), formatBytes(d.BytesOnlyInA), len(d.OnlyInB), formatBytes(d.BytesOnlyInB))
			return nil
		},
	}
	out = addFormatFlags(cmd)
	return cmd
}
