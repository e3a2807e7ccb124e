package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/spf13/cobra"
)

func newBundleInspectCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE...",
		Short: "Show a bundle's images, sizes, volumes and base",
		Long: `Show what a bundle holds, from its gantry-bundle.json alone (nothing is
hashed: see gantry bundle verify): its images with digests, platforms and
sizes, its volumes and which images each holds whole, and, for an
incremental bundle, what it leaves out. Any one volume describes the whole
bundle; volumes not given are marked missing.`,
		Example: `  gantry bundle inspect release-1.4.tar
  gantry bundle inspect --json edge.tar edge.002.tar`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("bundle inspect needs a FILE: see gantry bundle inspect --help")}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := bundle.Open(args...)
			if err != nil {
				return err
			}
			defer r.Close()
			if asJSON {
				return writeJSON(e.stdout, struct {
					Manifest bundle.Manifest        `json:"manifest"`
					Missing  []bundle.MissingVolume `json:"missing,omitempty"`
				}{r.Manifest(), r.Missing()})
			}
			return printInspect(e.stdout, r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest and the missing volumes as JSON to stdout")
	return cmd
}

func printInspect(w io.Writer, r *bundle.Reader) error {
	m := r.Manifest()
	var total int64
	for _, b := range m.Blobs {
		total += b.Size
	}
	fmt.Fprintf(w, "bundle %s\ncreated %s by %s, format %d\n%s, %s, %s\n",
		m.ID, m.Created.Format("2006-01-02 15:04:05 MST"), m.Tool, m.FormatVersion, plural(len(m.Images), "image"), plural(len(m.Blobs), "blob"), formatBytes(total))
	if b := m.Base; b != nil {
		from := "an inventory " + b.Inventory.String()
		if b.Bundle != "" {
			from = "bundle " + b.Bundle
		}
		fmt.Fprintf(w, "incremental, based on %s: %s (%s) left out, expected at the target\n", from, plural(b.Blobs, "blob"), formatBytes(b.Bytes))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tPLATFORMS\tSIZE\tBLOBS")
	for _, img := range m.Images {
		pl := strings.Join(img.Platforms, ",")
		if pl == "" {
			pl = "-"
		}
		if img.Platform != "" {
			pl += " (kept " + img.Platform + ")"
		}
		if img.IsReferrer() {
			pl = "referrer of " + shortDigest(img.Subject.String())
			if img.ArtifactType != "" {
				pl += " (" + img.ArtifactType + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", img.Name, shortDigest(img.Digest.String()), pl, formatBytes(img.Bytes), len(img.Blobs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	missing := map[int]bundle.MissingVolume{}
	for _, mv := range r.Missing() {
		missing[mv.Volume.Number] = mv
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tFILE\tBLOBS\tSIZE\tWHOLE IMAGES\tSTATE")
	for _, v := range m.Volumes {
		state := "present"
		if mv, ok := missing[v.Number]; ok {
			state = "MISSING: costs " + strings.Join(mv.Images, ", ")
		}
		if v.Oversize {
			state += " (one blob larger than the split size)"
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%d\t%s\t%d\t%s\n", v.Number, len(m.Volumes), v.Name, v.Blobs, formatBytes(v.Bytes), len(v.Images), state)
	}
	return tw.Flush()
}
