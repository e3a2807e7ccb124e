package copy_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/memory"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// flaky wraps a registry handler and misbehaves on GETs of one blob, as a
// registry behind a failing network or an overloaded proxy does. It
// counts what it sent of that blob and whether it was asked for a range.
type flaky struct {
	h    http.Handler
	path string // the blob's URL path

	// fail, given the number of the GET (from 1), returns how to
	// misbehave: cut the body after cut bytes (cut >= 0), or answer
	// status (status != 0) with retryAfter, or nothing (serve whole).
	fail func(n int) (cut int64, status int, retryAfter string)

	gets   atomic.Int64
	ranged atomic.Int64
	sent   atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != f.path {
		f.h.ServeHTTP(w, r)
		return
	}
	n := int(f.gets.Add(1))
	if r.Header.Get("Range") != "" {
		f.ranged.Add(1)
	}
	cut, status, retryAfter := int64(-1), 0, ""
	if f.fail != nil {
		cut, status, retryAfter = f.fail(n)
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		code := "UNKNOWN"
		if status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"not now"}]}`, code)
		return
	}
	f.h.ServeHTTP(&cutWriter{ResponseWriter: w, left: cut, sent: &f.sent}, r)
}

// cutWriter passes at most left bytes of the body (all if left < 0), then
// drops the connection mid-body the way a failing network does: the
// client sees the response end before its Content-Length.
type cutWriter struct {
	http.ResponseWriter
	left int64
	sent *atomic.Int64
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if w.left >= 0 && int64(len(p)) >= w.left {
		n, _ := w.ResponseWriter.Write(p[:w.left])
		w.sent.Add(int64(n))
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	if w.left >= 0 {
		w.left -= int64(len(p))
	}
	n, err := w.ResponseWriter.Write(p)
	w.sent.Add(int64(n))
	return n, err
}

// remoteSource serves an image of one config and one layer of size bytes
// from a gantry registry over memory, behind f, and returns the source
// opened with gantry's client (without the HTTP client's own retries, so
// that what is tested is the engine's), the layer, and the root's tag.
func remoteSource(t *testing.T, size int, f *flaky) (cas.ReadOnlyTarget, ocispec.Descriptor, *graph) {
	t.Helper()
	store := memory.New()
	src, err := store.Repository(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	g := newGraph()
	layer := g.blob(t, src, size)
	root := g.image(t, src, 0, 0, layer)
	if err := src.Tag(t.Context(), root, "v1"); err != nil {
		t.Fatal(err)
	}
	f.h = registry.New(store, registry.Options{})
	f.path = "/v2/app/blobs/" + layer.Digest.String()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	reg, err := remote.New(u.Host, remote.Options{DockerConfig: filepath.Join(t.TempDir(), "absent.json"), HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reg.Repository(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	return r, layer, g
}

// noRanges hides a source's cas.RangeFetcher.
type noRanges struct{ cas.ReadOnlyTarget }

func fastRetries(retries int) copy.Options {
	return copy.Options{Retries: retries, Backoff: func(int) time.Duration { return time.Millisecond }}
}

// TestCopyResumesDroppedBlob copies a layer whose GETs are cut mid-body:
// the engine resumes each with a Range request where the previous one
// stopped, so the bytes sent in all stay close to the layer's size.
func TestCopyResumesDroppedBlob(t *testing.T) {
	const size = 1 << 20
	for _, tc := range []struct {
		name    string
		fail    func(n int) (int64, int, string)
		retries int
		ranges  bool
		maxSent int64 // bytes of the layer sent in all
	}{
		{"cut once at 40%", func(n int) (int64, int, string) {
			if n == 1 {
				return size * 4 / 10, 0, ""
			}
			return -1, 0, ""
		}, 3, true, size + 64<<10},
		{"cut twice", func(n int) (int64, int, string) {
			if n <= 2 {
				return 300 << 10, 0, ""
			}
			return -1, 0, ""
		}, 3, true, size + 64<<10},
		// Every GET is cut after 100 KiB: eleven resumes, more than the
		// three retries, but each makes progress, so the count starts
		// again and the blob gets there.
		{"cut every time, progressing", func(int) (int64, int, string) { return 100 << 10, 0, "" }, 3, true, size + 64<<10},
		{"5xx then whole", func(n int) (int64, int, string) {
			if n <= 2 {
				return -1, http.StatusServiceUnavailable, ""
			}
			return -1, 0, ""
		}, 3, false, size + 64<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{fail: tc.fail}
			src, layer, g := remoteSource(t, size, f)
			dst := repo(t, "dst")
			var retries atomic.Int64
			opts := fastRetries(tc.retries)
			opts.Progress = func(e copy.Event) {
				if e.Kind == copy.EventRetry {
					retries.Add(1)
					if !errors.Is(e.Err, cas.ErrTransient) || e.Desc.Digest != layer.Digest {
						t.Errorf("retry event %+v: want the layer and a transient error", e)
					}
				}
			}
			if _, err := copy.Copy(t.Context(), src, "v1", dst, "v1", opts); err != nil {
				t.Fatal(err)
			}
			g.checkAll(t, dst)
			if sent := f.sent.Load(); sent > tc.maxSent {
				t.Errorf("the source sent %d bytes of a %d-byte layer, want at most %d: the blob was fetched again from zero", sent, size, tc.maxSent)
			}
			if tc.ranges && f.ranged.Load() == 0 {
				t.Error("no Range request: the blob was not resumed")
			}
			if retries.Load() == 0 {
				t.Error("no EventRetry reported")
			}
			t.Logf("%d GETs (%d ranged), %d bytes sent for %d, %d retries", f.gets.Load(), f.ranged.Load(), f.sent.Load(), size, retries.Load())
		})
	}
}

// TestCopyRestartsWithoutRanges: a source that cannot read ranges has the
// blob restarted from zero, within the same retry budget.
func TestCopyRestartsWithoutRanges(t *testing.T) {
	const size = 256 << 10
	f := &flaky{fail: func(n int) (int64, int, string) {
		if n <= 2 {
			return size / 2, 0, ""
		}
		return -1, 0, ""
	}}
	src, _, g := remoteSource(t, size, f)
	dst := repo(t, "dst")
	if _, err := copy.Copy(t.Context(), noRanges{src}, "v1", dst, "v1", fastRetries(3)); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	if f.ranged.Load() != 0 || f.gets.Load() != 3 {
		t.Errorf("%d GETs, %d ranged; want 3 whole GETs", f.gets.Load(), f.ranged.Load())
	}
}

// TestCopyGivesUp: a source that keeps failing without progress fails the
// copy once the retries are spent, with an error that says so and blames
// the source, and the destination is not tagged.
func TestCopyGivesUp(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name    string
		fail    func(int) (int64, int, string)
		hide    bool // the source reads no ranges
		retries int
		gets    int64
	}{
		{"503 every time", func(int) (int64, int, string) { return -1, http.StatusServiceUnavailable, "" }, false, 3, 4},
		{"cut before the first byte", func(int) (int64, int, string) { return 0, 0, "" }, false, 2, 3},
		{"cut at the same place, no ranges", func(int) (int64, int, string) { return size / 2, 0, "" }, true, 3, 4},
		{"no retries", func(int) (int64, int, string) { return -1, http.StatusBadGateway, "" }, false, -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{fail: tc.fail}
			src, layer, _ := remoteSource(t, size, f)
			if tc.hide {
				src = noRanges{src}
			}
			dst := repo(t, "dst")
			_, err := copy.Copy(t.Context(), src, "v1", dst, "v1", fastRetries(tc.retries))
			var ce *copy.Error
			if !errors.As(err, &ce) || !errors.Is(err, cas.ErrTransient) || ce.Side != copy.SideSource {
				t.Fatalf("got %v; want a *copy.Error blaming the source, wrapping cas.ErrTransient", err)
			}
			if last := ce.Path[len(ce.Path)-1]; last.Kind != "layer" || last.Desc.Digest != layer.Digest {
				t.Fatalf("error located at %+v, want the layer", last)
			}
			if tc.retries >= 0 && !strings.Contains(err.Error(), "gave up after") {
				t.Errorf("error %q does not say the retries are spent", err)
			}
			if got := f.gets.Load(); got != tc.gets {
				t.Errorf("%d GETs of the layer, want %d", got, tc.gets)
			}
			if _, err := dst.Resolve(t.Context(), "v1"); !errors.Is(err, cas.ErrNotFound) {
				t.Errorf("the destination is tagged after a failed copy (%v)", err)
			}
			t.Log(err)
		})
	}
}

// TestCopyHonoursRetryAfter: a 429 with Retry-After makes the engine wait
// what the registry asked for, not its own shorter backoff.
func TestCopyHonoursRetryAfter(t *testing.T) {
	f := &flaky{fail: func(n int) (int64, int, string) {
		if n == 1 {
			return -1, http.StatusTooManyRequests, "1"
		}
		return -1, 0, ""
	}}
	src, _, g := remoteSource(t, 4096, f)
	dst := repo(t, "dst")
	start := time.Now()
	if _, err := copy.Copy(t.Context(), src, "v1", dst, "v1", fastRetries(3)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the copy took %v: it did not wait the second the registry asked for", d)
	}
	g.checkAll(t, dst)
}

// TestCopyKeepsCompletedBlobs: when one blob fails for good, the blobs
// that completed stay at the destination, and the next copy moves only
// what is missing.
func TestCopyKeepsCompletedBlobs(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	f := &flaky{fail: func(int) (int64, int, string) {
		if broken.Load() {
			return -1, http.StatusServiceUnavailable, ""
		}
		return -1, 0, ""
	}}
	store := memory.New()
	src, err := store.Repository(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	g := newGraph()
	bad := g.blob(t, src, 1000)
	good := g.blob(t, src, 1000)
	root := g.image(t, src, 0, 0, good, bad)
	if err := src.Tag(t.Context(), root, "v1"); err != nil {
		t.Fatal(err)
	}
	f.h = registry.New(store, registry.Options{})
	f.path = "/v2/app/blobs/" + bad.Digest.String()
	var mu sync.Mutex
	fetched := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			mu.Lock()
			fetched[r.URL.Path]++
			mu.Unlock()
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	reg, err := remote.New(u.Host, remote.Options{DockerConfig: filepath.Join(t.TempDir(), "absent.json"), HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	rsrc, err := reg.Repository(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	dst := repo(t, "dst")
	// The bad layer's one retry waits long enough for the good layer to
	// be done before the failure stops the copy.
	opts := copy.Options{Retries: 1, Backoff: func(int) time.Duration { return 200 * time.Millisecond }}
	if _, err := copy.Copy(t.Context(), rsrc, "v1", dst, "v1", opts); !errors.Is(err, cas.ErrTransient) {
		t.Fatalf("copy with a failing layer: %v", err)
	}
	if ok := has(t, dst, good, bad); !ok[0] || ok[1] {
		t.Fatalf("after the failure the destination has good=%v bad=%v; want the good layer kept", ok[0], ok[1])
	}
	broken.Store(false)
	if _, err := copy.Copy(t.Context(), rsrc, "v1", dst, "v1", opts); err != nil {
		t.Fatal(err)
	}
	g.checkAll(t, dst)
	if n := fetched["/v2/app/blobs/"+good.Digest.String()]; n != 1 {
		t.Errorf("the completed layer was fetched %d times, want 1", n)
	}
}
