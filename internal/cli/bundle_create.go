package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

type bundleCreateFlags struct {
	out         string
	platform    string
	have        string
	since       []string
	split       string
	concurrency int
	access      registryFlags
	quiet       bool
	format      *outputFormat
	noReferrers bool
	signKey     string
}

func newBundleCreateCmd(e *env) *cobra.Command {
	var f bundleCreateFlags
	var srcs bundleSources
	cmd := &cobra.Command{
		Use:   "create -o FILE [IMAGE...] [-f LIST] [--from PATH]",
		Short: "Write images into one deduplicated, verifiable bundle file",
		Long: `Write images into a bundle: a tar holding an OCI image layout in which every
blob is stored once, whatever the number of images that share it, plus
gantry-bundle.json describing contents, sizes, volumes and base.

IMAGE is a reference as gantry copy reads it, or a docker save tarball:
  [docker://][HOST[:PORT]/]REPO[:TAG][@DIGEST] recorded as HOST/REPO:TAG
                                               (nginx is docker.io/library/nginx:latest)
  oci:DIR:REPO[:TAG][@DIGEST]                  recorded as REPO:TAG
  docker-archive:FILE[:IMAGE]                  every tagged image of FILE
-f LIST and --from PATH add the images a list file, Kubernetes manifests,
Helm-rendered YAML or compose files name.

--platform keeps one platform of multi-platform images; the index is kept
as it is (sparse), so digests users pinned stay valid.

Incremental bundles leave out the layers the site already has: --have takes
the file "gantry inventory" wrote at the site, --since an older bundle the
site has loaded (all its volumes, or volume 1 alone). Manifests and configs
are always included.

--split SIZE writes volumes of at most SIZE bytes, split on blob boundaries:
FILE is volume 1, then FILE.002.tar, FILE.003.tar... (for FILE.tar). Each
volume is a valid OCI archive of its own. Images are packed largest first
into the first volume with room, an image (with those sharing its layers)
whole in one volume when it fits, so small images fill earlier volumes. A
blob larger than SIZE gets a volume of its own, with a warning naming it and
its size. Sizes: 4GiB (powers of 1024), 700MB or 4G (powers of 1000).

Every referrer of each image is carried along (signatures, SBOMs,
attestations): those the source's referrers API lists, those under cosign's
tags (sha256-HEX.sig, .att, .sbom), and their own referrers; bundle push and
load restore them, so "cosign verify" and "oras discover" work at the site.
--no-referrers leaves them out. --sign-key KEY signs the bundle itself
(a cosign key, its password in COSIGN_PASSWORD, or a PEM PKCS #8 key);
"bundle verify --key" checks that signature before anything else.

All manifests are read before anything is written; the bundle is written to
a temporary file and renamed at the end, so a failed run leaves no FILE.
The files written are printed to stdout; --json prints a summary instead.`,
		Example: `  # Three images from a registry into one file
  gantry bundle create -o release-1.4.tar \
      registry.example.com/team/api:1.4 registry.example.com/team/web:1.4 \
      registry.example.com/base/nginx:1.27

  # Only linux/arm64, in volumes that fit on DVDs
  gantry bundle create -o edge.tar --platform linux/arm64 --split 4GiB \
      registry.example.com/team/api:1.4

  # Only what the site lacks, from its inventory or from the last bundle
  gantry bundle create -o delta.tar --have site-have.json registry.example.com/team/api:1.5
  gantry bundle create -o delta.tar --since release-1.4.tar registry.example.com/team/api:1.5

  # Signed with the key that signed the images, checked at the site
  COSIGN_PASSWORD=... gantry bundle create -o release.tar --sign-key cosign.key \
      registry.example.com/team/api:1.4
  gantry bundle verify --key cosign.pub --require-signature release.tar

  # From an OCI layout
  gantry bundle create -o app.tar oci:./images:team/api:1.4`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBundleCreate(cmd.Context(), e, f, &srcs, args)
		},
	}
	fl := cmd.Flags()
	srcs.addFlags(fl)
	fl.StringVarP(&f.out, "output", "o", "", "bundle file to write (volume 1 with --split)")
	addPlatformFlag(fl, &f.platform, platformFilter)
	fl.StringVar(&f.have, "have", "", "inventory of the target site (gantry inventory): leave out the layers it has")
	fl.StringSliceVar(&f.since, "since", nil, "bundle (its volumes) the site already has: leave out the layers it holds")
	fl.StringVar(&f.split, "split", "", "write volumes of at most this size, e.g. 4GiB or 700MB (default: one file)")
	addTransferConcurrencyFlag(fl, &f.concurrency)
	addRegistryFlags(fl, &f.access)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors and the files written")
	f.format = addFormatFlags(cmd)
	fl.BoolVar(&f.noReferrers, "no-referrers", false, "leave out the images' referrers (signatures, SBOMs, attestations)")
	fl.StringVar(&f.signKey, "sign-key", "", "sign the bundle with this private key (cosign.key, password in COSIGN_PASSWORD; or PEM PKCS #8)")
	return cmd
}

