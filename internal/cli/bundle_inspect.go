package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/spf13/cobra"
)

func newBundleInspectCmd(e *env) *cobra.Command {
	var out *outputFormat
	cmd := &cobra.Command{
		Use:   "inspect FILE...",
		Short: "Show a bundle's images, sizes, volumes and base",
		Long: `Show what a bundle holds, from its gantry-bundle.json alone (nothing is
hashed: see gantry bundle verify): its images with digests, platforms and
sizes, its volumes and which images each holds whole, and, for an
incremental bundle (a delta), the base it needs and what each image takes
from it. Any one volume describes the whole bundle; volumes not given are
marked missing, with a warning. The tar headers are read: a volume cut short,
or lacking a blob, is marked and the command exits 1.`,
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
			damage := r.Damage()
			if out.json() {
				if err := writeJSON(e.stdout, struct {
					Manifest bundle.Manifest        `json:"manifest"`
					Missing  []bundle.MissingVolume `json:"missing,omitempty"`
					Delta    *bundle.Delta          `json:"delta,omitempty"`
					Problems []bundle.Problem       `json:"problems,omitempty"`
				}{r.Manifest(), r.Missing(), r.Delta(), damage}); err != nil {
					return err
				}
			} else if err := printInspect(e.stdout, r, damage); err != nil {
				return err
			}
			warnMissing(e.stderr, r)
			return damageError(args, damage)
		},
	}
	out = addFormatFlags(cmd)
	return cmd
}

// warnMissing says on w which volumes were not given and what they cost.
func warnMissing(w io.Writer, r *bundle.Reader) {
	missing := r.Missing()
	if len(missing) == 0 {
		return
	}
	var names []string
	costs := map[string]bool{}
	for _, mv := range missing {
		names = append(names, mv.Volume.Name)
		for _, img := range mv.Images {
			costs[img] = true
		}
	}
	const max = 5
	if len(names) > max {
		names = append(names[:max], fmt.Sprintf("and %d more", len(names)-max))
	}
	fmt.Fprintf(w, "warning: %d of %s not given (%s): %s incomplete without them; give every volume to read them whole\n",
		len(missing), plural(len(r.Manifest().Volumes), "volume"), strings.Join(names, ", "), plural(len(costs), "image"))
}

// damageError is the error for volumes found damaged: the first problem
// and a count, on one line.
func damageError(files []string, damage []bundle.Problem) error {
	if len(damage) == 0 {
		return nil
	}
	more := ""
	if len(damage) > 1 {
		more = fmt.Sprintf(" (and %s more: gantry bundle verify lists them)", plural(len(damage)-1, "problem"))
	}
	return fmt.Errorf("bundle %s is damaged: %s%s", strings.Join(files, ","), damage[0], more)
}

func printInspect(w io.Writer, r *bundle.Reader, damage []bundle.Problem) error {
	m := r.Manifest()
	var total int64
	for _, b := range m.Blobs {
		total += b.Size
	}
	fmt.Fprintf(w, "bundle %s\ncreated %s by %s, format %d\n%s, %s, %s\n",
		m.ID, m.Created.Format("2006-01-02 15:04:05 MST"), m.Tool, m.FormatVersion, plural(len(m.Images), "image"), plural(len(m.Blobs), "blob"), formatBytes(total))
	delta := r.Delta()
	fromBase := map[string]bundle.DeltaImage{}
	if delta != nil {
		fmt.Fprintf(w, "delta: needs base %s at the site: %s (%s) left out of this bundle come from it\n", delta.BaseName(), plural(delta.Blobs, "blob"), formatBytes(delta.Bytes))
		for _, di := range delta.Images {
			fromBase[di.Name] = di
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	header := "IMAGE\tDIGEST\tPLATFORMS\tSIZE\tBLOBS"
	if delta != nil {
		header += "\tFROM BASE"
	}
	fmt.Fprintln(tw, header)
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
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%d", img.Name, shortDigest(img.Digest.String()), pl, formatBytes(img.Bytes), len(img.Blobs))
		if delta != nil {
			if di, ok := fromBase[img.Name]; ok {
				row += fmt.Sprintf("\t%s (%s)", plural(di.Blobs, "blob"), formatBytes(di.Bytes))
			} else {
				row += "\t-"
			}
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	missing := map[int]bundle.MissingVolume{}
	for _, mv := range r.Missing() {
		missing[mv.Volume.Number] = mv
	}
	// The problems of each volume given, by its path.
	hurt := map[string][]bundle.Problem{}
	for _, p := range damage {
		hurt[p.Volume] = append(hurt[p.Volume], p)
	}
	given := r.Files()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tFILE\tBLOBS\tSIZE\tWHOLE IMAGES\tSTATE")
	for _, v := range m.Volumes {
		state := "present"
		file := v.Name
		if mv, ok := missing[v.Number]; ok {
			state = "MISSING: costs " + strings.Join(mv.Images, ", ")
		} else if path := given[v.Number-1]; path != "" {
			if filepath.Base(path) != v.Name {
				file = path + " (made as " + v.Name + ")"
			}
			if ps := hurt[path]; len(ps) > 0 {
				state = volumeState(ps)
			}
		}
		if v.Oversize {
			state += " (one blob larger than the split size)"
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%d\t%s\t%d\t%s\n", v.Number, len(m.Volumes), file, v.Blobs, formatBytes(v.Bytes), len(v.Images), state)
	}
	return tw.Flush()
}

// volumeState says in a few words what is wrong with a volume given.
func volumeState(ps []bundle.Problem) string {
	var imgs []string
	for _, p := range ps {
		imgs = append(imgs, p.Images...)
	}
	slices.Sort(imgs)
	imgs = slices.Compact(imgs)
	costs := ""
	if len(imgs) > 0 {
		costs = ": costs " + strings.Join(imgs, ", ")
	}
	if ps[0].Kind == bundle.ProblemTruncated {
		return "TRUNCATED" + costs
	}
	return fmt.Sprintf("DAMAGED (%s)%s", plural(len(ps), "blob"), costs)
}
