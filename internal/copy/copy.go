package copy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency is the number of blobs moved at once when
// Options.Concurrency is not set: enough to hide a registry's latency
// without opening more connections than registries usually allow a client.
const DefaultConcurrency = 4

// Options tunes a copy. The zero value copies every platform, four blobs at
// a time, silently.
type Options struct {
	// Concurrency bounds the blobs and manifests read, written or checked at
	// once. <= 0 means DefaultConcurrency.
	Concurrency int

	// Platform, if set, restricts the children of every index to the
	// manifests matching it (oci.MatchPlatform); the index itself is copied
	// unchanged, so its digest, which users pin, stays valid and the
	// destination holds a sparse index. An index none of whose image
	// manifests match fails the copy with cas.ErrNotFound. A root that is an
	// image manifest is copied whatever its platform. nil copies everything.
	Platform *ocispec.Platform

	// Progress, if set, receives an Event for each step of the copy. It is
	// called from several goroutines at once and must not block for long:
	// the copy waits for it.
	Progress func(Event)

	// MountFrom names a repository of the destination's store that may
	// already hold the blobs, typically the source repository when source
	// and destination are on the same registry. When set and the
	// destination implements cas.Mounter, each blob is mounted from it
	// before being copied; a mount that fails with cas.ErrNotFound or
	// cas.ErrUnsupported falls back to a copy. Manifests are always copied.
	MountFrom string

	// MountSource, if set, names for each blob a repository of the
	// destination's store that may hold it ("" for none), in place of
	// MountFrom: a caller that copies many images into many repositories
	// of one registry (bundle push) mounts each shared layer from wherever
	// it went first instead of uploading it again.
	MountSource func(desc ocispec.Descriptor) string
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event, in the order a blob goes through them. A blob is
// either skipped, mounted, or started, progressed and done.
const (
	// EventStart: the blob is about to be moved; Desc says its size.
	EventStart EventKind = iota
	// EventProgress: Bytes of the blob have been moved so far.
	EventProgress
	// EventDone: the blob is at the destination, verified.
	EventDone
	// EventSkip: the destination already had the blob (for an image
	// manifest, and so everything under it).
	EventSkip
	// EventMount: the blob was mounted from Options.MountFrom (or the
	// repository Options.MountSource named), not moved.
	EventMount
	// EventRoot: the whole graph is at the destination; Desc is the root.
	EventRoot
)

// String returns the kind's name, for logs.
func (k EventKind) String() string {
	switch k {
	case EventStart:
		return "start"
	case EventProgress:
		return "progress"
	case EventDone:
		return "done"
	case EventSkip:
		return "skip"
	case EventMount:
		return "mount"
	case EventRoot:
		return "root"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports progress to Options.Progress, so a command can draw bars or
// log lines without the engine knowing how.
type Event struct {
	Kind EventKind
	// Desc is the blob or manifest concerned (the root for EventRoot).
	Desc ocispec.Descriptor
	// Bytes is the running count of bytes of Desc moved: for
	// EventProgress, so far; for EventDone, Desc.Size.
	Bytes int64
}

// Copy copies the graph that srcRef (a tag or a digest) names in src to dst,
// then, once every blob and manifest under it is present, tags it dstTag in
// dst (no tag when dstTag is empty). It returns the root descriptor, with
// its media type. A copy that fails leaves the destination untagged, and
// holding only complete, verified content.
func Copy(ctx context.Context, src cas.ReadOnlyTarget, srcRef string, dst cas.Target, dstTag string, opts Options) (ocispec.Descriptor, error) {
	root, err := src.Resolve(ctx, srcRef)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", srcRef, err)
	}
	root, err = copyGraph(ctx, src, dst, root, srcRef, opts)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if dstTag != "" {
		if err := dst.Tag(ctx, root, dstTag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("tag %s as %s: %w", root.Digest, dstTag, err)
		}
	}
	return root, nil
}

// CopyGraph copies root and everything under it from src to dst, children
// before parents. root's media type may be empty: root is then read as a
// manifest, its type taken from the document.
func CopyGraph(ctx context.Context, src cas.ReadOnlyStorage, dst cas.Storage, root ocispec.Descriptor, opts Options) error {
	_, err := copyGraph(ctx, src, dst, root, "", opts)
	return err
}

func copyGraph(ctx context.Context, src cas.ReadOnlyStorage, dst cas.Storage, root ocispec.Descriptor, name string, opts Options) (ocispec.Descriptor, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &copier{
		src:    src,
		dst:    dst,
		opts:   opts,
		slots:  make(chan struct{}, opts.Concurrency),
		tasks:  map[digest.Digest]*task{},
		cancel: cancel,
	}
	if m, ok := dst.(cas.Mounter); ok && (opts.MountFrom != "" || opts.MountSource != nil) {
		c.mounter = m
	}
	var p path
	if name != "" && name != root.Digest.String() { // a digest is in the path already
		p = path{{label: name}}
	}
	root, err := c.copyManifest(ctx, root, p)
	if err != nil {
		// The first error is the cause; the others are its consequences
		// (cancellations), which would hide it.
		if first := context.Cause(ctx); first != nil && !errors.Is(first, context.Canceled) {
			return ocispec.Descriptor{}, first
		}
		return ocispec.Descriptor{}, err
	}
	c.event(Event{Kind: EventRoot, Desc: root})
	return root, nil
}

// copier is the state of one copy.
type copier struct {
	src     cas.ReadOnlyStorage
	dst     cas.Storage
	opts    Options
	mounter cas.Mounter
	slots   chan struct{} // one token per operation in flight
	cancel  context.CancelCauseFunc

	mu    sync.Mutex
	tasks map[digest.Digest]*task // every digest this copy has started
}

// task is the copy of one digest; whoever asks for the digest after the
// first waits for done and shares err.
type task struct {
	done chan struct{}
	err  error
	desc ocispec.Descriptor // root only: with its media type filled in
}

// step is one element of the path from the image to a blob, for errors.
type step struct {
	label string
	desc  ocispec.Descriptor
}

// path locates a blob in the graph: "img:v1 > index sha256:… > layer sha256:…".
type path []step

func (p path) with(kind string, d ocispec.Descriptor) path {
	return append(p[:len(p):len(p)], step{label: kind, desc: d})
}

// String shortens the digests of the parents and keeps the last one whole,
// so the line stays readable and still names exactly what failed.
func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(s.label)
		if s.desc.Digest == "" {
			continue
		}
		d := s.desc.Digest.String()
		if i < len(p)-1 && len(d) > 19 {
			d = d[:19] // algorithm and 12 hex digits, as docker prints
		}
		b.WriteString(" " + d)
		if s.desc.Platform != nil {
			b.WriteString(" (" + oci.FormatPlatform(s.desc.Platform) + ")")
		}
	}
	return b.String()
}

