package copy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// repo returns a fresh repository of a fresh memory store.
func repo(t testing.TB, name string) cas.Target {
	t.Helper()
	r, err := memory.New().Repository(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(t testing.TB, r cas.Pusher, desc ocispec.Descriptor, b []byte) {
	t.Helper()
	if err := r.Push(context.Background(), desc, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
		t.Fatalf("push %s: %v", desc.Digest, err)
	}
}

// graph records what a test pushed, to check the destination against.
type graph struct {
	blobs map[digest.Digest][]byte
	descs map[digest.Digest]ocispec.Descriptor
}

func newGraph() *graph {
	return &graph{blobs: map[digest.Digest][]byte{}, descs: map[digest.Digest]ocispec.Descriptor{}}
}

func (g *graph) add(t testing.TB, r cas.Pusher, desc ocispec.Descriptor, b []byte) ocispec.Descriptor {
	t.Helper()
	push(t, r, desc, b)
	g.blobs[desc.Digest] = b
	g.descs[desc.Digest] = desc
	return desc
}

// blob pushes n random bytes as a layer.
func (g *graph) blob(t testing.TB, r cas.Pusher, n int) ocispec.Descriptor {
	b, desc := castest.Blob(t, n)
	return g.add(t, r, desc, b)
}

// image pushes a config, the given layers plus fresh random ones, and the
// manifest.
func (g *graph) image(t testing.TB, r cas.Pusher, fresh, size int, shared ...ocispec.Descriptor) ocispec.Descriptor {
	cb, cdesc := castest.Blob(t, 64)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	g.add(t, r, cdesc, cb)
	layers := append([]ocispec.Descriptor(nil), shared...)
	for range fresh {
		layers = append(layers, g.blob(t, r, size))
	}
	mb, mdesc := castest.Manifest(t, cdesc, layers...)
	return g.add(t, r, mdesc, mb)
}

// index pushes an index of manifests, each given its platform.
func (g *graph) index(t testing.TB, r cas.Pusher, manifests []ocispec.Descriptor, platforms []string) ocispec.Descriptor {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	idx.SchemaVersion = 2
	for i := range platforms {
		p, err := oci.ParsePlatform(platforms[i])
		if err != nil {
			t.Fatal(err)
		}
		idx.Manifests[i].Platform = &p
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return g.add(t, r, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b)
}

// has reports which of the digests dst holds.
func has(t testing.TB, dst cas.Exister, descs ...ocispec.Descriptor) []bool {
	t.Helper()
	out := make([]bool, len(descs))
	for i, d := range descs {
		ok, err := dst.Exists(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ok
	}
	return out
}

// checkAll checks that dst holds every blob of g with the right bytes.
func (g *graph) checkAll(t testing.TB, dst cas.Fetcher) {
	t.Helper()
	for d, want := range g.blobs {
		got, err := cas.FetchAll(context.Background(), dst, g.descs[d], 0)
		if err != nil {
			t.Fatalf("destination: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("destination: %s differs", d)
		}
	}
}

// counting wraps a target: it counts fetches per digest, tracks the pushes
// in flight, and can corrupt or stall what it serves.
type counting struct {
	cas.Target
	mu      sync.Mutex
	fetches map[digest.Digest]int

	inflight, maxInflight atomic.Int64
	pushDelay             time.Duration

	corrupt digest.Digest // serve this digest with one byte flipped
	stall   chan struct{} // closed by Fetch when a blob read blocks on ctx
	once    sync.Once

	// lies are tags a hostile source resolves as it likes: a layer as a
	// manifest, a wrong media type (a store of gantry's refuses them).
	lies map[string]ocispec.Descriptor
}

func (c *counting) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if d, ok := c.lies[ref]; ok {
		return d, nil
	}
	return c.Target.Resolve(ctx, ref)
}

func newCounting(t cas.Target) *counting {
	return &counting{Target: t, fetches: map[digest.Digest]int{}}
}

func (c *counting) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	c.mu.Lock()
	c.fetches[desc.Digest]++
	c.mu.Unlock()
	rc, err := c.Target.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	if desc.Digest == c.corrupt {
		b, _ := io.ReadAll(rc)
		b[len(b)/2] ^= 0xff
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if c.stall != nil && !oci.IsManifest(desc.MediaType) {
		c.once.Do(func() { close(c.stall) })
		return io.NopCloser(ctxReader{ctx}), nil
	}
	return rc, nil
}

// ctxReader blocks until ctx ends, like a network read the caller cancels.
type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

func (c *counting) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for {
		m := c.maxInflight.Load()
		if n <= m || c.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	if c.pushDelay > 0 {
		time.Sleep(c.pushDelay)
	}
	return c.Target.Push(ctx, desc, r)
}

func (c *counting) count(d digest.Digest) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches[d]
}

func (c *counting) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.fetches {
		n += v
	}
	return n
}

func TestCopySingleImage(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	m := g.image(t, src, 3, 10000)
	if err := src.Tag(t.Context(), m, "v1"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	kinds := map[copy.EventKind]int{}
	var moved int64
	opts := copy.Options{Progress: func(e copy.Event) {
		mu.Lock()
		defer mu.Unlock()
		kinds[e.Kind]++
		if e.Kind == copy.EventDone {
			moved += e.Bytes
		}
	}}
	got, err := copy.Copy(t.Context(), src, "v1", dst, "v2", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != m.Digest || got.MediaType != ocispec.MediaTypeImageManifest || got.Size != m.Size {
		t.Fatalf("Copy returned %+v, want %+v", got, m)
	}
	g.checkAll(t, dst)
	tagged, err := dst.Resolve(t.Context(), "v2")
	if err != nil || tagged.Digest != m.Digest {
		t.Fatalf("dst v2 = %s, %v; want %s", tagged.Digest, err, m.Digest)
	}
	var want int64
	for _, b := range g.blobs {
		want += int64(len(b))
	}
	if kinds[copy.EventStart] != 5 || kinds[copy.EventDone] != 5 || kinds[copy.EventRoot] != 1 || moved != want {
		t.Fatalf("events %v, %d bytes done; want 5 starts and dones, 1 root, %d bytes", kinds, moved, want)
	}
}

func TestCopyByDigestNoTag(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	m := g.image(t, src, 1, 100)
	got, err := copy.Copy(t.Context(), src, m.Digest.String(), dst, "", copy.Options{})
	if err != nil || got.Digest != m.Digest {
		t.Fatalf("Copy = %s, %v", got.Digest, err)
	}
	g.checkAll(t, dst)
	if _, err := dst.Resolve(t.Context(), "latest"); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("dst has a tag after a copy without one: %v", err)
	}
}

// multiPlatform pushes an index of three platforms whose images share a
// base layer and, for two of them, a second one.
func multiPlatform(t testing.TB, g *graph, r cas.Target) (idx ocispec.Descriptor, images []ocispec.Descriptor, shared []ocispec.Descriptor) {
	base, mid := g.blob(t, r, 20000), g.blob(t, r, 5000)
	images = []ocispec.Descriptor{
		g.image(t, r, 2, 3000, base, mid),
		g.image(t, r, 2, 3000, base, mid),
		g.image(t, r, 1, 3000, base),
	}
	idx = g.index(t, r, images, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
	if err := r.Tag(context.Background(), idx, "multi"); err != nil {
		t.Fatal(err)
	}
	return idx, images, []ocispec.Descriptor{base, mid}
}

func TestCopyIndexSharedLayers(t *testing.T) {
	g := newGraph()
	base := repo(t, "src")
	_, _, shared := multiPlatform(t, g, base)
	src := newCounting(base)
	for _, conc := range []int{1, 2, 8} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) {
			src.fetches = map[digest.Digest]int{}
			dst := repo(t, "dst")
			if _, err := copy.Copy(t.Context(), src, "multi", dst, "multi", copy.Options{Concurrency: conc}); err != nil {
				t.Fatal(err)
			}
			g.checkAll(t, dst)
			for d := range g.blobs {
				if n := src.count(d); n != 1 {
					t.Errorf("%s fetched %d times, want 1", d, n)
				}
			}
			for _, s := range shared {
				if n := src.count(s.Digest); n != 1 {
					t.Errorf("shared layer %s fetched %d times, want 1", s.Digest, n)
				}
			}
		})
	}
}

func TestCopyPlatformFilter(t *testing.T) {
	tests := []struct {
		name     string
		platform string
		want     []bool // which of the three images end up at dst
	}{
		{"amd64", "linux/amd64", []bool{true, false, false}},
		{"arm64", "linux/arm64", []bool{false, true, false}},
		{"arm64/v8 matches arm64", "linux/arm64/v8", []bool{false, true, false}},
		{"arm/v7", "linux/arm/v7", []bool{false, false, true}},
		{"arm any variant", "linux/arm", []bool{false, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			src, dst := repo(t, "src"), repo(t, "dst")
			idx, images, _ := multiPlatform(t, g, src)
			p, err := oci.ParsePlatform(tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			got, err := copy.Copy(t.Context(), src, "multi", dst, "multi", copy.Options{Platform: &p})
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != idx.Digest {
				t.Fatalf("root %s, want the unchanged index %s", got.Digest, idx.Digest)
			}
			if fmt.Sprint(has(t, dst, images...)) != fmt.Sprint(tc.want) {
				t.Fatalf("images at dst %v, want %v", has(t, dst, images...), tc.want)
			}
			b, err := cas.FetchAll(t.Context(), dst, idx, 0)
			if err != nil || digest.FromBytes(b) != idx.Digest || !bytes.Equal(b, g.blobs[idx.Digest]) {
				t.Fatalf("index at dst changed or absent: %v", err)
			}
			tagged, err := dst.Resolve(t.Context(), "multi")
			if err != nil || tagged.Digest != idx.Digest {
				t.Fatalf("tag at dst: %s, %v", tagged.Digest, err)
			}
		})
	}
}

// A sparse index at the destination does not stop a later copy of another
// platform, or of all of them.
func TestCopyCompletesSparseIndex(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	_, images, _ := multiPlatform(t, g, src)
	amd, _ := oci.ParsePlatform("linux/amd64")
	arm, _ := oci.ParsePlatform("linux/arm64")
	for _, p := range []*ocispec.Platform{&amd, &arm} {
		if _, err := copy.Copy(t.Context(), src, "multi", dst, "multi", copy.Options{Platform: p}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(has(t, dst, images...)); got != "[true true false]" {
		t.Fatalf("after amd64 then arm64: %s", got)
	}
	if _, err := copy.Copy(t.Context(), src, "multi", dst, "multi", copy.Options{}); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
}

func TestCopyPlatformAbsent(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	idx, _, _ := multiPlatform(t, g, src)
	p, _ := oci.ParsePlatform("windows/amd64")
	_, err := copy.Copy(t.Context(), src, "multi", dst, "multi", copy.Options{Platform: &p})
	if !errors.Is(err, cas.ErrNotFound) || !strings.Contains(err.Error(), "windows/amd64") || !strings.Contains(err.Error(), "linux/arm/v7") {
		t.Fatalf("got %v, want ErrNotFound naming the platform asked and those present", err)
	}
	if has(t, dst, idx)[0] {
		t.Fatal("index copied although no platform matched")
	}
}

func TestCopySkipsExisting(t *testing.T) {
	g := newGraph()
	base := repo(t, "src")
	idx, images, _ := multiPlatform(t, g, base)
	dst := repo(t, "dst")

	// The destination has the first image whole and the shared layers.
	gd := newGraph()
	for d, b := range g.blobs {
		if d == idx.Digest || d == images[1].Digest || d == images[2].Digest {
			continue
		}
		gd.add(t, dst, g.descs[d], b)
	}
	src := newCounting(base)
	var skipped atomic.Int64
	opts := copy.Options{Progress: func(e copy.Event) {
		if e.Kind == copy.EventSkip {
			skipped.Add(1)
		}
	}}
	if _, err := copy.Copy(t.Context(), src, "multi", dst, "multi", opts); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	for d := range gd.blobs {
		if n := src.count(d); n != 0 {
			t.Errorf("%s was at the destination but fetched %d times", d, n)
		}
	}
	if n := src.count(idx.Digest) + src.count(images[1].Digest) + src.count(images[2].Digest); n != 3 {
		t.Errorf("missing manifests fetched %d times, want 3", n)
	}

	// A second copy fetches nothing from the source: the index is read from
	// the destination, its image manifests are present.
	before := src.total()
	skipped.Store(0)
	if _, err := copy.Copy(t.Context(), src, "multi", dst, "again", opts); err != nil {
		t.Fatal(err)
	}
	if n := src.total() - before; n != 0 {
		t.Fatalf("second copy fetched %d times from the source, want 0", n)
	}
	if n := skipped.Load(); n != 4 { // the index and its three manifests
		t.Fatalf("second copy skipped %d, want 4", n)
	}
}

func TestCopyErrors(t *testing.T) {
	tests := []struct {
		name string
		// setup pushes the source and returns what Copy should resolve
		// and the digest the error must name.
		setup func(t *testing.T, g *graph, src *counting) (ref string, names digest.Digest)
		want  error
	}{
		{"missing layer", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			_, missing := castest.Blob(t, 1000)
			m := g.image(t, src.Target, 1, 100, missing)
			return tag(t, src, m), missing.Digest
		}, cas.ErrNotFound},
		{"missing layer in an index", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			_, missing := castest.Blob(t, 1000)
			a := g.image(t, src.Target, 1, 100)
			b := g.image(t, src.Target, 1, 100, missing)
			return tag(t, src, g.index(t, src.Target, []ocispec.Descriptor{a, b}, []string{"linux/amd64", "linux/arm64"})), missing.Digest
		}, cas.ErrNotFound},
		{"missing manifest", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			a := g.image(t, src.Target, 1, 100)
			mb, missing := castest.Manifest(t, g.blob(t, src.Target, 10))
			_ = mb
			return tag(t, src, g.index(t, src.Target, []ocispec.Descriptor{a, missing}, []string{"linux/amd64", "linux/arm64"})), missing.Digest
		}, cas.ErrNotFound},
		{"corrupted layer", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			bad := g.blob(t, src.Target, 50000)
			src.corrupt = bad.Digest
			return tag(t, src, g.image(t, src.Target, 2, 100, bad)), bad.Digest
		}, cas.ErrDigestMismatch},
		{"corrupted manifest", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			m := g.image(t, src.Target, 2, 100)
			src.corrupt = m.Digest
			return tag(t, src, m), m.Digest
		}, cas.ErrDigestMismatch},
		{"manifest over 4 MiB", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			big := g.blob(t, src.Target, oci.MaxManifestSize+1)
			big.MediaType = ocispec.MediaTypeImageManifest
			return tag(t, src, big), big.Digest
		}, cas.ErrInvalid},
		{"root is a layer", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			l := g.blob(t, src.Target, 100)
			return tag(t, src, l), l.Digest
		}, cas.ErrInvalid},
		{"root is not JSON", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			l := g.blob(t, src.Target, 100)
			l.MediaType = ocispec.MediaTypeImageManifest
			return tag(t, src, l), l.Digest
		}, cas.ErrInvalid},
		{"media type disagrees with the document", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			m := g.image(t, src.Target, 1, 100)
			m.MediaType = ocispec.MediaTypeImageIndex
			return tag(t, src, m), m.Digest
		}, cas.ErrInvalid},
		{"missing tag", func(t *testing.T, g *graph, src *counting) (string, digest.Digest) {
			return "nosuchtag", ""
		}, cas.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			src, dst := newCounting(repo(t, "src")), repo(t, "dst")
			ref, name := tc.setup(t, g, src)
			_, err := copy.Copy(t.Context(), src, ref, dst, "copied", copy.Options{Concurrency: 2})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want an error wrapping %q", err, tc.want)
			}
			var ce *copy.Error
			if !errors.As(err, &ce) || ce.Side != copy.SideSource {
				t.Fatalf("got %#v, want a *copy.Error blaming the source", err)
			}
			if name != "" && (len(ce.Path) == 0 || ce.Path[len(ce.Path)-1].Desc.Digest != name) {
				t.Fatalf("error path %+v does not end at %s", ce.Path, name)
			}
			if !strings.Contains(err.Error(), string(name)) || strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error %q does not name %s on one line", err, name)
			}
			t.Logf("error: %v", err)
			if _, err := dst.Resolve(t.Context(), "copied"); !errors.Is(err, cas.ErrNotFound) {
				t.Fatalf("the destination is tagged after a failed copy (%v)", err)
			}
			if name != "" && has(t, dst, g.descs[name])[0] {
				t.Fatalf("%s is visible at the destination", name)
			}
		})
	}
}

