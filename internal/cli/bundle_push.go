package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// bundleImportFlags are the flags bundle push and bundle load share.
type bundleImportFlags struct {
	concurrency int
	quiet       bool
	format      *outputFormat
	keepHost    bool
	trust       bundleTrustFlags
}

func (f *bundleImportFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	addTransferConcurrencyFlag(fl, &f.concurrency)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors and the images written")
	f.format = addFormatFlags(cmd)
	fl.BoolVar(&f.keepHost, "keep-registry-host", false, keepHostUsage)
	f.trust.add(fl)
}

// keepHostUsage describes --keep-registry-host, for bundle load, bundle
// push and serve --bundle.
const keepHostUsage = "keep each image's source registry host as the first component of its repository (registry.local:5000/apps/api is registry.local_5000/apps/api; default: apps/api)"

const bundleImportRules = `Before writing anything, every blob of the bundle is re-hashed, and for an
incremental bundle every blob it leaves out is looked for at the target: a
truncated or damaged bundle, or a delta whose base the target lacks, is
refused with the digests and images concerned, and the target is left
untouched. Images whose blobs are in volumes not given are refused by name;
the others are written.

Each image goes through the copy engine: blobs the target has are skipped,
every byte is checked against its digest, and an image's tag is written
only once everything under it is in. An interrupted run leaves no
half-visible image: run the same command again, and only what is missing
moves.

Repositories at the site: an image keeps its repository path without the
source registry's host (registry.local:5000/apps/api:v1 is apps/api:v1, as
a registry mirror is asked for it); with --keep-registry-host the host is
kept as the first path component, its port after "_"
(registry.local_5000/apps/api:v1). Two source repositories that would
meet in one site repository are refused before anything is written.

A referrer the bundle carries (a signature, SBOM or attestation) is written
next to its image, under its cosign tag (sha256-HEX.sig) if it had one, so
"cosign verify" and "oras discover" find it at the target.

` + bundleTrustRules + `

An image bundled with --platform is an index kept as it is, holding only
the chosen platform's manifests: a target registry must accept such sparse
indexes (gantry serve --allow-sparse does; gantry's store always does).`

