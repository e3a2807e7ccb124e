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
is what a delta from OLD to NEW carries. A delta is described as one: the
base it needs and the blobs it takes from it. When NEW is a delta made
against OLD (--since OLD, or OLD's inventory), OLD's images that NEW does
not name are kept at the site ("= NAME"), not removed.`,
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
			for _, side := range []struct {
				name string
				d    *bundle.Delta
			}{{"OLD", d.Old}, {"NEW", d.New}} {
				switch {
				case side.d == nil:
				case side.name == "NEW" && d.NewOnOld:
					fmt.Fprintf(w, "NEW is a delta on OLD: it needs OLD's content at the site, and takes %s (%s) from it\n", plural(side.d.Blobs, "blob"), formatBytes(side.d.Bytes))
				default:
					fmt.Fprintf(w, "%s is a delta: it needs base %s at the site, and takes %s (%s) from it\n", side.name, side.d.BaseName(), plural(side.d.Blobs, "blob"), formatBytes(side.d.Bytes))
				}
			}
			for _, n := range d.Added {
				fmt.Fprintf(w, "+ %s\n", n)
			}
			for _, n := range d.Removed {
				fmt.Fprintf(w, "- %s\n", n)
			}
			for _, n := range d.Kept {
				fmt.Fprintf(w, "= %s (in OLD, kept at the site: NEW does not remove it)\n", n)
			}
			for _, c := range d.Changed {
				fmt.Fprintf(w, "~ %s %s -> %s\n", c.Name, shortDigest(c.From.String()), shortDigest(c.To.String()))
			}
			fromBase := ""
			if d.FromBase > 0 {
				fromBase = fmt.Sprintf(", %d in OLD that NEW takes from its base (%s)", d.FromBase, formatBytes(d.FromBaseBytes))
			}
			fmt.Fprintf(w, "%d unchanged; blobs: %d shared (%s)%s, %d only in OLD (%s), %d only in NEW (%s)\n",
				len(d.Unchanged), d.Shared, formatBytes(d.SharedBytes), fromBase,
				len(d.OnlyInA), formatBytes(d.BytesOnlyInA), len(d.OnlyInB), formatBytes(d.BytesOnlyInB))
			return nil
		},
	}
	out = addFormatFlags(cmd)
	return cmd
}
