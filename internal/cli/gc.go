package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// retentionFlags are the retention rules as flags, shared by gantry gc and
// gantry serve (with a prefix there: --gc-keep-last).
type retentionFlags struct {
	grace time.Duration
	ret   disk.Retention
}

// add registers the flags on fl, each name after prefix.
func (r *retentionFlags) add(fl *pflag.FlagSet, prefix string) {
	fl.DurationVar(&r.grace, prefix+"grace", disk.DefaultGrace, "keep content let go of (deleted, untagged, superseded) less than this long ago; longer than any push takes (0: none)")
	fl.IntVar(&r.ret.KeepLast, prefix+"keep-last", 0, "retention: keep the N most recently pushed tags of each repository, remove older ones (0: no such rule)")
	fl.DurationVar(&r.ret.MaxAge, prefix+"max-age", 0, "retention: remove tags pushed longer ago than this (0: no such rule; with keep-last, a tag either keeps stays)")
	fl.StringSliceVar(&r.ret.Match, prefix+"match", nil, "retention applies only to tags matching one of these regular expressions (default: all)")
	fl.StringSliceVar(&r.ret.Protect, prefix+"protect", nil, "never remove a tag matching one of these regular expressions")
	fl.StringSliceVar(&r.ret.Repositories, prefix+"repositories", nil, "retention applies only to repositories matching one of these regular expressions (default: all)")
	fl.BoolVar(&r.ret.RemoveUntagged, prefix+"remove-untagged", false, "remove manifests no tag reaches (signatures and other referrers of kept images stay)")
}

// options returns the GCOptions the flags say.
func (r retentionFlags) options(dryRun bool) (disk.GCOptions, error) {
	if r.grace < 0 {
		return disk.GCOptions{}, fmt.Errorf("grace %s: want a duration of 0 or more", r.grace)
	}
	if err := r.ret.Validate(); err != nil {
		return disk.GCOptions{}, err
	}
	grace := r.grace
	if grace == 0 {
		grace = disk.NoGrace
	}
	return disk.GCOptions{Grace: grace, DryRun: dryRun, Retention: r.ret}, nil
}

func newGCCmd(e *env) *cobra.Command {
	var (
		root   string
		dryRun bool
		rf     retentionFlags
		out    *outputFormat
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Reclaim the space of deleted and unreferenced content in a stopped store",
		Long: `gc removes from a store what no one can pull any more, and reports it:

  - in each repository, the blobs and manifests that none of its manifests
    reaches (a deleted image's layers, an upload no manifest came for),
    once the repository has held them longer than --grace;
  - the blob files that no repository holds, once let go of longer than
    --grace ago (the bytes are stored once, whatever the repositories);
  - the temporary files of interrupted pushes and rewrites.

Retention rules remove tags too: --keep-last N keeps the N most recently
pushed tags of each repository, --max-age the tags pushed within that time,
--match limits the rules to some tags, --protect exempts tags whatever the
rules say, --repositories limits them to some repositories. A tag's push time
is when its manifest entered the repository. Manifests no tag reaches stay
unless --remove-untagged (the platform manifests of a tagged index are
reached). A signature, SBOM or other referrer stays as long as its subject
does and goes with it. Images other tools put in the layout (index.json
entries that are not REPO:TAG) are not touched.

--dry-run lists what would go and how many bytes, and changes nothing.

gc works on a stopped store: it takes the store's lock, as fsck does. A
running gantry serve collects garbage itself (--gc-interval).

Exit status: 0 when the run completed, 1 when it could not, 2 on a usage
error.`,
		Example: `  # what would go, with the tags the rules would remove
  gantry gc --root /srv/gantry --keep-last 10 --protect 'latest|v[0-9]+' --dry-run

  # reclaim now what was deleted, without waiting a day
  gantry gc --root /srv/gantry --grace 0

  # machine-readable
  gantry gc --root /srv/gantry --dry-run --json | jq .bytesReclaimed`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := rf.options(dryRun)
			if err != nil {
				return usageError{err}
			}
			if root == "" {
				return usageError{errors.New("no store directory: give --root DIR or set GANTRY_ROOT")}
			}
			if err := requireStore(root); err != nil {
				return err
			}
			s, err := disk.Open(root, disk.Options{Logger: e.log})
			if err != nil {
				return err
			}
			rep, err := s.Collect(cmd.Context(), opts)
			if cerr := s.Close(); err == nil && cerr != nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("gc %s: %w", root, err)
			}
			if out.json() {
				return writeJSON(e.stdout, rep)
			}
			return writeGCReport(e.stdout, root, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", defaultRoot(), "store directory (env GANTRY_ROOT)")
	f.BoolVar(&dryRun, "dry-run", false, "report what would go and change nothing")
	rf.add(f, "")
	out = addFormatFlags(cmd)
	return cmd
}

// writeGCReport prints the report for people: what went (or would go),
// full digests, then one summary line.
func writeGCReport(w io.Writer, root string, rep *disk.GCReport) error {
	var b strings.Builder
	verb, went := "removed", "reclaimed"
	if rep.DryRun {
		verb, went = "would remove", "would reclaim"
	}
	for _, t := range rep.TagsRemoved {
		fmt.Fprintf(&b, "tag       %s\n", t)
	}
	for _, u := range rep.Unlinked {
		what := "blob    "
		if u.Manifest {
			what = "manifest"
		}
		fmt.Fprintf(&b, "%s  %s@%s\n", what, u.Repository, u.Digest)
	}
	for _, bl := range rep.Blobs {
		fmt.Fprintf(&b, "file      %s (%s)\n", bl.Digest, formatBytes(bl.Size))
	}
	for _, r := range rep.Busy {
		fmt.Fprintf(&b, "busy      %s: a push changed it during the run; the next run looks again\n", r)
	}
	fmt.Fprintf(&b, "store %s: %s %s, %s from repositories, %s (%s)",
		root, verb, plural(len(rep.TagsRemoved), "tag"), plural(len(rep.Unlinked), "link"), plural(rep.BlobsReclaimed, "blob file"), formatBytes(rep.BytesReclaimed))
	if rep.TempsRemoved > 0 {
		fmt.Fprintf(&b, " and %s (%s)", plural(rep.TempsRemoved, "temporary file"), formatBytes(rep.TempBytes))
	}
	fmt.Fprintf(&b, "; %s %s in %s\n", went, formatBytes(rep.BytesReclaimed+rep.TempBytes), rep.Duration.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}