// bundleCreatePlan is the command line checked before any I/O.
type bundleCreatePlan struct {
	out  string
	opts bundle.CreateOptions
}

func parseBundleCreateFlags(f bundleCreateFlags) (bundleCreatePlan, error) {
	var p bundleCreatePlan
	if f.out == "" {
		return p, usageError{fmt.Errorf("bundle create: -o FILE is required")}
	}
	p.out = f.out
	if err := concurrencyFlag(f.concurrency); err != nil {
		return p, err
	}
	p.opts.Concurrency = f.concurrency
	var err error
	if p.opts.Platform, err = platformFlag(f.platform); err != nil {
		return p, err
	}
	if f.split != "" {
		n, err := parseSize(f.split)
		if err != nil {
			return p, usageError{fmt.Errorf("--split: %w", err)}
		}
		if n == 0 {
			return p, usageError{fmt.Errorf("--split 0: give a size, or leave --split out for one file")}
		}
		p.opts.Split = n
	}
	if f.have != "" && len(f.since) > 0 {
		return p, usageError{fmt.Errorf("--have and --since both give the site's content: use one")}
	}
	p.opts.NoReferrers = f.noReferrers
	if f.signKey != "" {
		if p.opts.SignKey, err = trust.LoadPrivateKey(f.signKey, signKeyPassword()); err != nil {
			return p, usageError{fmt.Errorf("--sign-key: %w", err)}
		}
	}
	return p, nil
}

func runBundleCreate(ctx context.Context, e *env, f bundleCreateFlags, srcs *bundleSources, args []string) (err error) {
	plan, err := parseBundleCreateFlags(f)
	if err != nil {
		return err
	}
	switch {
	case f.have != "":
		if plan.opts.Have, err = bundle.ReadInventory(f.have); err != nil {
			return fmt.Errorf("--have: %w", err)
		}
	case len(f.since) > 0:
		old, err := bundle.Open(f.since...)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		plan.opts.Have = bundle.InventoryOf(old)
		m := old.Manifest()
		plan.opts.BaseName = m.Volumes[0].Name + " (" + m.ID.String() + ")"
		old.Close()
	}
	locs := &locations{access: f.access}
	defer func() {
		if cerr := locs.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	images, err := srcs.images(ctx, e, locs, args)
	if err != nil {
		return err
	}
	rep := newReporter(e, f.quiet || f.format.json())
	plan.opts.Progress = rep.event
	plan.opts.Log = e.log
	plan.opts.Tool = "gantry/" + Version
	res, err := bundle.Create(ctx, plan.out, images, plan.opts)
	rep.finish(err == nil)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, createHint(err))
	}
	if f.format.json() {
		return writeJSON(e.stdout, bundleCreateSummary(res))
	}
	for _, file := range res.Files {
		if _, err := fmt.Fprintln(e.stdout, file); err != nil {
			return err
		}
	}
	if !f.quiet {
		m := res.Manifest
		n := referrers(m.Images)
		what := plural(len(m.Images)-n, "image")
		if n > 0 {
			what += " and " + plural(n, "referrer")
		}
		s := fmt.Sprintf("bundled %s: %s (%s) in %s of %s in total",
			what, plural(len(m.Blobs), "blob"), formatBytes(res.BlobBytes), plural(len(res.Files), "file"), formatBytes(res.Size))
		if m.Base != nil {
			s += fmt.Sprintf("; left out %s (%s) the site has", plural(m.Base.Blobs, "blob"), formatBytes(m.Base.Bytes))
		}
		if m.Signature != nil {
			s += "; signed by key " + m.Signature.KeyID
		}
		s += fmt.Sprintf(" in %s (%s)", res.Duration.Round(time.Millisecond), formatRate(res.BlobBytes, res.Duration))
		fmt.Fprintln(e.stderr, s)
		for _, line := range oversizeWarnings(res, f.split, plan.opts.Split) {
			fmt.Fprintln(e.stderr, line)
		}
	}
	return nil
}

