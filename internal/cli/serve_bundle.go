package cli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
)

// servedBundle is a bundle served by gantry serve --bundle. Its
// repositories are the site repositories of its images
// (bundle.Reader.SiteRepositories: "registry.example.com:5000/team/app" is
// served and listed as "team/app", or with --keep-registry-host as
// "registry.example.com_5000/team/app"), the names bundle load and push
// give them, and a runtime using gantry as a mirror asks for. The bundle's
// own names are still served when they are valid repository names.
type servedBundle struct {
	*bundle.Reader
	full  map[string]string // site repository -> the bundle's name
	names []string          // the site repositories
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
func openServedBundle(ctx context.Context, files []string, keepHost bool, log *slog.Logger) (_ *servedBundle, err error) {
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
	site, err := r.SiteRepositories(keepHost)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", strings.Join(files, ","), err)
	}
	b := &servedBundle{Reader: r, full: make(map[string]string, len(site))}
	for full, s := range site {
		b.full[s] = full
		b.names = append(b.names, s)
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

// Repository returns the bundle's repository whose site repository is
// name, or else the bundle's repository of that name.
func (b *servedBundle) Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error) {
	if full, ok := b.full[name]; ok {
		name = full
	}
	return b.Reader.Repository(ctx, name)
}

// Repositories implements cas.RepositoryLister: the catalog lists the site
// repositories, every one of which the registry serves.
func (b *servedBundle) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	return cas.ListPages(ctx, slices.Clone(b.names), last, fn)
}

// Close closes the bundle files.
func (b *servedBundle) Close() error {
	if err := b.Reader.Close(); err != nil {
		return fmt.Errorf("close bundle: %w", err)
	}
	return nil
}
