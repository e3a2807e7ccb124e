package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

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

// openServedBundle opens the bundle files, verifies them and logs what they
// hold, and the volumes missing, whose images are then only partly served.
//
// A damaged bundle is refused before anything listens, naming the first
// damaged entry: gantry bundle verify, load and push refuse it, and a
// registry that served it would hand out bytes its digests do not name.
// The verify also records every blob as sound, so requests are served
// straight from the tar without hashing again (the bundle's Fetch still
// checks any blob it has not verified, before its last byte).
func openServedBundle(ctx context.Context, files []string, log *slog.Logger) (_ *servedBundle, err error) {
	r, err := bundle.Open(files...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	m := r.Manifest()
	var size int64
	for _, b := range m.Blobs {
		size += b.Size
	}
	log.Info("verifying bundle before serving it", "files", strings.Join(files, ","), "blobs", len(m.Blobs), "bytes", size)
	start := time.Now()
	rep, err := r.Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify bundle: %w", err)
	}
	var damage []bundle.Problem
	for _, p := range rep.Problems {
		// A volume not given is served without the images it costs,
		// with a warning below; anything else is damage.
		if p.Kind != bundle.ProblemMissingVolume {
			damage = append(damage, p)
		}
	}
	if len(damage) > 0 {
		more := ""
		if len(damage) > 1 {
			more = fmt.Sprintf(" (and %s: gantry bundle verify lists them)", plural(len(damage)-1, "more problem"))
		}
		return nil, fmt.Errorf("bundle %s is damaged, not served: %s%s", strings.Join(files, ","), damage[0], more)
	}
	took := time.Since(start)
	log.Info("bundle verified", "blobs", rep.Blobs, "bytes", rep.Bytes, "took", took.Round(time.Millisecond))
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
	log.Info("serving bundle", "files", strings.Join(files, ","), "id", m.ID, "images", len(m.Images), "blobs", len(m.Blobs))
	// One line per missing volume, up to a few: a manifest may list
	// thousands, and the log should stay readable.
	const maxLogged = 10
	missing := r.Missing()
	for i, mv := range missing {
		if i == maxLogged {
			log.Warn("more bundle volumes not given (gantry bundle verify lists them)", "more", len(missing)-maxLogged)
			break
		}
		log.Warn("bundle volume not given: its images are served incomplete", "volume", mv.Volume.Name, "images", strings.Join(mv.Images, ","))
	}
	return b, nil
}

// Repository returns the bundle's repository name, or the one whose path
// without registry host is name.
func (b *servedBundle) Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error) {
	if full, ok := b.short[name]; ok && full != "" && !b.HasRepository(name) {
		name = full
	}
	return b.Reader.Repository(ctx, name)
}

// Close closes the bundle files.
func (b *servedBundle) Close() error {
	if err := b.Reader.Close(); err != nil {
		return fmt.Errorf("close bundle: %w", err)
	}
	return nil
}