func newBundlePushCmd(e *env) *cobra.Command {
	var f bundleImportFlags
	var to string
	var reg registryFlags
	cmd := &cobra.Command{
		Use:   "push FILE... --to REGISTRY[/PREFIX]",
		Short: "Push the images of a bundle to a registry",
		Long: `push writes every image of a bundle (one file, or the volumes of a split
bundle, in any order) to a registry, under the same repository path below
PREFIX: registry.example.com/team/app:1.4 pushed --to site.local:5000/mirror
becomes site.local:5000/mirror/team/app:1.4, digest unchanged.

` + bundleImportRules,
		Example: `  # into the site's registry, keeping repository paths
  gantry bundle push fleet.tar --to registry.site.local

  # every volume of a split bundle, under a prefix, over plain HTTP
  gantry bundle push fleet.tar fleet.002.tar --to 10.0.0.5:5000/mirror --insecure`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("push takes the bundle's FILE(s): see gantry bundle push --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("--to REGISTRY[/PREFIX] is required")}
			}
			host, prefix, _ := strings.Cut(strings.TrimPrefix(to, "docker://"), "/")
			prefix = strings.Trim(prefix, "/")
			if prefix != "" {
				if err := oci.ValidateRepository(prefix); err != nil {
					return usageError{fmt.Errorf("--to %s: prefix: %w", to, err)}
				}
			}
			reg, err := remote.New(host, reg.options())
			if err != nil {
				return usageError{fmt.Errorf("--to %s: %w", to, err)}
			}
			show := func(repo string) string { return host + "/" + repo }
			open := func() (cas.Store, error) { return reg, nil }
			return runBundleImport(cmd.Context(), e, f, args, reg, open, host, prefix, show)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the registry, and optionally a repository prefix: HOST[:PORT][/PREFIX]")
	addRegistryFlags(cmd.Flags(), &reg)
	return cmd
}

func newBundleLoadCmd(e *env) *cobra.Command {
	var f bundleImportFlags
	var root string
	cmd := &cobra.Command{
		Use:   "load FILE... [--root DIR]",
		Short: "Load the images of a bundle into gantry's store",
		Long: `load writes every image of a bundle (one file, or the volumes of a split
bundle, in any order) into gantry's embedded store, from which gantry serve
serves it: registry.example.com/team/app:1.4 is team/app:1.4 in the store
(see the repository rule below).

` + bundleImportRules,
		Example: `  gantry bundle load fleet.tar fleet.002.tar --root /srv/gantry`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("load takes the bundle's FILE(s): see gantry bundle load --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if root == "" {
				return usageError{errors.New("no store directory: give --root DIR or set GANTRY_ROOT")}
			}
			// The store is created only once the bundle is verified: a
			// refused bundle leaves no new --root. A store not made yet
			// holds nothing, which is what an empty memory store says to
			// the verification.
			var store *disk.Store
			defer func() {
				// Close writes index.json, which other OCI tools read.
				if store == nil {
					return
				}
				if cerr := store.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("close store %s: %w", root, cerr)
				}
			}()
			open := func() (cas.Store, error) {
				if store == nil {
					s, err := disk.Open(root, disk.Options{Logger: e.log})
					if err != nil {
						return nil, err
					}
					store = s
				}
				return store, nil
			}
			var verifyAt cas.Store = memory.New()
			if requireStore(root) == nil {
				if verifyAt, err = open(); err != nil {
					return err
				}
			}
			show := func(repo string) string { return "oci:" + root + ":" + repo }
			return runBundleImport(cmd.Context(), e, f, args, verifyAt, open, "oci:"+root, "", show)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&root, "root", defaultRoot(), "store directory (env GANTRY_ROOT)")
	return cmd
}

// bundleImportSummary is the --json output of bundle push and load.
type bundleImportSummary struct {
	Target   string           `json:"target"`
	Images   []importedImage  `json:"images"`
	Refused  []refusedImage   `json:"refused,omitempty"`
	Problems []bundle.Problem `json:"problems,omitempty"`
	Copied   int              `json:"blobsCopied"`
	Skipped  int              `json:"blobsSkipped"`
	Bytes    int64            `json:"bytesCopied"`
	Seconds  float64          `json:"seconds"`
}

// importedImage is an image written to the target.
type importedImage struct {
	Name   string        `json:"name"`
	Target string        `json:"target"`
	Digest digest.Digest `json:"digest"`
}

// refusedImage is an image not written, and why.
type refusedImage struct {
	Name    string          `json:"name"`
	Missing []digest.Digest `json:"missing,omitempty"`
	Reason  string          `json:"reason"`
}

// fatalProblem reports whether a problem refuses the whole bundle: damage
// means the copy at hand is bad, and a base the target lacks means the
// delta was made for another site. A volume not given costs only its
// images.
func fatalProblem(p bundle.Problem) bool {
	switch p.Kind {
	case bundle.ProblemMissingVolume, bundle.ProblemIncomplete:
		return false
	}
	return true
}