// fail wraps err with where it happened and cancels the rest of the copy.
func (c *copier) fail(p path, err error) error {
	err = &pathError{path: p, err: err}
	c.cancel(err)
	return err
}

// pathError is an error located in the graph. Its message drops the digest
// that stores put at the start of theirs when the path already ends with it,
// so the one line names each thing once.
type pathError struct {
	path path
	err  error
}

func (e *pathError) Error() string {
	msg := e.err.Error()
	if len(e.path) > 0 {
		if d := e.path[len(e.path)-1].desc.Digest.String(); d != "" {
			msg = strings.TrimPrefix(msg, d+": ")
			msg = strings.TrimPrefix(msg, "manifest "+d+": ")
		}
	}
	if len(e.path) == 0 {
		return msg
	}
	return e.path.String() + ": " + msg
}

func (e *pathError) Unwrap() error { return e.err }

func (c *copier) event(e Event) {
	if c.opts.Progress != nil {
		c.opts.Progress(e)
	}
}

func (c *copier) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c *copier) release() { <-c.slots }

// once runs fn for d unless another goroutine of this copy has: then it
// waits for that one and returns its result.
func (c *copier) once(ctx context.Context, d digest.Digest, fn func() (ocispec.Descriptor, error)) (ocispec.Descriptor, error) {
	c.mu.Lock()
	t, started := c.tasks[d]
	if !started {
		t = &task{done: make(chan struct{})}
		c.tasks[d] = t
	}
	c.mu.Unlock()
	if started {
		select {
		case <-t.done:
			return t.desc, t.err
		case <-ctx.Done():
			return ocispec.Descriptor{}, context.Cause(ctx)
		}
	}
	t.desc, t.err = fn()
	close(t.done)
	return t.desc, t.err
}

