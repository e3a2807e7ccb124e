package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// The CLI contract of docs/cli.md, checked on the built binary. This file:
// one output contract (--format, --json, IEC sizes, plurals).

// The CLI contract of docs/cli.md, checked on the built binary: one output
// contract (--format, --json, IEC sizes, plurals), exit codes and one-line
// errors, and commands that leave nothing behind when they fail.

// cliFixture is a layout holding one small image as demo/app:1, and a
// bundle of it.
type cliFixture struct {
	layout, ref, bundle string
}

func newCLIFixture(t *testing.T) cliFixture {
	t.Helper()
	imgs, err := testimage.Fleet(1, 1, 64<<10, 16<<10, 31)
	if err != nil {
		t.Fatal(err)
	}
	f := cliFixture{layout: filepath.Join(t.TempDir(), "layout")}
	layoutWith(t, f.layout, map[string]testimage.Image{"demo/app:1": imgs[0]})
	f.ref = "oci:" + f.layout + ":demo/app:1"
	f.bundle = filepath.Join(t.TempDir(), "app.tar")
	mustGantry(t, "bundle", "create", "-q", "-o", f.bundle, f.ref)
	return f
}

// TestCLIOutputContract runs every command that prints a report with
// --format json and with --json, and checks that each prints one JSON
// document on stdout; sarif where findings are reported; and that an
// unknown format is a usage error.
func TestCLIOutputContract(t *testing.T) {
	f := newCLIFixture(t)
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	fresh := func() string { n++; return filepath.Join(dir, fmt.Sprintf("d%d", n)) }
	commands := []struct {
		name   string
		args   func() []string
		sarif  bool
		anyRun bool // exit 1 is a verdict, not a failure (findings)
	}{
		{"version", func() []string { return []string{"version"} }, false, false},
		{"copy", func() []string { return []string{"copy", f.ref, "oci:" + fresh() + ":demo/app:1"} }, false, false},
		{"fsck", func() []string { return []string{"fsck", f.layout} }, false, false},
		{"inventory", func() []string { return []string{"inventory", "oci:" + f.layout, "-o", fresh()} }, false, false},
		{"bundle create", func() []string { return []string{"bundle", "create", "-o", fresh() + ".tar", f.ref} }, false, false},
		{"bundle inspect", func() []string { return []string{"bundle", "inspect", f.bundle} }, false, false},
		{"bundle verify", func() []string { return []string{"bundle", "verify", f.bundle} }, false, false},
		{"bundle diff", func() []string { return []string{"bundle", "diff", f.bundle, f.bundle} }, false, false},
		{"bundle load", func() []string { return []string{"bundle", "load", f.bundle, "--root", fresh()} }, false, false},
		{"fleet", func() []string { return []string{"fleet", f.ref} }, false, false},
		{"lint", func() []string { return []string{"lint", dockerfile} }, true, true},
		{"check", func() []string { return []string{"check", f.ref} }, true, true},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			formats := [][]string{{"--format", "json"}, {"--json"}}
			if c.sarif {
				formats = append(formats, []string{"--format", "sarif"})
			}
			for _, fl := range formats {
				r := gantry(t, append(c.args(), fl...)...)
				if r.Code != 0 && !(c.anyRun && r.Code == 1) {
					t.Fatalf("%s %v: exit %d\n%s", c.name, fl, r.Code, r.Stderr)
				}
				var v map[string]any
				if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
					t.Fatalf("%s %v: stdout is not one JSON object: %v\n%s", c.name, fl, err, r.Stdout)
				}
				if fl[len(fl)-1] == "sarif" && v["runs"] == nil {
					t.Errorf("%s --format sarif: no runs: %s", c.name, r.Stdout)
				}
			}
			r := gantry(t, append(c.args(), "--format", "xml")...)
			if r.Code != 2 || !strings.Contains(r.Stderr, "xml") || !strings.Contains(r.Stderr, "json") {
				t.Errorf("--format xml: exit %d, want 2 naming the formats: %s", r.Code, r.Stderr)
			}
			if !c.sarif {
				if r := gantry(t, append(c.args(), "--format", "sarif")...); r.Code != 2 {
					t.Errorf("--format sarif on a command without findings: exit %d, want 2: %s", r.Code, r.Stderr)
				}
			}
		})
	}
}

// TestCLIUnitsAndPlurals reads the tty output of the commands that print
// sizes and counts: IEC units only, and "1 blob", never "1 blobs" or
// "blob(s)".
func TestCLIUnitsAndPlurals(t *testing.T) {
	f := newCLIFixture(t)
	dir := t.TempDir()
	outputs := []testenv.Result{
		mustGantry(t, "copy", f.ref, "oci:"+filepath.Join(dir, "c")+":demo/app:1"),
		mustGantry(t, "fsck", f.layout),
		mustGantry(t, "inventory", "oci:"+f.layout, "-o", filepath.Join(dir, "have.json")),
		mustGantry(t, "bundle", "create", "-o", filepath.Join(dir, "b.tar"), f.ref),
		mustGantry(t, "bundle", "inspect", f.bundle),
		mustGantry(t, "bundle", "verify", f.bundle),
		mustGantry(t, "bundle", "diff", f.bundle, f.bundle),
		mustGantry(t, "bundle", "load", f.bundle, "--root", filepath.Join(dir, "r")),
		mustGantry(t, "fleet", f.ref),
	}
	decimal := regexp.MustCompile(`\b\d+(\.\d+)? ?(kB|KB|MB|GB|TB)\b`)
	badPlural := regexp.MustCompile(`(^|[^\d.])1 (blob|image|file|digest|layer|volume|problem|byte|argument)s\b|\w\(s\)`)
	for _, r := range outputs {
		text := r.Stdout + r.Stderr
		if m := decimal.FindString(text); m != "" {
			t.Errorf("decimal size unit %q in:\n%s", m, text)
		}
		if m := badPlural.FindString(text); m != "" {
			t.Errorf("wrong plural %q in:\n%s", m, text)
		}
	}
}
