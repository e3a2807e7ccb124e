package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/inflate"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Options configures Analyze. The zero value works.
type Options struct {
	// Limits bounds the decompressed bytes and entries (zero: defaults).
	Limits Limits
	// Concurrency is the number of layers read at once (default: the
	// number of CPUs, at most 8).
	Concurrency int
	// InflateWorkers, when 2 or more, inflates each gzip layer of 64 MiB
	// or more on that many goroutines (internal/inflate): a big layer is
	// read faster when cores are idle, for about 1.3 times the CPU and a
	// few hundred MiB of buffers. Default 1: one goroutine per layer.
	InflateWorkers int
	// Platform picks the image of an index (default DefaultPlatform, else
	// the index's first image).
	Platform *ocispec.Platform
	// MaxSize, when positive, is the budget for the image's size (the
	// uncompressed bytes of its layers' files); over it is an error
	// finding.
	MaxSize int64
	// MaxLayers, when positive, is the budget for the number of layers.
	MaxLayers int
	// Dockerfile, when set, is the Dockerfile the image was built from:
	// its lint findings are linked to the layers they produced and priced
	// in bytes, and image findings about a layer get its line (see
	// Dockerfile).
	Dockerfile *Dockerfile
	// Scans, when set, keeps the scans of layers by digest across
	// analyses, so a layer shared by several images is read once (see
	// ScanCache). Default: every layer is read.
	Scans *ScanCache
	// Slots, when set, bounds the layers read at once by all the analyses
	// sharing it, this one's included (see Slots). Default: Concurrency
	// alone bounds this analysis's reads.
	Slots *Slots
}

// LayerInfo is what Analyze learnt about one layer.
type LayerInfo struct {
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType"`
	Compressed int64         `json:"compressed"` // blob bytes
	Bytes      int64         `json:"bytes"`      // bytes of the files it stores
	Entries    int           `json:"entries"`
	CreatedBy  string        `json:"createdBy,omitempty"`
	// Squashed says that the layer holds the changes of several
	// instructions (buildah --squash, docker build --squash), so no one
	// instruction made it and CreatedBy is empty.
	Squashed bool `json:"squashed,omitempty"`
	// Hidden is the bytes of this layer's files that later layers hide.
	Hidden int64 `json:"hidden"`
	// Hides is the bytes of earlier layers' files this layer hides.
	Hides int64 `json:"hides"`
	// Top lists the largest files this layer hides.
	Top []HiddenPath `json:"top,omitempty"`
}

// Result is the analysis of one image.
type Result struct {
	Image      string        `json:"image"`
	Digest     digest.Digest `json:"digest"`
	Layers     []LayerInfo   `json:"layers"`
	Compressed int64         `json:"compressed"` // bytes a pull moves
	// Stored is the bytes of the files of all layers.
	Stored int64 `json:"stored"`
	// Size is the bytes of the files of the final filesystem.
	Size int64 `json:"size"`
	// Wasted is Stored - Size: what the layers hold that the container
	// never sees.
	Wasted int64 `json:"wasted"`
	// DiveWasted is dive's "wasted bytes" for the same image (see
	// DiveWaste).
	DiveWasted int64             `json:"diveWasted"`
	Findings   []report.Finding  `json:"-"`
	Loaded     *Loaded           `json:"-"`
	fs         *fsys             // the final filesystem
	files      map[string][]byte // captured files of the final filesystem
	scripts    map[string][]byte // kept shell scripts of the final filesystem
	secrets    []secretFile      // secret-looking files of every layer
}

// layerScan is what one layer's walk keeps: metadata, a few small files,
// secret-looking files. A ScanDir keeps it on disk: a change to what a
// scan keeps is a change of scanFormat.
type layerScan struct {
	entries []Entry
	files   map[string][]byte
	secrets []secretFile
	bytes   int64 // of the regular files
	raw     int64 // decompressed bytes of the layer
	// verified says the scan is of bytes that matched the layer's
	// digest: only such a scan may be kept under the digest's name.
	verified bool
	// scripts are the shell scripts kept for the entrypoint analysis
	// (see scriptCandidate), scriptBytes their bytes.
	scripts     map[string][]byte
	scriptBytes int64
	head        []byte // scratch for the head of a candidate script
}

