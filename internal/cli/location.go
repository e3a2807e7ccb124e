package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/archive"
	"github.com/gantry-dev/gantry/internal/store/disk"
)

// locations opens the places image references name (a registry repository,
// a repository of an OCI layout directory, a docker-archive tarball) as
// cas.Targets, or cas.ReadOnlyTargets for what can only be read. It opens each
// layout directory once, however many references name it: the disk store
// takes the directory for exclusive use, so "gantry copy oci:d:a:v1
// oci:d:b:v1" needs both repositories from one Store.
type locations struct {
	// access says how registries' TLS is trusted.
	access registryFlags

	layouts  map[string]*disk.Store    // by absolute directory
	archives map[string]*archive.Store // by absolute path
}

// source returns the repository ref names, to be read. A layout directory
// must already hold an OCI layout, so that a mistyped source is an error
// rather than a new empty directory.
func (l *locations) source(ctx context.Context, ref oci.ImageRef) (cas.ReadOnlyTarget, error) {
	if ref.Transport == archive.Transport {
		return l.archive(ctx, ref)
	}
	return l.open(ctx, ref, true)
}

// destination returns the repository ref names, to be written: a registry
// repository or a repository of a layout directory, created if need be.
func (l *locations) destination(ctx context.Context, ref oci.ImageRef) (cas.Target, error) {
	return l.open(ctx, ref, false)
}

// open returns the writable repository ref names. mustExist refuses a
// layout directory that holds no OCI layout yet.
func (l *locations) open(ctx context.Context, ref oci.ImageRef, mustExist bool) (cas.Target, error) {
	switch ref.Transport {
	case oci.TransportLayout:
		s, err := l.layout(ref.Dir, mustExist)
		if err != nil {
			return nil, err
		}
		return s.Repository(ctx, ref.Repository)
	case oci.TransportRegistry:
		r, err := remote.New(ref.Registry, l.access.options())
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", ref.Registry, err)
		}
		return r.Repository(ctx, ref.Repository)
	case archive.Transport:
		return nil, fmt.Errorf("%s: a docker-archive tarball can only be read (write to a registry or oci:DIR:REPO:TAG): %w", ref, cas.ErrUnsupported)
	}
	return nil, fmt.Errorf("%s: transport %q is not supported: %w", ref, ref.Transport, cas.ErrUnsupported)
}

func (l *locations) layout(dir string, mustExist bool) (*disk.Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	if s, ok := l.layouts[abs]; ok {
		return s, nil
	}
	if mustExist {
		if err := requireStore(dir); err != nil {
			return nil, err
		}
	}
	s, err := disk.Open(abs, disk.Options{})
	if err != nil {
		return nil, err
	}
	if l.layouts == nil {
		l.layouts = map[string]*disk.Store{}
	}
	l.layouts[abs] = s
	return s, nil
}

// parseArchiveRef reads "docker-archive:FILE[:IMAGE]", a docker save
// tarball, which can only be a source (which is "SRC"). ok is false when s
// is not such a reference. The returned ImageRef has Transport
// archive.Transport, Dir FILE and, when IMAGE is given, its repository and
// tag (normalised, so "nginx:1.25" is docker.io/library/nginx:1.25); its
// Registry is "docker-archive:FILE" so that String prints something a user
// recognises. Without IMAGE the archive must hold one image.
func parseArchiveRef(which, s string) (ref oci.ImageRef, ok bool, err error) {
	file, image, ok, err := archive.ParseReference(s)
	if !ok || err != nil {
		return oci.ImageRef{}, ok, err
	}
	if which != "SRC" {
		return oci.ImageRef{}, true, fmt.Errorf("%s %q: a docker-archive tarball can only be read (write to a registry or oci:DIR:REPO:TAG): %w", which, s, cas.ErrUnsupported)
	}
	ref = oci.ImageRef{Transport: archive.Transport, Dir: file, Registry: archive.Transport + ":" + file}
	if image == "" {
		return ref, true, nil
	}
	r, err := oci.ParseRegistryRef(image)
	if err != nil {
		return oci.ImageRef{}, true, fmt.Errorf("%s %q: %w", which, s, err)
	}
	ref.Repository, ref.Tag, ref.Digest = r.Registry+"/"+r.Repository, r.Tag, r.Digest
	return ref, true, nil
}

// archive opens the docker-archive tarball ref names (once per file) and
// returns the repository of the image it names, or, when it names none, the
// archive's one image, whose empty reference resolves to it.
func (l *locations) archive(ctx context.Context, ref oci.ImageRef) (cas.ReadOnlyTarget, error) {
	a, err := l.openArchive(ref.Dir)
	if err != nil {
		return nil, err
	}
	if ref.Repository != "" {
		return a.Repository(ctx, ref.Repository)
	}
	imgs := a.Images()
	if len(imgs) != 1 {
		var names []string
		for _, img := range imgs {
			names = append(names, img.Names...)
		}
		return nil, fmt.Errorf("%s holds %d images (%s): name one, docker-archive:%s:IMAGE: %w", ref.Dir, len(imgs), strings.Join(names, ", "), ref.Dir, cas.ErrInvalid)
	}
	return a.Target(imgs[0]), nil
}

// openArchive opens a docker-archive tarball, once per file.
func (l *locations) openArchive(file string) (*archive.Store, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	if a, ok := l.archives[abs]; ok {
		return a, nil
	}
	a, err := archive.Open(abs)
	if err != nil {
		return nil, err
	}
	if l.archives == nil {
		l.archives = map[string]*archive.Store{}
	}
	l.archives[abs] = a
	return a, nil
}

// Close closes every layout directory opened, which writes their
// index.json: until then, tags are in the store's journal only, which other
// OCI tools do not read.
func (l *locations) Close() error {
	var errs []error
	for dir, s := range l.layouts {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", dir, err))
		}
	}
	l.layouts = nil
	for file, a := range l.archives {
		if err := a.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", file, err))
		}
	}
	l.archives = nil
	return errors.Join(errs...)
}