// runBundleImport verifies the bundle files against verifyAt (what the
// target holds), then copies every complete image into its site repository
// (Reader.SiteRepositories) below prefix ("" for none), in the store open
// returns, called only then. show prints a repository of the target for
// the user.
func runBundleImport(ctx context.Context, e *env, f bundleImportFlags, files []string, verifyAt cas.Store, open func() (cas.Store, error), target string,
	prefix string, show func(repo string) string) error {
	if err := concurrencyFlag(f.concurrency); err != nil {
		return err
	}
	start := time.Now()
	sum := bundleImportSummary{Target: target, Images: []importedImage{}}
	emit := func(err error) error {
		if f.format.json() {
			sum.Seconds = time.Since(start).Seconds()
			b, jerr := json.MarshalIndent(sum, "", "  ")
			if jerr != nil {
				return jerr
			}
			if _, werr := fmt.Fprintf(e.stdout, "%s\n", b); werr != nil && err == nil {
				return werr
			}
		}
		return err
	}

	r, err := bundle.Open(files...)
	if err != nil {
		return emit(err)
	}
	defer r.Close()
	site, err := r.SiteRepositories(f.keepHost)
	if err != nil {
		return emit(fmt.Errorf("%s refused, nothing written to %s: %w", strings.Join(files, ", "), target, err))
	}
	repoFor := func(img bundle.ImageEntry) string {
		if prefix != "" {
			return prefix + "/" + site[img.Repository()]
		}
		return site[img.Repository()]
	}
	if !f.quiet && !f.format.json() {
		fmt.Fprintf(e.stderr, "verifying %s against %s\n", strings.Join(files, ", "), target)
	}
	srep, err := f.trust.verify(ctx, r)
	if err != nil {
		return emit(err)
	}
	if srep != nil && !srep.OK() {
		sum.Problems = srep.Problems
		return emit(problemsError(target, srep.Problems))
	}
	vr, err := r.VerifyAgainst(ctx, verifyAt, repoFor)
	if err != nil {
		return emit(fmt.Errorf("verify %s: %w", strings.Join(files, ", "), err))
	}
	var fatal []bundle.Problem
	for _, p := range vr.Problems {
		if fatalProblem(p) {
			fatal = append(fatal, p)
		}
	}
	if len(fatal) > 0 {
		sum.Problems = fatal
		return emit(problemsError(target, fatal))
	}

	status := map[string]bundle.ImageStatus{}
	for _, st := range vr.Images {
		status[st.Name] = st
	}
	var missingVols []string
	volFor := map[string][]string{} // image -> volumes it lacks
	for _, mv := range r.Missing() {
		missingVols = append(missingVols, mv.Volume.Name)
		for _, img := range mv.Images {
			volFor[img] = append(volFor[img], mv.Volume.Name)
		}
	}

	rep := newReporter(e, f.quiet || f.format.json())
	// Registries keep blobs per repository: a layer shared by images of
	// several repositories is uploaded to the first and mounted into the
	// others, from where it is known to be (this run's copies, or what was
	// already there).
	var mu sync.Mutex
	blobRepo := maps.Clone(vr.MountFrom) // left-out blobs the target holds elsewhere
	if blobRepo == nil {
		blobRepo = map[digest.Digest]string{}
	}
	curRepo := ""
	opts := copy.Options{
		Concurrency: f.concurrency,
		Progress: func(ev copy.Event) {
			switch ev.Kind {
			case copy.EventDone, copy.EventSkip, copy.EventMount:
				mu.Lock()
				if _, ok := blobRepo[ev.Desc.Digest]; !ok {
					blobRepo[ev.Desc.Digest] = curRepo
				}
				mu.Unlock()
			}
			rep.event(ev)
		},
		MountSource: func(d ocispec.Descriptor) string {
			mu.Lock()
			defer mu.Unlock()
			if from := blobRepo[d.Digest]; from != curRepo {
				return from
			}
			return ""
		},
	}
	var copyErr error
	var dst cas.Store
	for _, img := range r.Images() {
		if st, ok := status[img.Name]; ok && !st.Complete {
			reason := "blobs missing from the bundle"
			if v := volFor[img.Name]; len(v) > 0 {
				reason = "needs volume " + strings.Join(v, ", ") + ", not given"
			}
			sum.Refused = append(sum.Refused, refusedImage{Name: img.Name, Missing: st.Missing, Reason: reason})
			continue
		}
		src, err := r.Repository(ctx, img.Repository())
		if err != nil {
			copyErr = fmt.Errorf("%s: %w", img.Name, err)
			break
		}
		if dst == nil {
			if dst, err = open(); err != nil {
				copyErr = fmt.Errorf("target %s: %w", target, err)
				break
			}
		}
		repo := repoFor(img)
		mu.Lock()
		curRepo = repo
		mu.Unlock()
		dr, err := dst.Repository(ctx, repo)
		if err != nil {
			copyErr = fmt.Errorf("%s: target repository %s: %w", img.Name, repo, err)
			break
		}
		o := opts
		if img.Platform != "" {
			// The bundle holds the platform's manifests only: walk those.
			p, err := oci.ParsePlatform(img.Platform)
			if err != nil {
				copyErr = fmt.Errorf("%s: %w", img.Name, err)
				break
			}
			o.Platform = &p
		}
		root, err := copy.Copy(ctx, src, img.Digest.String(), dr, img.Tag(), o)
		if err != nil {
			copyErr = fmt.Errorf("%s to %s: %w", img.Name, show(repo), err)
			break
		}
		shown := show(repo)
		if t := img.Tag(); t != "" {
			shown += ":" + t
		}
		shown += "@" + root.Digest.String()
		sum.Images = append(sum.Images, importedImage{Name: img.Name, Target: shown, Digest: root.Digest})
		if !f.format.json() {
			fmt.Fprintln(e.stdout, shown)
		}
	}
	rep.finish(copyErr == nil)
	sum.Copied, sum.Skipped, sum.Bytes = rep.copied, rep.skipped, rep.bytes
	if copyErr != nil {
		hint := "images written before it are complete and tagged; run the same command again to resume: what is in is skipped"
		if errors.Is(copyErr, cas.ErrDigestMismatch) || errors.Is(copyErr, cas.ErrSizeMismatch) {
			hint = "the bundle changed or was damaged while being read; check it with gantry bundle verify"
		}
		return emit(fmt.Errorf("%w (%s)", copyErr, hint))
	}
	if !f.quiet && !f.format.json() {
		fmt.Fprintln(e.stderr, rep.summary(time.Since(start)))
	}
	if len(sum.Refused) > 0 {
		var names []string
		for _, ri := range sum.Refused {
			names = append(names, ri.Name+" ("+ri.Reason+")")
		}
		what := "the images complete in the files given were written"
		if len(missingVols) > 0 {
			what += "; give the missing " + strings.TrimPrefix(plural(len(missingVols), "volume"), "1 ") + " " + strings.Join(missingVols, ", ") + " and run again for the rest"
		}
		return emit(fmt.Errorf("%d of %s refused: %s; %s", len(sum.Refused), plural(len(r.Images()), "image"), strings.Join(names, "; "), what))
	}
	return emit(nil)
}

