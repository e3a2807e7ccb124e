package image

import (
	"container/list"
	"context"
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
	scanned int64 // layers scanned, for Scanned
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

// Scanned returns the number of layers the cache had to read, which a
// cache hit does not add to.
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
func (c *ScanCache) get(ctx context.Context, d digest.Digest, scan func() (*layerScan, error)) (*layerScan, error) {
	c.mu.Lock()
	if e, ok := c.byDig[d]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cachedScan).s, nil
	}
	if f, ok := c.flight[d]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("layer %s: %w", d, ctx.Err())
		}
		if f.err != nil {
			return nil, f.err
		}
		return f.s, nil
	}
	f := &scanFlight{done: make(chan struct{})}
	c.flight[d] = f
	c.mu.Unlock()

	f.s, f.err = scan()
	c.mu.Lock()
	delete(c.flight, d)
	if f.err == nil {
		c.scanned++
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
