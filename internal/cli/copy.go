package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/spf13/cobra"
)

type copyFlags struct {
	platform    string
	concurrency int
	access      registryFlags
	quiet       bool
	format      *outputFormat
}

func newCopyCmd(e *env) *cobra.Command {
	var f copyFlags
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an image between registries and OCI layouts",
		Long: `Copy an image, or a multi-platform index with every image under it, from SRC
to DST, and tag it at DST once everything under the tag is there.

SRC and DST are image references:
  [docker://][HOST[:PORT]/]REPO[:TAG][@DIGEST] a registry repository; without
                                               HOST, a Docker Hub name, read as
                                               docker reads it (busybox:1.36 is
                                               docker.io/library/busybox:1.36)
  oci:DIR:REPO[:TAG][@DIGEST]                  a repository of an OCI image layout
                                               directory (gantry's own store)

Blobs DST already has are not moved, a blob several images share is moved
once, and every byte is checked against its digest: a copy that fails leaves
DST untagged and holding only complete, verified content.

DST's tag: the tag DST names; if DST names none, SRC's tag is kept (copying
host/app:v1 to oci:dir:app writes app:v1, not app:latest). DST must name a
tag when SRC has none; DST may add @DIGEST after its tag to check what gets
copied.

With --platform, only the matching image of an index is copied; the index
itself is copied unchanged (its digest, which users pin, stays valid), so
DST holds a sparse index.

On a terminal, progress shows a bar per blob in flight and a total; otherwise
blobs are logged at debug level (--log-level debug). The copied reference,
with its digest, is printed to stdout (--format json: a JSON summary).`,
		Example: `  # Mirror a multi-platform image from a registry into an OCI layout
  gantry copy registry.example.com/library/alpine:3.20 oci:./images:library/alpine

  # Only linux/arm64, into another registry over plain HTTP
  gantry copy --platform linux/arm64 --insecure \
      registry.example.com/app:v1 localhost:5000/app:v1

  # Pin by digest, tag at the destination
  gantry copy oci:./images:app@sha256:4f53... docker://localhost:5000/app:stable

  # Retag inside one layout (no byte is copied)
  gantry copy oci:./images:app:v1 oci:./images:app:stable`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("copy takes SRC and DST, got %s: see gantry copy --help", plural(len(args), "argument"))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCopy(cmd.Context(), e, f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	addPlatformFlag(fl, &f.platform, platformFilter)
	addTransferConcurrencyFlag(fl, &f.concurrency)
	addRegistryFlags(fl, &f.access)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors and the copied reference")
	f.format = addFormatFlags(cmd)
	return cmd
}

// copyPlan is what the command line asks for, checked before any I/O.
type copyPlan struct {
	srcRef oci.ImageRef
	dstRef oci.ImageRef // its Tag is the tag to write
	opts   copy.Options
}

// parseCopyArgs checks the references and flags before any I/O. Flag
// errors are usage errors (exit 2); reference errors are plain errors (exit
// 1), like every other problem with what to copy.
func parseCopyArgs(f copyFlags, srcArg, dstArg string) (copyPlan, error) {
	var p copyPlan
	if err := concurrencyFlag(f.concurrency); err != nil {
		return p, err
	}
	p.opts.Concurrency = f.concurrency
	var err error
	if p.opts.Platform, err = platformFlag(f.platform); err != nil {
		return p, err
	}
	if p.srcRef, err = parseRef("SRC", srcArg); err != nil {
		return p, err
	}
	if p.dstRef, err = parseRef("DST", dstArg); err != nil {
		return p, err
	}
	if p.dstRef.Tag == "" {
		return p, fmt.Errorf("DST %q names only a digest, but a copy writes a tag: write DST as REPO:TAG (or REPO:TAG@DIGEST to check what is copied)", dstArg)
	}
	if !hasExplicitTag(dstArg, p.dstRef) {
		p.dstRef.Tag = p.srcRef.Tag
	}
	if p.dstRef.Tag == "" {
		return p, fmt.Errorf("DST %q names no tag and SRC %q has none to keep: write DST as ...:TAG", dstArg, srcArg)
	}
	if sameStore(p.srcRef, p.dstRef) && p.srcRef.Repository != p.dstRef.Repository {
		p.opts.MountFrom = p.srcRef.Repository
	}
	return p, nil
}

func parseRef(which, s string) (oci.ImageRef, error) {
	if ref, ok, err := parseArchiveRef(which, s); ok {
		return ref, err
	}
	ref, err := oci.ParseImageRef(s)
	if err != nil {
		return oci.ImageRef{}, fmt.Errorf("%s: %w", which, err)
	}
	return ref, nil
}

// hasExplicitTag reports whether the reference string s wrote its tag, as
// ParseImageRef fills in "latest" when it did not.
func hasExplicitTag(s string, ref oci.ImageRef) bool {
	if ref.Tag == "" {
		return false
	}
	name, _, _ := strings.Cut(s, "@")
	return strings.HasSuffix(name, ":"+ref.Tag)
}

// sameStore reports whether two references are in one store, where blobs
// can be mounted rather than moved.
func sameStore(a, b oci.ImageRef) bool {
	if a.Transport != b.Transport {
		return false
	}
	if a.Transport == oci.TransportLayout {
		return a.Dir == b.Dir
	}
	return a.Registry == b.Registry
}

func runCopy(ctx context.Context, e *env, f copyFlags, srcArg, dstArg string) (err error) {
	plan, err := parseCopyArgs(f, srcArg, dstArg)
	if err != nil {
		return err
	}
	locs := &locations{access: f.access}
	defer func() {
		if cerr := locs.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// The errors of the stores name the reference: add only which side.
	src, err := locs.source(ctx, plan.srcRef)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	root, err := src.Resolve(ctx, plan.srcRef.Reference())
	if err != nil {
		return resolveError(ctx, plan.srcRef, src, err)
	}
	if plan.dstRef.Digest != "" && plan.dstRef.Digest != root.Digest {
		return fmt.Errorf("DST %s: SRC %s is %s, not the digest DST names: nothing copied", plan.dstRef, plan.srcRef, root.Digest)
	}
	// Opened only now: a copy whose source fails creates no destination
	// store.
	dst, err := locs.destination(ctx, plan.dstRef)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}

	rep := newReporter(e, f.quiet || f.format.json())
	plan.opts.Progress = rep.event
	start := time.Now()
	root, err = copy.Copy(ctx, src, root.Digest.String(), dst, plan.dstRef.Tag, plan.opts)
	rep.finish(err == nil)
	if err != nil {
		return copyError(plan, err)
	}
	// The destination's index.json is written on close: close before
	// printing, so the printed reference is readable by other tools.
	if err := locs.Close(); err != nil {
		return fmt.Errorf("destination %s: %w", plan.dstRef, err)
	}
	out := plan.dstRef
	out.Digest = root.Digest
	if f.format.json() {
		return writeJSON(e.stdout, copySummary{Source: plan.srcRef.String(), Destination: out.String(), Digest: root.Digest.String(),
			Copied: rep.copied, Skipped: rep.skipped, Bytes: rep.bytes, Seconds: time.Since(start).Seconds()})
	}
	if _, err := fmt.Fprintln(e.stdout, out.String()); err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintln(e.stderr, rep.summary(time.Since(start)))
	}
	return nil
}