func tag(t *testing.T, r cas.Tagger, desc ocispec.Descriptor) string {
	t.Helper()
	if c, ok := r.(*counting); ok {
		if c.lies == nil {
			c.lies = map[string]ocispec.Descriptor{}
		}
		c.lies["src"] = desc
		return "src"
	}
	if err := r.Tag(t.Context(), desc, "src"); err != nil {
		t.Fatal(err)
	}
	return "src"
}

func TestCopyErrorPath(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	_, missing := castest.Blob(t, 1000)
	a := g.image(t, src, 1, 100, missing)
	idx := g.index(t, src, []ocispec.Descriptor{a}, []string{"linux/amd64"})
	tag(t, src, idx)
	_, err := copy.Copy(t.Context(), src, "src", dst, "x", copy.Options{})
	want := fmt.Sprintf("src > index %s > manifest %s (linux/amd64) > layer %s: ", idx.Digest.String()[:19], a.Digest.String()[:19], missing.Digest)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v\nwant a message starting %q", err, want)
	}
}

func TestCopyGraphWithoutMediaType(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	idx, _, _ := multiPlatform(t, g, src)
	root, err := src.Resolve(t.Context(), idx.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	root.MediaType = ""
	if err := copy.CopyGraph(t.Context(), src, dst, root, copy.Options{}); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
}

func TestCopySkipsNonDistributable(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	_, foreign := castest.Blob(t, 1000) // not in the source, as registries do
	foreign.MediaType = oci.MediaTypeDockerForeignLayer
	m := g.image(t, src, 1, 100, foreign)
	if _, err := copy.Copy(t.Context(), src, m.Digest.String(), dst, "v1", copy.Options{}); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	if has(t, dst, foreign)[0] {
		t.Fatal("non-distributable layer copied")
	}
}

func TestCopyCancel(t *testing.T) {
	g := newGraph()
	base := repo(t, "src")
	idx, _, _ := multiPlatform(t, g, base)
	src := newCounting(base)
	src.stall = make(chan struct{})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := copy.Copy(ctx, src, idx.Digest.String(), repo(t, "dst"), "x", copy.Options{})
		done <- err
	}()
	<-src.stall
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Copy did not return within 2s of cancellation")
	}
	// Every goroutine of the copy has ended when Copy returns. The test's own
	// goroutine above may still be exiting after its send, so allow it a
	// moment before counting.
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the copy, %d before", n, before)
	}
}

