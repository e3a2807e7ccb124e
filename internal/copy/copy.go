package copy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

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

	// Retries is how many times a transfer that failed with a transient
	// error (one wrapping cas.ErrTransient: a dropped connection, a 5xx or
	// 429 answer) is tried again before the copy fails. It counts per blob
	// or manifest, and only failures after which the transfer made no
	// progress: a blob resumed past the furthest byte it had reached starts
	// a fresh count. A blob that fails mid-stream resumes with a ranged
	// read where the source implements cas.RangeFetcher, and restarts from
	// zero where not. 0 means DefaultRetries; < 0 means no retry.
	// Permanent errors (not found, digest mismatch, ...) are never retried:
	// the first one stops the copy.
	Retries int

	// Backoff returns how long to wait before retry n (1 for the first).
	// A store that asks for a longer wait (an error with a method
	// RetryAfter() time.Duration, as remote's for a Retry-After header)
	// gets it, up to a minute. nil means DefaultBackoff.
	Backoff func(retry int) time.Duration
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
	// manifest, and everything under it: its children are checked
	// without an event of their own, and those missing are copied).
	EventSkip
	// EventMount: the blob was mounted from Options.MountFrom (or the
	// repository Options.MountSource named), not moved.
	EventMount
	// EventRoot: the whole graph is at the destination; Desc is the root.
	EventRoot
	// EventRetry: moving Desc failed with Err, a transient error; the
	// engine waits and tries again, from byte Bytes when it can resume.
	EventRetry
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
	case EventRetry:
		return "retry"
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
	// EventProgress, so far; for EventDone, Desc.Size; for EventRetry, the
	// furthest byte reached.
	Bytes int64
	// Err is, for EventRetry, the transient error being retried.
	Err error
}

// Copy copies the graph that srcRef (a tag or a digest) names in src to dst,
// then, once every blob and manifest under it is present, tags it dstTag in
// dst (no tag when dstTag is empty). It returns the root descriptor, with
// its media type. A copy that fails leaves the destination untagged, and
// holding only complete, verified content; its error is an *Error.
func Copy(ctx context.Context, src cas.ReadOnlyTarget, srcRef string, dst cas.Target, dstTag string, opts Options) (ocispec.Descriptor, error) {
	c := newCopier(src, dst, srcRef, opts)
	var root ocispec.Descriptor
	err := c.retry(ctx, ocispec.Descriptor{}, func() (err error) {
		root, err = src.Resolve(ctx, srcRef)
		return err
	})
	if err != nil {
		return ocispec.Descriptor{}, &Error{Side: SideSource, Err: fmt.Errorf("resolve %s: %w", srcRef, err)}
	}
	root, err = c.copyGraph(ctx, root)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if dstTag != "" {
		err := c.retry(ctx, root, func() error { return dst.Tag(ctx, root, dstTag) })
		if err != nil {
			return ocispec.Descriptor{}, &Error{Side: SideDestination, Err: fmt.Errorf("tag %s as %s: %w", root.Digest, dstTag, err)}
		}
	}
	return root, nil
}

// CopyGraph copies root and everything under it from src to dst, children
// before parents. root's media type may be empty: root is then read as a
// manifest, its type taken from the document. Its error is an *Error.
func CopyGraph(ctx context.Context, src cas.ReadOnlyStorage, dst cas.Storage, root ocispec.Descriptor, opts Options) error {
	_, err := newCopier(src, dst, "", opts).copyGraph(ctx, root)
	return err
}

// copier is the state of one copy.
type copier struct {
	src     cas.ReadOnlyStorage
	dst     cas.Storage
	ref     string // the reference resolved, for errors
	opts    Options
	retries int
	backoff func(int) time.Duration
	mounter cas.Mounter
	slots   chan struct{} // one token per operation in flight
	cancel  context.CancelCauseFunc

	mu    sync.Mutex
	tasks map[digest.Digest]*task // every digest this copy has started
}