// copySummary is the json output of copy.
type copySummary struct {
	Source      string  `json:"source"`
	Destination string  `json:"destination"` // with the digest copied
	Digest      string  `json:"digest"`
	Copied      int     `json:"blobsCopied"`
	Skipped     int     `json:"blobsSkipped"`
	Bytes       int64   `json:"bytesCopied"`
	Seconds     float64 `json:"seconds"`
}

// resolveError explains a source reference that does not resolve, listing
// a few of the tags the repository does have when it can.
func resolveError(ctx context.Context, ref oci.ImageRef, src cas.ReadOnlyTarget, err error) error {
	if !errors.Is(err, cas.ErrNotFound) {
		return fmt.Errorf("source: %w", err) // the store's error names ref
	}
	what := "tag"
	if ref.Digest != "" {
		what = "digest"
	}
	hint := "check the reference"
	if tl, ok := src.(cas.TagLister); ok {
		var tags []string
		errStop := errors.New("enough")
		_ = tl.Tags(ctx, "", func(page []string) error {
			tags = append(tags, page...)
			if len(tags) >= 10 {
				return errStop
			}
			return nil
		})
		switch {
		case len(tags) == 0:
			hint = "the repository has no tags"
		case len(tags) > 10:
			hint = "tags there include " + strings.Join(tags[:10], ", ")
		default:
			hint = "tags there: " + strings.Join(tags, ", ")
		}
	}
	// The store's own message repeats the reference: keep only its meaning.
	return fmt.Errorf("source %s: %s not found (%s): %w", ref, what, hint, cas.ErrNotFound)
}

// copyError turns an engine error into one line that says what to do.
func copyError(plan copyPlan, err error) error {
	var hint string
	switch {
	case errors.Is(err, context.Canceled):
		hint = "run the same command again to resume: what was copied is kept"
	case errors.Is(err, cas.ErrDigestMismatch), errors.Is(err, cas.ErrSizeMismatch):
		hint = "the source served content that does not match its digest; nothing was tagged at the destination: repair the source or copy from another one"
	case errors.Is(err, cas.ErrNotFound):
		hint = "the source lacks content its manifests refer to; nothing was tagged at the destination: push the image to the source again, or copy from another source"
	case errors.Is(err, cas.ErrInvalid):
		hint = "the source holds a malformed manifest; nothing was tagged at the destination"
	default:
		hint = "nothing was tagged at the destination; run the same command again to resume"
	}
	return fmt.Errorf("copy %s to %s: %w (%s)", plan.srcRef, plan.dstRef, err, hint)
}