// Two copies of images sharing layers into one destination at once both
// succeed: a push that loses the race to another copy is not an error.
func TestCopyConcurrentCopies(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	shared := []ocispec.Descriptor{g.blob(t, src, 100000), g.blob(t, src, 50000)}
	a, b := g.image(t, src, 1, 1000, shared...), g.image(t, src, 1, 1000, shared...)
	for range 20 {
		dst = repo(t, "dst")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			root := []ocispec.Descriptor{a, b}[i%2]
			wg.Go(func() {
				_, errs[i] = copy.Copy(t.Context(), src, root.Digest.String(), dst, fmt.Sprint("t", i), copy.Options{})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("copy %d: %v", i, err)
			}
		}
	}
	g.checkAll(t, dst)
}

func TestCopyConcurrencyBound(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) {
			g := newGraph()
			src := repo(t, "src")
			shared := g.blob(t, src, 1000)
			var images []ocispec.Descriptor
			var platforms []string
			for i := range 50 {
				images = append(images, g.image(t, src, 2, 200, shared))
				platforms = append(platforms, fmt.Sprintf("linux/arch%d", i))
			}
			idx := g.index(t, src, images, platforms)
			dst := newCounting(repo(t, "dst"))
			dst.pushDelay = 100 * time.Microsecond
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if _, err := copy.Copy(ctx, src, idx.Digest.String(), dst, "all", copy.Options{Concurrency: conc}); err != nil {
				t.Fatal(err) // a deadlock shows as the timeout
			}
			g.checkAll(t, dst)
			if m := dst.maxInflight.Load(); m > int64(conc) || (conc > 1 && m < 2) {
				t.Fatalf("max pushes in flight %d, want <= %d (and > 1 when allowed)", m, conc)
			}
		})
	}
}