// problemsError says why a bundle was refused, on one line: the first
// problem found, with its digest, and how many more there are. A truncated
// bundle of thousands of blobs has thousands of problems, which bundle
// verify lists one per line.
func problemsError(target string, problems []bundle.Problem) error {
	seen := map[string]bool{}
	var lines []string
	absent, trusted := false, false
	for _, p := range problems {
		if s := p.String(); !seen[s] {
			seen[s] = true
			lines = append(lines, s)
		}
		absent = absent || p.Kind == bundle.ProblemAbsentAtTarget
		switch p.Kind {
		case bundle.ProblemBundleSignature, bundle.ProblemBadSignature, bundle.ProblemUnsigned:
			trusted = true
		}
	}
	more := ""
	if n := len(lines) - 1; n > 0 {
		more = " (and " + plural(n, "more problem") + ")"
	}
	// The problem names its volume, when it has one: the files are not
	// named again. A blob absent at the target says itself what to do.
	if absent {
		return fmt.Errorf("bundle refused, nothing written to %s: %s%s", target, lines[0], more)
	}
	if trusted {
		return fmt.Errorf("bundle refused, nothing written to %s: %s%s; the signatures do not vouch for it: check the key, or get the bundle from its maker again (gantry bundle verify --key lists every problem)", target, lines[0], more)
	}
	return fmt.Errorf("bundle refused, nothing written to %s: %s%s; the bundle is damaged: get a good copy (gantry bundle verify checks one and lists every problem)", target, lines[0], more)
}