// copyNode copies a child of a manifest: a manifest (recursively) or a
// blob. p is the path to the parent; label names a blob in it.
func (c *copier) copyNode(ctx context.Context, desc ocispec.Descriptor, p path, label string) error {
	if oci.IsManifest(desc.MediaType) {
		_, err := c.copyManifest(ctx, desc, p)
		return err
	}
	_, err := c.once(ctx, desc.Digest, func() (ocispec.Descriptor, error) {
		return desc, c.copyBlob(ctx, desc, p.with(label, desc))
	})
	return err
}

// manifestKind names a manifest in a path; a root whose media type is not
// known yet is a "manifest".
func manifestKind(mediaType string) string {
	if oci.IsIndex(mediaType) {
		return "index"
	}
	return "manifest"
}

// blobKind names a blob of m in a path.
func blobKind(m *oci.Manifest, child ocispec.Descriptor) string {
	if m.Config != nil && child.Digest == m.Config.Digest {
		return "config"
	}
	return "layer"
}

// copyManifest copies a manifest after its children. It returns desc with
// the media type read from the document when desc had none.
func (c *copier) copyManifest(ctx context.Context, desc ocispec.Descriptor, p path) (ocispec.Descriptor, error) {
	return c.once(ctx, desc.Digest, func() (ocispec.Descriptor, error) {
		p = p.with(manifestKind(desc.MediaType), desc)
		if desc.MediaType != "" && !oci.IsManifest(desc.MediaType) {
			return desc, c.fail(p, fmt.Errorf("media type %q is not a manifest or index: %w", desc.MediaType, cas.ErrInvalid))
		}
		if err := c.acquire(ctx); err != nil {
			return desc, c.fail(p, err)
		}
		data, present, err := c.readManifest(ctx, desc)
		c.release()
		if err != nil {
			return desc, c.fail(p, err)
		}
		m, err := oci.ParseManifest(desc, data)
		if err != nil {
			return desc, c.fail(p, err)
		}
		desc.MediaType = m.MediaType
		p[len(p)-1] = step{label: manifestKind(desc.MediaType), desc: desc}
		if present && !oci.IsIndex(desc.MediaType) {
			c.event(Event{Kind: EventSkip, Desc: desc})
			return desc, nil
		}
		children, err := c.children(desc, m)
		if err != nil {
			return desc, c.fail(p, err)
		}
		// Children run in their own goroutines; this one holds no slot
		// while it waits, so recursion cannot starve the pool.
		var g errgroup.Group
		for _, child := range children {
			g.Go(func() error { return c.copyNode(ctx, child, p, blobKind(m, child)) })
		}
		if err := g.Wait(); err != nil {
			return desc, err // already wrapped with its path
		}
		if present {
			c.event(Event{Kind: EventSkip, Desc: desc})
			return desc, nil
		}
		if err := c.acquire(ctx); err != nil {
			return desc, c.fail(p, err)
		}
		err = c.push(ctx, desc, bytes.NewReader(data))
		c.release()
		if err != nil {
			return desc, c.fail(p, err)
		}
		return desc, nil
	})
}

// readManifest returns the manifest's bytes, verified, and whether the
// destination already has it. A present manifest is read from the
// destination: the source is not asked for what is already here.
func (c *copier) readManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, bool, error) {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return nil, false, err
	}
	present, err := c.dst.Exists(ctx, desc)
	if err != nil {
		return nil, false, fmt.Errorf("destination: %w", err)
	}
	if present {
		data, err := cas.FetchAll(ctx, c.dst, desc, oci.MaxManifestSize)
		if err == nil {
			return data, true, nil
		}
		// A destination that says it has content it cannot serve: copy
		// from the source, as if it were absent.
		present = false
	}
	data, err := cas.FetchAll(ctx, c.src, desc, oci.MaxManifestSize)
	if err != nil {
		return nil, false, err
	}
	return data, present, nil
}