// mounting is a destination that mounts from one repository only.
type mounting struct {
	cas.Target
	from    cas.Target
	mounted atomic.Int64
}

func (m *mounting) Mount(ctx context.Context, desc ocispec.Descriptor, from string) error {
	if from != "other" {
		return fmt.Errorf("%s: %w", from, cas.ErrNotFound)
	}
	ok, _ := m.from.Exists(ctx, desc)
	if !ok {
		return fmt.Errorf("%s: %w", desc.Digest, cas.ErrNotFound)
	}
	rc, err := m.from.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	m.mounted.Add(1)
	return m.Target.Push(ctx, desc, rc)
}

func TestCopyMount(t *testing.T) {
	g := newGraph()
	src := repo(t, "src")
	m := g.image(t, src, 3, 1000)
	other := repo(t, "other")
	for d, b := range g.blobs {
		if !oci.IsManifest(g.descs[d].MediaType) {
			push(t, other, g.descs[d], b)
		}
	}
	dst := &mounting{Target: repo(t, "dst"), from: other}
	var mounts atomic.Int64
	opts := copy.Options{MountFrom: "other", Progress: func(e copy.Event) {
		if e.Kind == copy.EventMount {
			mounts.Add(1)
		}
	}}
	if _, err := copy.Copy(t.Context(), src, m.Digest.String(), dst, "v1", opts); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	if mounts.Load() != 4 || dst.mounted.Load() != 4 {
		t.Fatalf("%d mount events, %d mounts; want 4 (config and 3 layers)", mounts.Load(), dst.mounted.Load())
	}
}

