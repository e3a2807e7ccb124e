package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
)

// fleetSource puts images into an in-memory store, repository "src", tagged
// v0, v1, ...
func fleetSource(t *testing.T, imgs []testimage.Image) cas.Target {
	t.Helper()
	src, err := memory.New().Repository(t.Context(), "src")
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		if err := img.Push(t.Context(), src, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// client is one registry client of its own (own connections), as a
// separate process would have.
func client(t *testing.T, s *server, repo string) cas.Target {
	t.Helper()
	reg, err := remote.New(s.Addr, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reg.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// push copies image i of src to repo:tag on the server.
func push(ctx context.Context, t *testing.T, s *server, src cas.Target, i int, repo, tag string, opts copy.Options) error {
	dst := client(t, s, repo)
	_, err := copy.Copy(ctx, src, fmt.Sprintf("v%d", i), dst, tag, opts)
	if err != nil {
		return fmt.Errorf("push image %d to %s:%s: %w", i, repo, tag, err)
	}
	return nil
}

// pull copies repo:tag from the server into a fresh in-memory store and
// checks the root's digest.
func pull(ctx context.Context, t *testing.T, s *server, repo, tag string, want testimage.Image) error {
	dst, err := memory.New().Repository(ctx, "pulled")
	if err != nil {
		return err
	}
	root, err := copy.Copy(ctx, client(t, s, repo), tag, dst, tag, copy.Options{Concurrency: 4})
	if err != nil {
		return fmt.Errorf("pull %s:%s: %w", repo, tag, err)
	}
	if root.Digest != want.ManifestDesc.Digest {
		return fmt.Errorf("pull %s:%s: got %s, want %s", repo, tag, root.Digest, want.ManifestDesc.Digest)
	}
	return nil
}

// TestServeLoad runs 64 concurrent clients against one server: half push
// images that share base layers (several of them the same image into the
// same repository at once), half pull images pushed before. Nothing may
// fail, and the store must be clean afterwards.
func TestServeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	imgs, err := testimage.Fleet(16, 4, 256<<10, 32<<10, 7)
	if err != nil {
		t.Fatal(err)
	}
	src := fleetSource(t, imgs)
	s := startServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Images 0-7 are there before the load starts, for the pullers.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() { errs <- push(ctx, t, s, src, i, fmt.Sprintf("fleet/app%d", i), "v1", copy.Options{}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	const clients = 64
	type pushed struct {
		repo, tag string
		img       int
	}
	var (
		mu   sync.Mutex
		tags []pushed
	)
	errs = make(chan error, clients)
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			if c%2 == 1 {
				i := (c / 2) % 8
				errs <- pull(ctx, t, s, fmt.Sprintf("fleet/app%d", i), "v1", imgs[i])
				return
			}
			// Images 8-15, each pushed by four clients at once: two into the
			// same repository, two into repositories of their own.
			i := 8 + (c/2)%8
			repo := fmt.Sprintf("fleet/app%d", i)
			if c%8 >= 4 {
				repo = fmt.Sprintf("fleet/mirror%d/app%d", c, i)
			}
			tag := fmt.Sprintf("c%d", c)
			err := push(ctx, t, s, src, i, repo, tag, copy.Options{Concurrency: 2})
			if err == nil {
				mu.Lock()
				tags = append(tags, pushed{repo, tag, i})
				mu.Unlock()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var failed int
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, clients)
	}
	t.Logf("%d clients (32 pushes, 32 pulls) in %s", clients, time.Since(start).Round(time.Millisecond))

	// Every tag pushed resolves to its image and pulls whole.
	for _, p := range tags {
		if err := pull(ctx, t, s, p.repo, p.tag, imgs[p.img]); err != nil {
			t.Error(err)
		}
	}
	metrics := scrape(t, s)
	if n := metricSum(metrics, "gantry_http_requests_total", `status="5`); n != 0 {
		t.Errorf("%v requests answered with 5xx", n)
	}
	if n := metricSum(metrics, "gantry_http_requests_total", ""); n < 500 {
		t.Errorf("metrics count %v requests, want hundreds", n)
	}
	s.Stop() // checks exit 0, index.json and fsck
}

// TestServeKillDuringPush kills the server with SIGKILL while eight clients
// push, checks that fsck finds the store clean, restarts the server on the
// same root, and redoes the pushes, which must all succeed.
func TestServeKillDuringPush(t *testing.T) {
	imgs, err := testimage.Fleet(8, 2, 1<<20, 2<<20, 11)
	if err != nil {
		t.Fatal(err)
	}
	src := fleetSource(t, imgs)
	root := t.TempDir()
	s := startServer(t, root)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var (
		done     atomic.Int64
		killOnce sync.Once
		killed   = make(chan struct{})
	)
	opts := copy.Options{Concurrency: 2, Progress: func(ev copy.Event) {
		if ev.Kind == copy.EventDone && done.Add(1) == 4 {
			killOnce.Do(func() { s.Kill(); close(killed) })
		}
	}}
	var wg sync.WaitGroup
	results := make([]error, len(imgs))
	for i := range imgs {
		wg.Go(func() { results[i] = push(ctx, t, s, src, i, fmt.Sprintf("crash/app%d", i), "v1", opts) })
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the pushes ended before the server was killed")
	}
	var failed int
	for _, err := range results {
		if err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("every push succeeded although the server was killed in the middle")
	}
	t.Logf("killed after %d blobs; %d of %d pushes interrupted", done.Load(), failed, len(imgs))

	r := mustGantry(t, "fsck", root)
	if !strings.Contains(r.Stdout, "ok: no damage found") {
		t.Fatalf("fsck after kill -9:\n%s", r.Stdout)
	}
	checkIndexJSON(t, root)

	s2 := startServer(t, root)
	for i := range imgs {
		wg.Go(func() {
			results[i] = push(ctx, t, s2, src, i, fmt.Sprintf("crash/app%d", i), "v1", copy.Options{Concurrency: 2})
		})
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			t.Error("after restart:", err)
		}
	}
	for i, img := range imgs {
		if err := pull(ctx, t, s2, fmt.Sprintf("crash/app%d", i), "v1", img); err != nil {
			t.Error(err)
		}
	}
	s2.Stop()
}

// TestServeAbandonedUpload starts an upload, writes some bytes and never
// finishes it: after --upload-ttl it must be gone with its bytes. Another
// upload, kept busy for longer than the TTL, must survive and commit.
func TestServeAbandonedUpload(t *testing.T) {
	root := t.TempDir()
	s := startServer(t, root, "--upload-ttl", "1500ms", "--purge-interval", "200ms")
	before := diskUsage(t, root)

	const size = 4 << 20
	abandoned := startUpload(t, s, "demo/abandoned")
	patch(t, s, abandoned, bytes.Repeat([]byte("x"), size))
	if got := diskUsage(t, root); got < before+size {
		t.Fatalf("store grew by %d bytes after a %d-byte PATCH: where are the bytes?", got-before, size)
	}

	// A second upload written to every 300ms, for twice the TTL at least.
	busy := startUpload(t, s, "demo/busy")
	var content []byte
	began := time.Now()
	var reclaimed time.Duration
	for time.Since(began) < 10*time.Second {
		chunk := []byte(strconv.Itoa(len(content)) + "\n")
		busy = patch(t, s, busy, chunk)
		content = append(content, chunk...)
		if reclaimed == 0 && diskUsage(t, root) < before+size/2 {
			reclaimed = time.Since(began)
		}
		if reclaimed > 0 && time.Since(began) > 3*time.Second {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if reclaimed == 0 {
		t.Fatalf("abandoned upload not reclaimed within 10s: the store is %d bytes bigger than before it", diskUsage(t, root)-before)
	}
	t.Logf("abandoned upload reclaimed after about %s", reclaimed.Round(100*time.Millisecond))
	resp := do(t, http.MethodGet, s.URL(abandoned), nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status of the purged upload: %s, want 404", resp.Status)
	}

	// The busy one commits.
	d := digestOf(content)
	put := s.URL(withQuery(busy, "digest="+d))
	resp = do(t, http.MethodPut, put, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("commit of the busy upload: %s", resp.Status)
	}
	if n := metricSum(scrape(t, s), "gantry_uploads_purged_total", ""); n < 1 {
		t.Errorf("gantry_uploads_purged_total = %v, want at least 1", n)
	}
}

// startUpload POSTs to repo's uploads endpoint and returns the session's
// location (a path).
func startUpload(t *testing.T, s *server, repo string) string {
	t.Helper()
	resp := do(t, http.MethodPost, s.URL("/v2/"+repo+"/blobs/uploads/"), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %s", resp.Status)
	}
	return locationOf(t, resp)
}

// patch appends b to the upload at loc and returns its next location.
func patch(t *testing.T, s *server, loc string, b []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, s.URL(loc), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH %s: %s", loc, resp.Status)
	}
	return locationOf(t, resp)
}

func locationOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatal("no Location header")
	}
	if i := strings.Index(loc, "://"); i >= 0 { // absolute: keep the path
		rest := loc[i+3:]
		loc = rest[strings.IndexByte(rest, '/'):]
	}
	return loc
}

// withQuery adds a query parameter to a location that may have a query.
func withQuery(loc, param string) string {
	if strings.Contains(loc, "?") {
		return loc + "&" + param
	}
	return loc + "?" + param
}

func do(t *testing.T, method, url string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func digestOf(b []byte) string { return digest.FromBytes(b).String() }

// diskUsage is the bytes of the regular files under dir.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// scrape returns the server's /metrics text.
func scrape(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	return string(b)
}

// metricSum adds up the samples of a metric whose labels contain match.
func metricSum(text, name, match string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if match != "" && !strings.Contains(m[1], match) {
			continue
		}
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			sum += v
		}
	}
	return sum
}