func newCopier(src cas.ReadOnlyStorage, dst cas.Storage, ref string, opts Options) *copier {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	c := &copier{
		src:     src,
		dst:     dst,
		ref:     ref,
		opts:    opts,
		retries: opts.Retries,
		backoff: opts.Backoff,
		slots:   make(chan struct{}, opts.Concurrency),
		tasks:   map[digest.Digest]*task{},
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.backoff == nil {
		c.backoff = DefaultBackoff
	}
	if m, ok := dst.(cas.Mounter); ok && (opts.MountFrom != "" || opts.MountSource != nil) {
		c.mounter = m
	}
	return c
}

func (c *copier) copyGraph(ctx context.Context, root ocispec.Descriptor) (ocispec.Descriptor, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.cancel = cancel
	root, err := c.copyManifest(ctx, root, nil)
	if err != nil {
		// The first error is the cause; the others are its consequences
		// (cancellations), which would hide it.
		var first *Error
		if errors.As(context.Cause(ctx), &first) {
			return ocispec.Descriptor{}, first
		}
		return ocispec.Descriptor{}, err
	}
	c.event(Event{Kind: EventRoot, Desc: root})
	return root, nil
}

// task is the copy of one digest; whoever asks for the digest after the
// first waits for done and shares err.
type task struct {
	size int64 // as the first to ask described it
	done chan struct{}
	err  error
	desc ocispec.Descriptor // root only: with its media type filled in
}

// fail makes err an *Error located at p and cancels the rest of the copy:
// a permanent error, or a transient one that exhausted its retries, stops
// everything (transfers already done stay done).
func (c *copier) fail(p path, side Side, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		side = SideUnknown
	}
	e := &Error{Ref: c.ref, Path: p, Side: side, Err: err}
	c.cancel(e)
	return e
}

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