// captured are the files whose content the analysis reads (at most
// maxCapture bytes each).
var captured = map[string]bool{"etc/passwd": true, "etc/shadow": true, "etc/group": true}

const maxCapture = 1 << 20

// Analyze reads the image reference names in src and analyzes it. name is
// how findings name the image. Errors (missing or corrupt layers, hostile
// or oversized input) end the analysis of this image.
func Analyze(ctx context.Context, src cas.ReadOnlyTarget, name, reference string, opts Options) (*Result, error) {
	l, err := Load(ctx, src, reference, opts.Platform)
	if err != nil {
		return nil, err
	}
	return AnalyzeLoaded(ctx, src, name, l, opts)
}

// AnalyzeLoaded analyzes an image already loaded with Load.
func AnalyzeLoaded(ctx context.Context, src cas.ReadOnlyTarget, name string, l *Loaded, opts Options) (*Result, error) {
	lim := opts.Limits.withDefaults()
	conc := opts.Concurrency
	if conc <= 0 {
		conc = min(runtime.GOMAXPROCS(0), 8)
	}
	layers := l.Manifest.Layers
	scans := make([]*layerScan, len(layers))
	b := &budget{lim: lim}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	// Largest first: inflating a layer is one stream on one core, so the
	// biggest decides the wall time and must not wait behind small ones;
	// the rest share the other cores meanwhile.
	order := make([]int, len(layers))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return layers[order[a]].Size > layers[order[b]].Size })
	for _, i := range order {
		desc := layers[i]
		g.Go(func() error {
			s, err := scanCached(gctx, src, desc, b, opts)
			if err != nil {
				return fmt.Errorf("layer %d (%s): %w", i+1, desc.Digest, err)
			}
			scans[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r := &Result{Image: name, Digest: l.Descriptor.Digest, Loaded: l, Layers: make([]LayerInfo, len(layers))}
	entries := 0
	for _, s := range scans {
		entries += len(s.entries)
	}
	maxImplied := entries + lim.MaxImpliedDirs
	exact := newFS(len(layers), true, maxImplied)
	var rewritten []int64
	if opts.Dockerfile != nil {
		rewritten = make([]int64, len(layers))
	}
	for i, s := range scans {
		if rewritten != nil {
			rewritten[i] = exact.rewrites(s.entries)
		}
		exact.apply(i, s.entries)
		r.Layers[i] = LayerInfo{Digest: layers[i].Digest, MediaType: layers[i].MediaType, Compressed: layers[i].Size,
			Bytes: s.bytes, Entries: len(s.entries), CreatedBy: l.CreatedBy[i], Squashed: l.Squashed[i]}
		r.Compressed += layers[i].Size
		r.Stored += s.bytes
	}
	for i := range r.Layers {
		r.Layers[i].Hidden, r.Layers[i].Hides, r.Layers[i].Top = exact.hidden[i], exact.hides[i], exact.top[i]
	}
	r.fs = exact
	r.Size = du(&exact.root)
	// Files left out of the stack (see Limits.MaxImpliedDirs) are neither
	// seen nor known to be hidden: they do not count as wasted.
	r.Wasted = r.Stored - r.Size
	for _, b := range exact.unstackedBytes {
		r.Wasted -= b
	}
	r.DiveWasted = diveWaste(scans, maxImplied)
	r.files = map[string][]byte{}
	for p := range captured {
		if n := exact.lookup(p); n != nil && n.kind == KindFile {
			r.files[p] = scans[n.layer].files[p]
		}
	}
	r.scripts = map[string][]byte{}
	for i, s := range scans {
		for p, data := range s.scripts {
			if n := exact.lookup(p); n != nil && n.kind == KindFile && n.layer == i {
				r.scripts[p] = data
			}
		}
	}
	for i, s := range scans {
		for _, sf := range s.secrets {
			sf.layer = i
			r.secrets = append(r.secrets, sf)
		}
	}
	r.Findings = findings(r, opts)
	if opts.Dockerfile != nil {
		r.Findings = append(r.Findings, dockerfileFindings(r, opts.Dockerfile, &layerData{scans: scans, rewritten: rewritten})...)
		report.Sort(r.Findings)
	}
	return r, nil
}

// scanCached scans desc, or takes its scan from cache when there is one.
// A kept scan still counts against the image's budget, so an image made
// of cached layers is bounded as one read afresh is.
func scanCached(ctx context.Context, src cas.ReadOnlyTarget, desc ocispec.Descriptor, b *budget, opts Options) (*layerScan, error) {
	cache, slots := opts.Scans, opts.Slots
	read := func(b *budget) (*layerScan, error) {
		if slots != nil {
			if err := slots.acquire(ctx); err != nil {
				return nil, err
			}
			defer slots.release()
		}
		return scanLayer(ctx, src, desc, b, opts.InflateWorkers)
	}
	if cache == nil {
		return read(b)
	}
	s, err := cache.get(ctx, desc.Digest, b.lim, func() (*layerScan, error) {
		// The scan is kept for other images: it is bounded by the
		// per-layer limits alone, not by this image's running total.
		return read(&budget{lim: b.lim})
	})
	if err != nil {
		return nil, err
	}
	if t := b.total.Add(s.bytes); t > b.lim.MaxTotalBytes {
		return nil, fmt.Errorf("layer %s: image over %d bytes decompressed in all: %w", desc.Digest, b.lim.MaxTotalBytes, ErrLimit)
	}
	if t := b.entries.Add(int64(len(s.entries))); t > int64(b.lim.MaxEntries) {
		return nil, fmt.Errorf("layer %s: image over %d entries in all: %w", desc.Digest, b.lim.MaxEntries, ErrLimit)
	}
	return s, nil
}

// scanLayer reads the layer, a large gzip one inflated on workers
// goroutines (Options.InflateWorkers).
func scanLayer(ctx context.Context, src cas.ReadOnlyTarget, desc ocispec.Descriptor, b *budget, workers int) (*layerScan, error) {
	if desc.Size < minParallelInflate {
		workers = 1
	}
	s, err := scanLayerOnce(ctx, src, desc, max(workers, 1), b)
	if workers > 1 && errors.Is(err, inflate.ErrRetry) {
		// The parallel inflater could not vouch for the stream (several
		// gzip members, a corrupt one): read it again on one core, which
		// also names what is wrong with it, if anything.
		s, err = scanLayerOnce(ctx, src, desc, 1, b)
	}
	return s, err
}

func scanLayerOnce(ctx context.Context, src cas.ReadOnlyTarget, desc ocispec.Descriptor, workers int, b *budget) (*layerScan, error) {
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	v := cas.VerifyReader(rc, desc)
	s := &layerScan{files: map[string][]byte{}}
	s.raw, err = walkLayer(ctx, v, desc.Digest.String(), workers, b, func(e *Entry, content io.Reader) error {
		s.entries = append(s.entries, *e)
		if e.Kind != KindFile {
			return nil
		}
		s.bytes += e.Size
		if captured[e.Path] && e.Size <= maxCapture {
			data, err := io.ReadAll(content)
			if err != nil {
				return err
			}
			s.files[e.Path] = data
			return nil
		}
		if scriptCandidate(e) {
			var err error
			if content, err = s.keepScript(e, content); err != nil {
				return err
			}
		}
		if kind, needHead := secretName(e.Path); kind != "" {
			var head []byte
			if needHead {
				head = make([]byte, min(e.Size, secretHead))
				n, err := io.ReadFull(content, head)
				if err != nil && err != io.ErrUnexpectedEOF {
					return err
				}
				head = head[:n]
			}
			if why := secretContent(kind, head); why != "" {
				s.secrets = append(s.secrets, secretFile{path: e.Path, why: why, size: e.Size})
			}
		}
		return nil
	})
	if errors.Is(err, inflate.ErrRetry) {
		// Read again: what this read counted is not the image's.
		b.total.Add(-s.raw)
		b.entries.Add(-int64(len(s.entries)))
	}
	if err != nil {
		return nil, err
	}
	if err := v.Verify(); err != nil {
		return nil, err
	}
	s.verified = true
	return s, nil
}

// diveWaste computes dive's "wasted bytes" (dive v0.13, filetree
// Efficiency): for every path that is a leaf of two or more layers' trees,
// the sum of all its copies, the surviving one included; a whiteout counts
// as the bytes of the directory it deletes (0 for a file); opaque markers
// are ignored, and the contents of a deleted directory count only if their
// paths appear twice. Its stack makes at most maxImplied directories for
// parents no entry names, as the exact one does.
func diveWaste(scans []*layerScan, maxImplied int) int64 {
	type acc struct {
		n   int
		sum int64
	}
	paths := map[string]*acc{}
	stack := newFS(len(scans), false, maxImplied)
	for i, s := range scans {
		parent := parents(s.entries)
		// A directory deleted twice in one layer is measured once.
		deleted := map[*node]int64{}
		for j, e := range s.entries {
			if e.Kind == KindOpaque || parent[j] {
				continue
			}
			var size int64
			switch e.Kind {
			case KindWhiteout:
				if n := stack.lookup(e.Path); n != nil && n.kind == KindDir {
					var ok bool
					if size, ok = deleted[n]; !ok {
						size = du(n)
						deleted[n] = size
					}
				}
			case KindFile:
				size = e.Size
			}
			a := paths[e.Path]
			if a == nil {
				a = &acc{}
				paths[e.Path] = a
			}
			a.n++
			a.sum += size
		}
		stack.apply(i, s.entries)
	}
	var w int64
	for _, a := range paths {
		if a.n >= 2 {
			w += a.sum
		}
	}
	return w
}

// parents reports, for each entry, whether its path is a directory above
// another entry's path of the same layer (dive counts only the leaves of a
// layer's tree).
//
// The directories above a path are as many as its components, and most
// are named by no entry: putting each in a set would hash every prefix of
// every path, the depth squared for a deep one. Instead each prefix is
// looked up by a hash computed as the path is read, once, and a match is
// compared only when its length agrees; the walk up from an entry stops at
// the first entry found marked already, whose own parents were marked then.
func parents(entries []Entry) []bool {
	seed := maphash.MakeSeed()
	// byHash holds, for the hash of a path, the last entry with a path of
	// that hash; next chains the entries of one hash (a collision), -1
	// ends a chain.
	byHash := make(map[uint64]int, len(entries))
	next := make([]int, len(entries))
	find := func(h uint64, p string) (int, bool) {
		k, ok := byHash[h]
		for ok && k >= 0 {
			if entries[k].Path == p {
				return k, true
			}
			k = next[k]
		}
		return 0, false
	}
	// rep[j] is the first entry with entry j's path: entries of one path
	// share a mark. isLen[n] says whether some entry's path is n bytes
	// long: a prefix of another length is no entry's path, and needs no
	// look-up (all of them, when a layer's paths end at one depth).
	rep := make([]int, len(entries))
	maxLen := 0
	for j := range entries {
		maxLen = max(maxLen, len(entries[j].Path))
	}
	isLen := make([]bool, maxLen+1)
	for j := range entries {
		isLen[len(entries[j].Path)] = true
		h := maphash.String(seed, entries[j].Path)
		if k, ok := find(h, entries[j].Path); ok {
			rep[j] = k
			continue
		}
		rep[j], next[j] = j, -1
		if k, ok := byHash[h]; ok {
			next[j] = k
		}
		byHash[h] = j
	}
	marked := make([]bool, len(entries))
	var hs []uint64 // the hash of each proper prefix of one path that may be an entry's
	var ends []int  // and where it ends
	var mh maphash.Hash
	mh.SetSeed(seed)
	for j := range entries {
		p := entries[j].Path
		hs, ends = hs[:0], ends[:0]
		mh.Reset()
		for start := 0; ; {
			i := strings.IndexByte(p[start:], '/')
			if i < 0 {
				break
			}
			mh.WriteString(p[start : start+i])
			if isLen[start+i] {
				hs, ends = append(hs, mh.Sum64()), append(ends, start+i)
			}
			mh.WriteByte('/')
			start += i + 1
		}
		for x := len(hs) - 1; x >= 0; x-- {
			k, ok := find(hs[x], p[:ends[x]])
			if !ok {
				continue
			}
			if marked[k] {
				break
			}
			marked[k] = true
		}
	}
	out := make([]bool, len(entries))
	for j, k := range rep {
		out[j] = marked[k]
	}
	return out
}

// lines splits captured text into lines.
func lines(b []byte) []string {
	return strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
}
