package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/sources"
	"github.com/gantry-dev/gantry/internal/store/archive"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// bundleSources are the flags of "bundle create" that name images by
// the files that list or use them, rather than on the command line:
//
//	-f, --file LIST     a list file (sources.ParseList): one image per
//	                    line, optionally with --platform=OS/ARCH
//	--from PATH         Kubernetes manifests, Helm-rendered YAML or compose
//	                    files, or directories of them (sources.FromFiles)
//
// Image arguments may also be docker save tarballs,
// docker-archive:FILE[:IMAGE]: every tagged image of FILE, or the one named.
// bundle create adds the flags with addFlags and turns its arguments and
// these flags into bundle.Images with images.
type bundleSources struct {
	lists []string
	from  []string
}

// addFlags adds -f/--file and --from to fl.
func (s *bundleSources) addFlags(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&s.lists, "file", "f", nil, "list file of images, one per line, each optionally followed by --platform=OS/ARCH[/VARIANT] (repeatable; - for stdin)")
	fl.StringSliceVar(&s.from, "from", nil, "bundle the images named in these Kubernetes manifests, Helm-rendered YAML or compose files, or directories of *.yaml/*.yml files (repeatable; short names like nginx:1.25 mean docker.io/library/nginx:1.25)")
}

// bundleSource is one image to bundle, before its source is opened.
type bundleSource struct {
	// arg is what to open: an image reference for locations, or a
	// docker-archive reference.
	arg string
	// name is the full reference to record; "" means: the reference's own.
	name     string
	platform *ocispec.Platform
	// from says where the image was named, for errors ("k8s/app.yaml:12").
	from string
}

// collect returns the images args, the list files and --from name, in that
// order, each once (the first mention wins). stdin is read for "-f -".
func (s *bundleSources) collect(e *env, args []string) ([]bundleSource, error) {
	var out []bundleSource
	seen := map[string]bool{}
	add := func(b bundleSource) {
		key := b.arg + "\x00" + oci.FormatPlatform(b.platform)
		if !seen[key] {
			seen[key] = true
			out = append(out, b)
		}
	}
	for _, a := range args {
		add(bundleSource{arg: a, from: "command line"})
	}
	for _, list := range s.lists {
		var entries []sources.ListEntry
		var err error
		if list == "-" {
			entries, err = sources.ParseList(e.stdin)
		} else {
			f, oerr := os.Open(list)
			if oerr != nil {
				return nil, fmt.Errorf("-f %s: %w", list, oerr)
			}
			entries, err = sources.ParseList(f)
			f.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", list, err)
		}
		for _, en := range entries {
			add(bundleSource{arg: en.Image, platform: en.Platform, from: fmt.Sprintf("%s:%d", list, en.Line)})
		}
	}
	if len(s.from) > 0 {
		refs, err := sources.FromFiles(s.from)
		if err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
		for _, r := range refs {
			add(bundleSource{arg: r.Image, from: r.Locations[0].String()})
		}
	}
	return out, nil
}

// images opens every source (registries, OCI layouts, docker-archive
// tarballs) through locs and returns the bundle.Images to create the bundle
// from. Opening checks nothing but the references and the files: Create
// resolves each image and names what it cannot read.
func (s *bundleSources) images(ctx context.Context, e *env, locs *locations, args []string) ([]bundle.Image, error) {
	srcs, err := s.collect(e, args)
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, usageError{fmt.Errorf("no image to bundle: give image references, -f LIST or --from PATH")}
	}
	var out []bundle.Image
	names := map[string]string{} // name -> where it came from
	for _, src := range srcs {
		imgs, err := openBundleSource(ctx, locs, src)
		if err != nil {
			if src.from != "command line" {
				return nil, fmt.Errorf("%s (from %s): %w", src.arg, src.from, err)
			}
			return nil, err
		}
		for _, img := range imgs {
			if prev, dup := names[img.Name]; dup {
				if prev == src.from {
					continue
				}
				return nil, fmt.Errorf("%s is named twice (%s and %s); a bundle holds one image per name: %w", img.Name, prev, src.from, cas.ErrInvalid)
			}
			names[img.Name] = src.from
			out = append(out, img)
		}
	}
	return out, nil
}

// openBundleSource opens one source: a docker-archive tarball gives all its
// tagged images (or the one named), a reference gives one image.
func openBundleSource(ctx context.Context, locs *locations, src bundleSource) ([]bundle.Image, error) {
	if file, image, ok, err := archive.ParseReference(src.arg); ok {
		if err != nil {
			return nil, err
		}
		a, err := locs.openArchive(file)
		if err != nil {
			return nil, err
		}
		var out []bundle.Image
		for _, img := range a.Images() {
			for _, name := range img.Names {
				if image != "" {
					want, err := oci.ParseRegistryRef(image)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", src.arg, err)
					}
					if want.String() != name {
						continue
					}
				}
				ref, _ := oci.ParseImageRef(name)
				repo, err := a.Repository(ctx, ref.Registry+"/"+ref.Repository)
				if err != nil {
					return nil, err
				}
				out = append(out, bundle.Image{Name: name, Source: repo, Reference: img.Manifest.Digest.String(), Platform: src.platform})
			}
		}
		if len(out) == 0 {
			what := "no tagged image (docker save it by name, so its tags are recorded)"
			if image != "" {
				what = "no image " + image
			}
			return nil, fmt.Errorf("%s: %s holds %s: %w", src.arg, file, what, cas.ErrNotFound)
		}
		return out, nil
	}
	ref, err := parseRef("SRC", src.arg)
	if err != nil {
		return nil, err
	}
	t, err := locs.source(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.arg, err)
	}
	name := src.name
	if name == "" {
		name = bundleName(ref)
	}
	return []bundle.Image{{Name: name, Source: t, Reference: ref.Reference(), Platform: src.platform}}, nil
}

// bundleName is the name a reference's image gets in a bundle: the full
// reference for a registry image; for an image of an OCI layout, the
// layout's own name for it (REPO:TAG, which may itself be a full reference,
// as skopeo and ctr write them).
func bundleName(ref oci.ImageRef) string {
	if ref.Transport == oci.TransportRegistry {
		return ref.String()
	}
	return ref.Name()
}