// once runs fn for desc unless another goroutine of this copy has: then it
// waits for that one and returns its result. p() locates desc, for the
// error of a graph that names one digest with two sizes: one of them is
// wrong, and the content moved for the other must not pass for it.
func (c *copier) once(ctx context.Context, desc ocispec.Descriptor, p func() path, fn func() (ocispec.Descriptor, error)) (ocispec.Descriptor, error) {
	c.mu.Lock()
	t, started := c.tasks[desc.Digest]
	if !started {
		t = &task{size: desc.Size, done: make(chan struct{})}
		c.tasks[desc.Digest] = t
	}
	c.mu.Unlock()
	if started {
		if t.size != desc.Size {
			return desc, c.fail(p(), SideSource, fmt.Errorf("%s: named with %d bytes here and %d bytes elsewhere in the graph: %w", desc.Digest, desc.Size, t.size, cas.ErrSizeMismatch))
		}
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
// blob. parent is the path to the manifest; kind names a blob in it. quiet
// checks a blob without reporting a skip: the child of a present manifest,
// whose EventSkip stands for its whole subtree.
func (c *copier) copyNode(ctx context.Context, desc ocispec.Descriptor, parent path, kind string, quiet bool) error {
	if oci.IsManifest(desc.MediaType) {
		_, err := c.copyManifest(ctx, desc, parent)
		return err
	}
	// The path is built only for an error: a warm copy checks many blobs.
	p := func() path { return parent.with(kind, desc) }
	_, err := c.once(ctx, desc, p, func() (ocispec.Descriptor, error) {
		return desc, c.copyBlob(ctx, desc, p, quiet)
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
//
// A manifest present at the destination is not copied again, but its
// children are still walked. For an index, because it may be sparse (a
// platform-filtered copy left some entries out). For an image manifest,
// because a child may have gone since it was pushed (deleted, or
// quarantined by fsck --repair): each is checked with an Exists, which is
// cheap (nothing is read from the source, and each digest is checked once
// per copy however many images share it), and those missing are copied,
// so that a copy never reports, nor tags, an incomplete image.
func (c *copier) copyManifest(ctx context.Context, desc ocispec.Descriptor, parent path) (ocispec.Descriptor, error) {
	p := parent.with(manifestKind(desc.MediaType), desc)
	return c.once(ctx, desc, func() path { return p }, func() (ocispec.Descriptor, error) {
		if desc.MediaType != "" && !oci.IsManifest(desc.MediaType) {
			return desc, c.fail(p, SideSource, fmt.Errorf("media type %q is not a manifest or index: %w", desc.MediaType, cas.ErrInvalid))
		}
		if err := c.acquire(ctx); err != nil {
			return desc, c.fail(p, SideUnknown, err)
		}
		data, present, side, err := c.readManifest(ctx, desc)
		c.release()
		if err != nil {
			return desc, c.fail(p, side, err)
		}
		m, err := oci.ParseManifest(desc, data)
		if err != nil {
			return desc, c.fail(p, SideSource, err)
		}
		desc.MediaType = m.MediaType
		p[len(p)-1] = Step{Kind: manifestKind(desc.MediaType), Desc: desc}
		children, err := oci.Children(desc, m, c.opts.Platform)
		if err != nil {
			return desc, c.fail(p, SideSource, err)
		}
		quiet := present && !oci.IsIndex(desc.MediaType)
		// Children run in their own goroutines; this one holds no slot
		// while it waits, so recursion cannot starve the pool.
		var g errgroup.Group
		for _, child := range children {
			g.Go(func() error { return c.copyNode(ctx, child, p, blobKind(m, child), quiet) })
		}
		if err := g.Wait(); err != nil {
			return desc, err // already located
		}
		if present {
			if err := c.indexReferrer(ctx, desc, m); err != nil {
				return desc, c.fail(p, SideDestination, err)
			}
			c.event(Event{Kind: EventSkip, Desc: desc})
			return desc, nil
		}
		if err := c.acquire(ctx); err != nil {
			return desc, c.fail(p, SideUnknown, err)
		}
		defer c.release()
		c.event(Event{Kind: EventStart, Desc: desc})
		side = SideUnknown
		err = c.retry(ctx, desc, func() (err error) {
			side, err = c.push(ctx, desc, bytes.NewReader(data))
			return err
		})
		if err != nil {
			return desc, c.fail(p, side, err)
		}
		if err := c.indexReferrer(ctx, desc, m); err != nil {
			return desc, c.fail(p, SideDestination, err)
		}
		return desc, nil
	})
}

// indexReferrer records a manifest with a subject in the destination's
// referrer index, when it keeps one (gantry's stores; a registry indexes
// what is pushed to it by itself), so that the referrers API finds what a
// copy brought in: a signature or SBOM loaded from a bundle, say.
func (c *copier) indexReferrer(ctx context.Context, desc ocispec.Descriptor, m *oci.Manifest) error {
	ri, ok := c.dst.(cas.ReferrerIndex)
	if !ok || m.Subject == nil {
		return nil
	}
	if err := ri.AddReferrer(ctx, m.Subject.Digest, oci.ReferrerDescriptor(desc, m)); err != nil {
		return fmt.Errorf("index %s as a referrer of %s: %w", desc.Digest, m.Subject.Digest, err)
	}
	return nil
}

// readManifest returns the manifest's bytes, verified, and whether the
// destination already has it. A present manifest is read from the
// destination: the source is not asked for what is already here. On
// failure it says which side failed.
func (c *copier) readManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, bool, Side, error) {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return nil, false, SideSource, err
	}
	var present bool
	err := c.retry(ctx, desc, func() (err error) {
		present, err = c.dst.Exists(ctx, desc)
		return err
	})
	if err != nil {
		return nil, false, SideDestination, fmt.Errorf("destination: %w", err)
	}
	if present {
		data, err := cas.FetchAll(ctx, c.dst, desc, oci.MaxManifestSize)
		if err == nil {
			return data, true, SideUnknown, nil
		}
		// A destination that says it has content it cannot serve: copy
		// from the source, as if it were absent.
	}
	var data []byte
	err = c.retry(ctx, desc, func() (err error) {
		data, err = cas.FetchAll(ctx, c.src, desc, oci.MaxManifestSize)
		return err
	})
	if err != nil {
		return nil, false, SideSource, err
	}
	return data, false, SideUnknown, nil
}

// copyBlob moves one blob (config or layer) unless the destination has it.
//
// desc comes from a manifest that oci.ParseManifest accepted, which
// validated its digest and size: checking them again would cost a warm
// copy, which does little else, a third of its time (digests are checked
// with a regular expression).
func (c *copier) copyBlob(ctx context.Context, desc ocispec.Descriptor, p func() path, quiet bool) error {
	if err := c.acquire(ctx); err != nil {
		return c.fail(p(), SideUnknown, err)
	}
	defer c.release()
	var present bool
	err := c.retry(ctx, desc, func() (err error) {
		present, err = c.dst.Exists(ctx, desc)
		return err
	})
	if err != nil {
		return c.fail(p(), SideDestination, fmt.Errorf("destination: %w", err))
	}
	if present {
		if !quiet {
			c.event(Event{Kind: EventSkip, Desc: desc})
		}
		return nil
	}
	from := c.opts.MountFrom
	if c.opts.MountSource != nil {
		from = c.opts.MountSource(desc)
	}
	if c.mounter != nil && from != "" {
		err := c.retry(ctx, desc, func() error { return c.mounter.Mount(ctx, desc, from) })
		switch {
		case err == nil:
			c.event(Event{Kind: EventMount, Desc: desc})
			return nil
		case !errors.Is(err, cas.ErrNotFound) && !errors.Is(err, cas.ErrUnsupported):
			return c.fail(p(), SideDestination, fmt.Errorf("mount from %s: %w", from, err))
		}
	}
	if side, err := c.transfer(ctx, desc); err != nil {
		return c.fail(p(), side, err)
	}
	return nil
}

// transfer moves a blob from the source to the destination, retrying
// transient failures: a source that fails mid-stream is resumed where it
// stopped when it reads ranges (see resumer), and the blob restarted from
// zero otherwise, or when the destination failed.
func (c *copier) transfer(ctx context.Context, desc ocispec.Descriptor) (Side, error) {
	tries := &attempts{c: c, desc: desc}
	rf, _ := c.src.(cas.RangeFetcher)
	started := false
	for {
		side, err := c.transferOnce(ctx, desc, rf, tries, &started)
		if err == nil {
			return SideUnknown, nil
		}
		if err := tries.again(ctx, err); err != nil {
			return side, err
		}
	}
}

// transferOnce makes one attempt of transfer. The first that reaches the
// source reports EventStart; the retries carry on the same blob.
func (c *copier) transferOnce(ctx context.Context, desc ocispec.Descriptor, rf cas.RangeFetcher, tries *attempts, started *bool) (Side, error) {
	rc, err := c.src.Fetch(ctx, desc)
	if err != nil {
		return SideSource, err
	}
	if !*started {
		*started = true
		c.event(Event{Kind: EventStart, Desc: desc})
	}
	r := &resumer{ctx: ctx, desc: desc, rf: rf, tries: tries, rc: rc}
	defer r.Close()
	return c.push(ctx, desc, r)
}

// push writes r to the destination, verifying it on the way and reporting
// progress. Content another writer pushed meanwhile counts as done. On
// failure it says which side failed: the source when the content did (a
// read error, wrong bytes), whatever the destination wrapped that in.
func (c *copier) push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) (Side, error) {
	if c.opts.Progress != nil {
		r = &progressReader{r: r, c: c, desc: desc}
	}
	// The verifier goes outermost, so a store that checks what it is given
	// (cas.VerifyReader) reuses it instead of hashing the bytes again.
	v := cas.VerifyReader(r, desc)
	err := c.dst.Push(ctx, desc, v)
	switch {
	case errors.Is(err, cas.ErrExists):
	case err != nil && v.Err() != nil:
		return SideSource, v.Err()
	case err != nil:
		return SideDestination, err
	case !v.Verified():
		// The store returned before reading to the end: finish the check
		// here, so wrong bytes never pass for right ones silently.
		if err := v.Verify(); err != nil {
			return SideSource, err
		}
	}
	c.event(Event{Kind: EventDone, Desc: desc, Bytes: desc.Size})
	return SideUnknown, nil
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
