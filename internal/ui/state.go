package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// repoState is what the repositories page shows of one repository.
type repoState struct {
	tags     []tagState
	bytes    int64 // compressed bytes of its distinct blobs
	lastPush time.Time
}

// tagState is one tag and what it points at.
type tagState struct {
	tag  string
	desc ocispec.Descriptor
	img  *loadedImage // nil when it could not be read
}

// loadedImage is what a tag points at: an image manifest, or an index
// and the image of it the view shows (image.DefaultPlatform, else the
// first).
type loadedImage struct {
	desc      ocispec.Descriptor // what the tag points at
	loaded    *image.Loaded
	platforms []string
	// compressed is the bytes a pull of desc moves: its manifests,
	// configs and layers (of every platform of an index).
	compressed int64
	err        error
}

// Analysis states of an image.
const (
	statePending = "pending"
	stateRunning = "running"
	stateReady   = "ready"
	stateFailed  = "failed"
)

// analysis is the background analysis of one image manifest.
type analysis struct {
	state string
	// result has the figures and findings of the analysis only (no
	// filesystem), so thousands of analyzed images stay small.
	result *image.Result
	err    error
	took   time.Duration
}

// Refresh reads repository again: its tags, and the manifests and configs
// of what they point at (not the layers), and queues the images not yet
// analyzed. Run calls it after Pushed; tests call it directly.
func (u *UI) Refresh(ctx context.Context, repository string) error {
	tgt, err := u.store.Repository(ctx, repository)
	if err != nil {
		return fmt.Errorf("repository %s: %w", repository, err)
	}
	tags, err := listTags(ctx, tgt)
	if err != nil {
		return fmt.Errorf("repository %s: %w", repository, err)
	}
	st := &repoState{}
	seen := map[digest.Digest]bool{}
	for _, tag := range tags {
		desc, err := tgt.Resolve(ctx, tag)
		if errors.Is(err, cas.ErrNotFound) {
			continue // untagged meanwhile
		}
		if err != nil {
			return fmt.Errorf("repository %s: tag %s: %w", repository, tag, err)
		}
		img := u.load(ctx, tgt, desc)
		st.tags = append(st.tags, tagState{tag: tag, desc: desc, img: img})
		if !seen[desc.Digest] {
			seen[desc.Digest] = true
			st.bytes += img.compressed
		}
		st.lastPush = later(st.lastPush, u.pushTime(repository, tag, img))
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(st.tags) == 0 {
		delete(u.repos, repository)
	} else {
		u.repos[repository] = st
	}
	u.gen++
	for _, t := range st.tags {
		if t.img.loaded == nil {
			continue
		}
		d := t.img.loaded.Descriptor.Digest
		if _, ok := u.analyses[d]; !ok {
			u.analyses[d] = &analysis{state: statePending}
			u.pending = append(u.pending, job{repo: repository, img: t.img})
		}
	}
	if len(u.pending) > 0 {
		u.nudge()
	}
	return nil
}

// pushTime is when tag was pushed as far as this process knows: when it
// saw the push, else when the image says it was created.
func (u *UI) pushTime(repository, tag string, img *loadedImage) time.Time {
	u.mu.Lock()
	t, ok := u.pushed[repository+":"+tag]
	u.mu.Unlock()
	if ok {
		return t
	}
	if img.loaded != nil && img.loaded.Config.Created != nil {
		return *img.loaded.Config.Created
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// listTags returns every tag of tgt, sorted.
func listTags(ctx context.Context, tgt cas.ReadOnlyTarget) ([]string, error) {
	tl, ok := tgt.(cas.TagLister)
	if !ok {
		return nil, fmt.Errorf("list tags: %w", cas.ErrUnsupported)
	}
	var tags []string
	err := tl.Tags(ctx, "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	slices.Sort(tags)
	return tags, err
}

// load reads what desc points at, once per digest: a digest names its
// bytes, so what was read stays true.
func (u *UI) load(ctx context.Context, tgt cas.ReadOnlyTarget, desc ocispec.Descriptor) *loadedImage {
	u.mu.Lock()
	img, ok := u.loaded[desc.Digest]
	u.mu.Unlock()
	if ok && img.err == nil {
		return img
	}
	img = &loadedImage{desc: desc}
	img.loaded, img.err = image.Load(ctx, tgt, desc.Digest.String(), nil)
	if img.err != nil {
		return img
	}
	img.compressed, img.platforms = u.pullBytes(ctx, tgt, img)
	u.mu.Lock()
	u.loaded[desc.Digest] = img
	u.mu.Unlock()
	return img
}

// pullBytes is the bytes a pull of every platform of img moves, and the
// platforms it has.
func (u *UI) pullBytes(ctx context.Context, tgt cas.ReadOnlyTarget, img *loadedImage) (int64, []string) {
	l := img.loaded
	if l.Index == nil {
		n := l.Descriptor.Size + l.Manifest.Config.Size
		for _, d := range l.Manifest.Layers {
			n += d.Size
		}
		return n, []string{platformOf(l.Config.Platform)}
	}
	b, err := cas.FetchAll(ctx, tgt, *l.Index, oci.MaxManifestSize)
	if err != nil {
		return 0, nil
	}
	idx, err := oci.ParseManifest(*l.Index, b)
	if err != nil {
		return 0, nil
	}
	n := l.Index.Size
	var platforms []string
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue // attestations ride along as unknown/unknown
		}
		platforms = append(platforms, platformOf(*m.Platform))
		mb, err := cas.FetchAll(ctx, tgt, m, oci.MaxManifestSize)
		if err != nil {
			continue // a sparse index: this platform is not here
		}
		pm, err := oci.ParseManifest(m, mb)
		if err != nil || pm.Config == nil {
			continue
		}
		n += m.Size + pm.Config.Size
		for _, d := range pm.Layers {
			n += d.Size
		}
	}
	return n, platforms
}

func platformOf(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// analyze runs the analysis of one image in the background: one layer at
// a time, layers already scanned for another image taken from the cache.
func (u *UI) analyze(ctx context.Context, j job) {
	d := j.img.loaded.Descriptor.Digest
	u.mu.Lock()
	a := u.analyses[d]
	a.state = stateRunning
	u.mu.Unlock()
	tgt, err := u.store.Repository(ctx, j.repo)
	var res *image.Result
	start := time.Now()
	if err == nil {
		res, err = image.AnalyzeLoaded(ctx, tgt, j.repo+"@"+d.String(), j.img.loaded, image.Options{
			Limits: u.opts.Limits, Concurrency: 1, Scans: u.scans,
		})
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	a.took = time.Since(start)
	switch {
	case err == nil:
		// Keep the figures and findings the pages show, not the final
		// filesystem the analysis built (per-path metadata of the whole
		// image) nor the manifest it read.
		a.state, a.result = stateReady, &image.Result{
			Image: res.Image, Digest: res.Digest, Layers: res.Layers, Compressed: res.Compressed,
			Stored: res.Stored, Size: res.Size, Wasted: res.Wasted, DiveWasted: res.DiveWasted, Findings: res.Findings,
		}
	case ctx.Err() != nil:
		a.state = statePending // shutting down: not a verdict on the image
	default:
		a.state, a.err = stateFailed, err
		u.log.Warn("web view: analysis failed", "repository", j.repo, "digest", d, "err", err)
	}
}