// MountSource names a repository per blob: blobs it names are mounted,
// those it does not ("") are copied.
func TestCopyMountSource(t *testing.T) {
	g := newGraph()
	src := repo(t, "src")
	m := g.image(t, src, 3, 1000)
	other := repo(t, "other")
	var shared []ocispec.Descriptor
	for d, b := range g.blobs {
		if desc := g.descs[d]; desc.MediaType == ocispec.MediaTypeImageLayerGzip && len(shared) < 2 {
			push(t, other, desc, b)
			shared = append(shared, desc)
		}
	}
	if len(shared) != 2 {
		t.Fatalf("%d layers shared, want 2", len(shared))
	}
	dst := &mounting{Target: repo(t, "dst"), from: other}
	var asked atomic.Int64
	opts := copy.Options{MountSource: func(d ocispec.Descriptor) string {
		asked.Add(1)
		for _, s := range shared {
			if s.Digest == d.Digest {
				return "other"
			}
		}
		return ""
	}}
	if _, err := copy.Copy(t.Context(), src, m.Digest.String(), dst, "v1", opts); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	if dst.mounted.Load() != int64(len(shared)) || asked.Load() != 4 {
		t.Fatalf("%d mounts, MountSource asked %d times; want %d mounts, 4 questions (config and 3 layers)", dst.mounted.Load(), asked.Load(), len(shared))
	}
}

func ExampleCopy() {
	ctx := context.Background()
	store := memory.New()
	src, _ := store.Repository(ctx, "app")
	dst, _ := memory.New().Repository(ctx, "mirror/app")

	// A one-layer image, tagged v1 in src.
	pushBytes := func(mediaType string, b []byte) ocispec.Descriptor {
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		_ = src.Push(ctx, desc, bytes.NewReader(b))
		return desc
	}
	config := pushBytes(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := pushBytes(ocispec.MediaTypeImageLayer, []byte("hello"))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}})
	_ = src.Tag(ctx, pushBytes(ocispec.MediaTypeImageManifest, mb), "v1")

	var blobs atomic.Int64
	root, err := copy.Copy(ctx, src, "v1", dst, "stable", copy.Options{
		Progress: func(e copy.Event) {
			if e.Kind == copy.EventDone {
				blobs.Add(1)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("copied", blobs.Load(), "blobs")
	tagged, _ := dst.Resolve(ctx, "stable")
	fmt.Println(tagged.Digest == root.Digest, root.MediaType)
	// Output:
	// copied 3 blobs
	// true application/vnd.oci.image.manifest.v1+json
}
