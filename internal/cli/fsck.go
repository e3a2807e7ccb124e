package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/spf13/cobra"
)

// errDamage makes fsck exit 1 when damage remains; the report already
// said what.
var errDamage = errors.New("damage remains")

func newFsckCmd(e *env) *cobra.Command {
	var (
		repair      bool
		out         *outputFormat
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "fsck [DIR]",
		Short: "Check every blob and image of a store, and optionally repair it",
		Long: `fsck re-hashes every blob of a gantry store (or any OCI image layout) and
walks every tag down through indexes, manifests, configs and layers.

It reports damaged blobs (bytes that do not hash to their name, truncated,
unreadable), incomplete images (a tag whose graph lacks content, with the
missing digests), and, as information only, sparse indexes: multi-platform
images with some platforms absent, as a platform-filtered copy makes them.
Opening the store also replays the tag journal a crash left and removes the
temporary files of interrupted pushes and rewrites. A damaged record in the
middle of the journal is skipped and the records after it kept; fsck reports
the skipped bytes (JOURNAL) as long as the copy of the damaged journal in
DIR/.gantry/ is kept. Those changes are lost: tag or push the images again.
This does not change the exit status: the store itself is consistent.

With --repair, damaged blobs move to DIR/.gantry/quarantine/ and the tags of
incomplete images are dropped, so every remaining tag is a whole image; copy
the images again to restore them.

DIR defaults to $GANTRY_ROOT, else the embedded store: /var/lib/gantry when
run as root, else $XDG_DATA_HOME/gantry or ~/.local/share/gantry. The store
must not be in use by another gantry process.

Exit status: 0 when no damage remains (after repairs, with --repair), 1 when
damage remains or the check could not run, 2 on a usage error.`,
		Example: `  # check the default store
  gantry fsck

  # check a layout directory and repair it
  gantry fsck --repair ./images

  # machine-readable report; the exit status still says whether damage remains
  gantry fsck --json /srv/layout > report.json || echo "store damaged"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("fsck takes one store DIR, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := os.Getenv("GANTRY_ROOT")
			if len(args) == 1 {
				dir = args[0]
			}
			if dir == "" {
				dir = defaultRoot()
			}
			if dir == "" {
				return usageError{errors.New("no store directory: give one (gantry fsck DIR) or set GANTRY_ROOT")}
			}
			if err := requireStore(dir); err != nil {
				return err
			}
			s, err := disk.Open(dir, disk.Options{Logger: e.log})
			if err != nil {
				return err
			}
			rep, err := s.Fsck(cmd.Context(), disk.FsckOptions{Repair: repair, Concurrency: concurrency})
			if cerr := s.Close(); err == nil && cerr != nil {
				err = cerr
			}
			if rep != nil {
				var werr error
				if out.json() {
					werr = writeJSON(e.stdout, rep)
				} else {
					werr = writeFsckReport(e.stdout, rep, repair)
				}
				if err == nil {
					err = werr
				}
			}
			if err != nil {
				return fmt.Errorf("fsck %s: %w", dir, err)
			}
			if !rep.Clean() {
				hint := "run gantry fsck --repair " + dir
				if repair {
					hint = "see the report above"
				}
				return fmt.Errorf("fsck %s: %w (%s)", dir, errDamage, hint)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&repair, "repair", false, "move damaged blobs to .gantry/quarantine/ and drop the tags of incomplete images")
	addCPUConcurrencyFlag(f, &concurrency, "blobs hashed", "one per CPU")
	out = addFormatFlags(cmd)
	return cmd
}

// writeFsckReport prints the report for people: one line per finding, full
// digests (they are what one copies into the next command), then a verdict.
func writeFsckReport(w io.Writer, rep *disk.FsckReport, repair bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "store %s: checked %s (%s hashed)\n", rep.Dir, plural(rep.BlobsChecked, "blob"), formatBytes(rep.BytesHashed))
	if n := len(rep.StrayTempsRemoved); n > 0 {
		fmt.Fprintf(&b, "removed %s of interrupted pushes\n", plural(n, "temporary file"))
	}
	writeStaleTemps(&b, rep.StaleTemps)
	for _, j := range rep.JournalDamage {
		fmt.Fprintf(&b, "JOURNAL     %s at offset %d of the tag journal were skipped after a crash: the tag or referrer changes recorded there are lost (the changes after them were kept); tag or push those images again, then remove the copy %s\n",
			plural(j.Bytes, "damaged byte"), j.Offset, j.Copy)
	}
	for _, d := range rep.Damaged {
		fmt.Fprintf(&b, "DAMAGED     %s: %s: %s", d.Digest, d.Reason, d.Detail)
		if d.Quarantined != "" {
			fmt.Fprintf(&b, " (moved to %s)", d.Quarantined)
		}
		b.WriteByte('\n')
	}
	for _, i := range rep.Incomplete {
		fmt.Fprintf(&b, "INCOMPLETE  %s (%s):", i.Ref, i.Digest)
		if len(i.Missing) > 0 {
			fmt.Fprintf(&b, " missing %s", joinStrings(i.Missing))
		}
		if len(i.Invalid) > 0 {
			fmt.Fprintf(&b, " invalid: %s", strings.Join(i.Invalid, "; "))
		}
		if i.Dropped {
			b.WriteString(" (tag dropped)")
		}
		b.WriteByte('\n')
	}
	for _, sp := range rep.Sparse {
		fmt.Fprintf(&b, "sparse      %s (%s): %d of %d platform manifests present (not damage: a platform-filtered copy makes these)\n",
			sp.Ref, sp.Digest, sp.Present, sp.Present+len(sp.Absent))
	}
	for _, a := range rep.Actions {
		fmt.Fprintf(&b, "repair: %s\n", a)
	}
	switch {
	case len(rep.Damaged)+len(rep.Incomplete) == 0 && len(rep.JournalDamage) > 0:
		b.WriteString("ok: no damaged blobs or incomplete images, but the tag journal lost changes (see JOURNAL above)\n")
	case len(rep.Damaged)+len(rep.Incomplete) == 0:
		b.WriteString("ok: no damage found\n")
	case rep.Clean():
		b.WriteString("ok: all damage repaired; copy the dropped images again to restore them\n")
	case repair:
		b.WriteString("DAMAGE REMAINS after repair\n")
	default:
		fmt.Fprintf(&b, "DAMAGE FOUND: %s, %s; gantry fsck --repair quarantines and drops them\n", plural(len(rep.Damaged), "damaged blob"), plural(len(rep.Incomplete), "incomplete image"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeStaleTemps sums up the temporaries of interrupted rewrites: a kill
// during a rewrite of index.json leaves one as large as index.json.
func writeStaleTemps(b *strings.Builder, temps []disk.StaleTemp) {
	var removed, left int
	var removedBytes, leftBytes int64
	for _, t := range temps {
		if t.Removed {
			removed++
			removedBytes += t.Size
		} else {
			left++
			leftBytes += t.Size
		}
	}
	if removed > 0 {
		fmt.Fprintf(b, "removed %s of interrupted index or journal rewrites (%s)\n", plural(removed, "temporary file"), formatBytes(removedBytes))
	}
	if left > 0 {
		fmt.Fprintf(b, "found %s of failed index or journal rewrites (%s); gantry fsck --repair removes them\n", plural(left, "temporary file"), formatBytes(leftBytes))
	}
}

func joinStrings[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