// oversizeWarnings names each blob larger than the volume size, with its
// size, the images that need it and the volume that holds it alone.
func oversizeWarnings(res *bundle.CreateReport, split string, limit int64) []string {
	m := res.Manifest
	var out []string
	for _, d := range res.Oversize {
		i, ok := slices.BinarySearchFunc(m.Blobs, d, func(b bundle.BlobEntry, d digest.Digest) int { return strings.Compare(string(b.Digest), string(d)) })
		if !ok {
			continue
		}
		b := m.Blobs[i]
		var imgs []string
		for _, img := range m.Images {
			if slices.Contains(img.Blobs, d) {
				imgs = append(imgs, img.Name)
			}
		}
		out = append(out, fmt.Sprintf("warning: blob %s (%s, needed by %s) is larger than --split %s (%s): volume %s holds it alone, over the split size",
			d, formatBytes(b.Size), strings.Join(imgs, ", "), split, formatBytes(limit), m.Volumes[b.Volume-1].Name))
	}
	return out
}

// createHint says what to do about a failed create.
func createHint(err error) string {
	var pe *oci.PlatformError
	switch {
	case errors.As(err, &pe):
		return "choose a platform the image has, or leave --platform out; nothing was written"
	case strings.Contains(err.Error(), "too small"):
		return "give a larger --split; nothing was written"
	}
	return "nothing was written; run the same command again once the cause is fixed"
}

// bundleCreateJSON is the --json summary of bundle create.
type bundleCreateJSON struct {
	Files     []string             `json:"files"`
	ID        string               `json:"id"`
	Size      int64                `json:"size"`
	BlobBytes int64                `json:"blobBytes"`
	Blobs     int                  `json:"blobs"`
	Images    []bundle.ImageEntry  `json:"images"`
	Volumes   []bundle.VolumeEntry `json:"volumes"`
	Base      *bundleBaseSummary   `json:"base,omitempty"`
	Oversize  []string             `json:"oversize,omitempty"`
	Seconds   float64              `json:"seconds"`
}

type bundleBaseSummary struct {
	Inventory string `json:"inventory,omitempty"`
	Bundle    string `json:"bundle,omitempty"`
	Blobs     int    `json:"blobs"`
	Bytes     int64  `json:"bytes"`
}

func bundleCreateSummary(r *bundle.CreateReport) bundleCreateJSON {
	m := r.Manifest
	s := bundleCreateJSON{Files: r.Files, ID: m.ID.String(), Size: r.Size, BlobBytes: r.BlobBytes, Blobs: len(m.Blobs),
		Images: m.Images, Volumes: m.Volumes, Seconds: r.Duration.Seconds()}
	if b := m.Base; b != nil {
		s.Base = &bundleBaseSummary{Inventory: b.Inventory.String(), Bundle: b.Bundle, Blobs: b.Blobs, Bytes: b.Bytes}
	}
	for _, d := range r.Oversize {
		s.Oversize = append(s.Oversize, d.String())
	}
	return s
}

// referrers counts the referrers among a bundle's images.
func referrers(images []bundle.ImageEntry) int {
	n := 0
	for _, img := range images {
		if img.IsReferrer() {
			n++
		}
	}
	return n
}