// children returns what must be copied before the manifest m: all its
// children but non-distributable layers and, under a platform filter, the
// index entries of other platforms.
func (c *copier) children(desc ocispec.Descriptor, m *oci.Manifest) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	for _, child := range m.Children() {
		if oci.IsNonDistributable(child.MediaType) {
			continue
		}
		out = append(out, child)
	}
	if c.opts.Platform == nil || !oci.IsIndex(desc.MediaType) || len(out) == 0 {
		return out, nil
	}
	var matched []ocispec.Descriptor
	images := 0
	for _, child := range out {
		switch {
		case oci.IsIndex(child.MediaType): // nested: filtered in turn
			matched = append(matched, child)
		case oci.MatchPlatform(*c.opts.Platform, child.Platform):
			matched = append(matched, child)
			images++
		}
	}
	if images == 0 && len(matched) == 0 {
		var have []string
		for _, child := range out {
			if child.Platform != nil {
				have = append(have, oci.FormatPlatform(child.Platform))
			}
		}
		return nil, fmt.Errorf("no manifest for platform %s (the index has %s): %w",
			oci.FormatPlatform(c.opts.Platform), strings.Join(have, ", "), cas.ErrNotFound)
	}
	return matched, nil
}

// copyBlob moves one blob (config or layer) unless the destination has it.
func (c *copier) copyBlob(ctx context.Context, desc ocispec.Descriptor, p path) error {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return c.fail(p, err)
	}
	if err := c.acquire(ctx); err != nil {
		return c.fail(p, err)
	}
	defer c.release()
	present, err := c.dst.Exists(ctx, desc)
	if err != nil {
		return c.fail(p, fmt.Errorf("destination: %w", err))
	}
	if present {
		c.event(Event{Kind: EventSkip, Desc: desc})
		return nil
	}
	from := c.opts.MountFrom
	if c.opts.MountSource != nil {
		from = c.opts.MountSource(desc)
	}
	if c.mounter != nil && from != "" {
		err := c.mounter.Mount(ctx, desc, from)
		switch {
		case err == nil:
			c.event(Event{Kind: EventMount, Desc: desc})
			return nil
		case !errors.Is(err, cas.ErrNotFound) && !errors.Is(err, cas.ErrUnsupported):
			return c.fail(p, fmt.Errorf("mount from %s: %w", from, err))
		}
	}
	rc, err := c.src.Fetch(ctx, desc)
	if err != nil {
		return c.fail(p, err)
	}
	defer rc.Close()
	if err := c.push(ctx, desc, rc); err != nil {
		return c.fail(p, err)
	}
	return nil
}

// push writes r to the destination, verifying it on the way and reporting
// progress. Content another writer pushed meanwhile counts as done.
func (c *copier) push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	c.event(Event{Kind: EventStart, Desc: desc})
	if c.opts.Progress != nil {
		r = &progressReader{r: r, c: c, desc: desc}
	}
	// The verifier goes outermost, so a store that checks what it is given
	// (cas.VerifyReader) reuses it instead of hashing the bytes again.
	v := cas.VerifyReader(r, desc)
	err := c.dst.Push(ctx, desc, v)
	switch {
	case errors.Is(err, cas.ErrExists):
	case err != nil:
		return err
	case !v.Verified():
		// The store returned before reading to the end: finish the check
		// here, so wrong bytes never pass for right ones silently.
		if err := v.Verify(); err != nil {
			return err
		}
	}
	c.event(Event{Kind: EventDone, Desc: desc, Bytes: desc.Size})
	return nil
}

// progressReader reports the running count of bytes read.
type progressReader struct {
	r    io.Reader
	c    *copier
	desc ocispec.Descriptor
	n    int64
}

func (r *progressReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.n += int64(n)
		r.c.event(Event{Kind: EventProgress, Desc: r.desc, Bytes: r.n})
	}
	return n, err
}
