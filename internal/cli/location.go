package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
)

// locations opens the places image references name (a registry repository,
// a repository of an OCI layout directory) as cas.Targets. It opens each
// layout directory once, however many references name it: the disk store
// takes the directory for exclusive use, so "gantry copy oci:d:a:v1
// oci:d:b:v1" needs both repositories from one Store.
type locations struct {
	// insecure lets registries be reached over plain HTTP or with
	// certificates that do not verify.
	insecure bool

	layouts map[string]*disk.Store // by absolute directory
}

// open returns the repository ref names. mustExist refuses a layout
// directory that holds no OCI layout yet, so that a mistyped source is an
// error rather than a new empty directory.
func (l *locations) open(ctx context.Context, ref oci.ImageRef, mustExist bool) (cas.Target, error) {
	switch ref.Transport {
	case oci.TransportLayout:
		s, err := l.layout(ref.Dir, mustExist)
		if err != nil {
			return nil, err
		}
		return s.Repository(ctx, ref.Repository)
	case oci.TransportRegistry:
		r, err := remote.New(ref.Registry, remote.Options{Insecure: l.insecure, UserAgent: "gantry/" + Version})
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", ref.Registry, err)
		}
		return r.Repository(ctx, ref.Repository)
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
		if _, err := os.Stat(filepath.Join(abs, "oci-layout")); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an OCI image layout (no oci-layout file): %w", dir, cas.ErrNotFound)
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
	return errors.Join(errs...)
}
