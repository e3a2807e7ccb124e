package image

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
)

// DefaultScanCacheEntries is the bound of a ScanCache made with a size of
// 0: about 2 million tar entries, a few hundred megabytes at most.
const DefaultScanCacheEntries = 2_000_000

// ScanCache keeps the scans of layers by digest, so images that share
// layers (every image of a base family) have each layer read and
// decompressed once: Options.Scans. A layer's digest names its bytes, so a
// scan never goes stale. It holds at most a given number of tar entries in
// all, and forgets the least recently used layers past that. Concurrent
// analyses asking for the same layer wait for one scan of it. It is safe
// for concurrent use. A scan also keeps the layer's shell scripts that an
// entrypoint may run, at most 2 MiB of them (maxLayerScripts), which the
// bound on entries does not count. Scans are made under the Limits of the
// analysis that made them first: use one ScanCache with one Limits.
type ScanCache struct {
	mu      sync.Mutex
	max     int
	entries int
	lru     *list.List // of *cachedScan, most recent first
	byDig   map[digest.Digest]*list.Element
	flight  map[digest.Digest]*scanFlight
	scanned int64    // layers scanned, for Scanned
	dir     *ScanDir // nil: none
}

type cachedScan struct {
	d digest.Digest
	s *layerScan
}

// scanFlight is one scan in progress that others wait for.
type scanFlight struct {
	done chan struct{}
	s    *layerScan
	err  error
}

// NewScanCache returns a cache holding at most maxEntries tar entries
// (0: DefaultScanCacheEntries).
func NewScanCache(maxEntries int) *ScanCache {
	if maxEntries <= 0 {
		maxEntries = DefaultScanCacheEntries
	}
	return &ScanCache{max: maxEntries, lru: list.New(), byDig: map[digest.Digest]*list.Element{}, flight: map[digest.Digest]*scanFlight{}}
}

// WithDir makes c look for the scans it does not hold in dir, and keep
// those it makes there, so that they outlive the process (gantry check).
// Call it before c is used. It returns c.
func (c *ScanCache) WithDir(dir *ScanDir) *ScanCache {
	c.dir = dir
	return c
}

// Scanned returns the number of layers the cache had to read, which a
// cache hit (in memory or in its ScanDir) does not add to.
func (c *ScanCache) Scanned() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scanned
}

// Has reports whether the scan of layer d is kept.
func (c *ScanCache) Has(d digest.Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byDig[d]
	return ok
}

// get returns the kept scan of d, or runs scan once however many callers
// ask at the same time, and keeps its result.
//
// A scan that ends because the context of the analysis running it ended
// (canceled, or failed for another layer) is not an answer for the others
// waiting: they run it again under their own.
func (c *ScanCache) get(ctx context.Context, d digest.Digest, lim Limits, scan func() (*layerScan, error)) (*layerScan, error) {
	c.mu.Lock()
	for {
		if e, ok := c.byDig[d]; ok {
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			return e.Value.(*cachedScan).s, nil
		}
		f, ok := c.flight[d]
		if !ok {
			break
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("layer %s: %w", d, ctx.Err())
		}
		switch {
		case f.err == nil:
			return f.s, nil
		case !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded):
			return nil, f.err
		}
		c.mu.Lock()
	}
	f := &scanFlight{done: make(chan struct{})}
	c.flight[d] = f
	c.mu.Unlock()

	read := false
	if c.dir != nil {
		f.s, _ = c.dir.load(d, lim)
	}
	if f.s == nil {
		read = true
		if f.s, f.err = scan(); f.err == nil && c.dir != nil {
			c.dir.store(d, f.s)
		}
	}
	c.mu.Lock()
	delete(c.flight, d)
	if f.err == nil {
		if read {
			c.scanned++
		}
		c.keep(d, f.s)
	}
	c.mu.Unlock()
	close(f.done)
	return f.s, f.err
}

// keep adds s and evicts the least recently used scans past the bound; a
// scan larger than the bound alone is not kept. c.mu is held.
func (c *ScanCache) keep(d digest.Digest, s *layerScan) {
	n := max(1, len(s.entries))
	if n > c.max {
		return
	}
	c.byDig[d] = c.lru.PushFront(&cachedScan{d: d, s: s})
	c.entries += n
	for c.entries > c.max {
		e := c.lru.Back()
		cs := e.Value.(*cachedScan)
		c.lru.Remove(e)
		delete(c.byDig, cs.d)
		c.entries -= max(1, len(cs.s.entries))
	}
}

// Dir returns the ScanDir given to WithDir, or nil.
func (c *ScanCache) Dir() *ScanDir { return c.dir }

// Slots bounds the layers read at once by the analyses that share it
// (Options.Slots), so that several images analyzed at once (gantry check)
// read no more layers together than one bound. A layer taken from a
// ScanCache takes no slot. It is safe for concurrent use.
type Slots struct{ ch chan struct{} }

// NewSlots returns n slots (at least 1).
func NewSlots(n int) *Slots { return &Slots{ch: make(chan struct{}, max(1, n))} }

// acquire takes a slot, waiting for one as long as ctx lasts.
func (s *Slots) acquire(ctx context.Context) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Slots) release() { <-s.ch }
