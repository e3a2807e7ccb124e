package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
)

// servedBundle is a bundle served by gantry serve --bundle. Its
// repositories are the bundle's full repository names
// ("registry.example.com/team/app"), and also those names without their
// registry host ("team/app") when that is unambiguous: a runtime that uses
// gantry as a mirror of registry.example.com asks for /v2/team/app/...
type servedBundle struct {
	*bundle.Reader
	short map[string]string // path without host -> full name; "" when ambiguous
}

// openServedBundle opens the bundle files and logs what they hold, and the
// volumes missing, whose images are then only partly served.
func openServedBundle(files []string, log *slog.Logger) (*servedBundle, error) {
	r, err := bundle.Open(files...)
	if err != nil {
		return nil, err
	}
	b := &servedBundle{Reader: r, short: map[string]string{}}
	for _, img := range r.Images() {
		full := img.Repository()
		p := repositoryPath(full)
		if p == full {
			continue
		}
		if prev, seen := b.short[p]; seen && prev != full {
			b.short[p] = "" // two registries' repositories: only full names
			continue
		}
		b.short[p] = full
	}
	m := r.Manifest()
	log.Info("serving bundle", "files", strings.Join(files, ","), "id", m.ID, "images", len(m.Images), "blobs", len(m.Blobs))
	for _, mv := range r.Missing() {
		log.Warn("bundle volume not given: its images are served incomplete", "volume", mv.Volume.Name, "images", strings.Join(mv.Images, ","))
	}
	return b, nil
}

// Repository returns the bundle's repository name, or the one whose path
// without registry host is name.
func (b *servedBundle) Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error) {
	if full, ok := b.short[name]; ok && full != "" && !b.has(name) {
		name = full
	}
	return b.Reader.Repository(ctx, name)
}

// has reports whether name is one of the bundle's full repository names.
func (b *servedBundle) has(name string) bool {
	for _, img := range b.Images() {
		if img.Repository() == name {
			return true
		}
	}
	return false
}

// Close closes the bundle files.
func (b *servedBundle) Close() error {
	if err := b.Reader.Close(); err != nil {
		return fmt.Errorf("close bundle: %w", err)
	}
	return nil
}
