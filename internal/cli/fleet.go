package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/fleet"
	imagecheck "github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type fleetFlags struct {
	registry  string
	format    *outputFormat
	html      string
	platform  string
	access    registryFlags
	maxImages int
}

func newFleetCmd(e *env) *cobra.Command {
	var f fleetFlags
	cmd := &cobra.Command{
		Use:   "fleet IMAGE... | --registry HOST[/PREFIX]",
		Short: "Analyze layer sharing across images: shared and unique bytes, base families, rebases that save bytes per node",
		Long: `Read the manifests and configs of a set of images (no layer is downloaded)
and report:

  - the bytes pulled one image at a time, and what one node running all of
    them pulls (each distinct layer once), split into shared and unique;
  - the tree of shared layer prefixes: which images share a base and how far;
  - base families: images whose bases are rebuilds of one base (same base
    annotation, or the same first-layer recipe with digests and dates taken
    out), and for each family on several bases the bytes per node saved by
    moving them all to the base most of them use.

IMAGE is [HOST/]REPO:TAG (without HOST, Docker Hub) or oci:DIR:REPO:TAG; --registry lists every tag of
every repository of a registry (under PREFIX).`,
		Example: `  gantry fleet reg.example.com/a:v1 reg.example.com/b:v3
  gantry fleet --registry reg.example.com/team --html fleet.html`,
		Args: func(_ *cobra.Command, args []string) error {
			if (len(args) == 0) == (f.registry == "") {
				return usageError{errors.New("fleet takes IMAGEs or --registry HOST[/PREFIX], one or the other")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFleet(cmd.Context(), e, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.registry, "registry", "", "analyze every tagged image of this registry, HOST[/PREFIX]")
	fl.StringVar(&f.html, "html", "", "also write a self-contained HTML report with an SVG of the layer-sharing tree to this file")
	addPlatformFlag(fl, &f.platform, platformAnalyze)
	addRegistryFlags(fl, &f.access)
	fl.IntVar(&f.maxImages, "max-images", 1000, "with --registry, stop after this many images")
	f.format = addFormatFlags(cmd)
	return cmd
}

func runFleet(ctx context.Context, e *env, f fleetFlags, args []string) (err error) {
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	locs := &locations{access: f.access}
	defer func() {
		if cerr := locs.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	var images []fleet.Image
	if f.registry != "" {
		if images, err = registryImages(ctx, f, platform); err != nil {
			return err
		}
	}
	for _, a := range args {
		ref, err := parseRef("IMAGE", a)
		if err != nil {
			return err
		}
		// The stores' errors name the layout or the reference.
		src, err := locs.source(ctx, ref)
		if err != nil {
			return err
		}
		l, err := imagecheck.Load(ctx, src, ref.Reference(), platform)
		if err != nil {
			return err
		}
		images = append(images, fleet.Image{Name: a, Loaded: l})
	}
	if len(images) == 0 {
		return errors.New("no images found")
	}
	rep := fleet.Analyze(images)
	if f.html != "" {
		if err := writeFile(f.html, func(w *os.File) error { return fleet.WriteHTML(w, rep) }); err != nil {
			return err
		}
	}
	if f.format.json() {
		return fleet.WriteJSON(e.stdout, rep)
	}
	return fleet.WriteText(e.stdout, rep)
}

func writeFile(name string, fn func(*os.File) error) error {
	w, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := fn(w); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return w.Close()
}

// registryImages lists every tag of every repository under HOST[/PREFIX].
func registryImages(ctx context.Context, f fleetFlags, platform *ocispec.Platform) ([]fleet.Image, error) {
	host, prefix, _ := strings.Cut(f.registry, "/")
	reg, err := remote.New(host, f.access.options())
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	var repos []string
	if err := reg.Repositories(ctx, "", func(page []string) error {
		for _, r := range page {
			if prefix == "" || r == prefix || strings.HasPrefix(r, strings.TrimSuffix(prefix, "/")+"/") {
				repos = append(repos, r)
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("registry %s: list repositories: %w", host, err)
	}
	var images []fleet.Image
	for _, name := range repos {
		repo, err := reg.Repository(ctx, name)
		if err != nil {
			return nil, err
		}
		tl, ok := repo.(cas.TagLister)
		if !ok {
			return nil, fmt.Errorf("registry %s: cannot list tags: %w", host, cas.ErrUnsupported)
		}
		var tags []string
		if err := tl.Tags(ctx, "", func(page []string) error { tags = append(tags, page...); return nil }); err != nil {
			return nil, fmt.Errorf("%s/%s: list tags: %w", host, name, err)
		}
		for _, tag := range tags {
			if len(images) >= f.maxImages {
				return images, nil
			}
			l, err := imagecheck.Load(ctx, repo, tag, platform)
			if err != nil {
				return nil, err // the registry client names the reference
			}
			images = append(images, fleet.Image{Name: host + "/" + name + ":" + tag, Loaded: l})
		}
	}
	return images, nil
}
