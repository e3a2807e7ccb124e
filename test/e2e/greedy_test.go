package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// vmRSS reads the resident set of process pid from /proc, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// pushReferrers pushes a subject image into repo and n artifacts that refer
// to it, each with annotations of the given size, and returns the
// subject's digest.
func pushReferrers(t *testing.T, s *server, repo string, n, annotations int) string {
	t.Helper()
	manifest := func(body string) string {
		resp := do(t, http.MethodPut, s.URL("/v2/"+repo+"/manifests/"+digestOf([]byte(body))), strings.NewReader(body))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("push manifest: %s", resp.Status)
		}
		return digestOf([]byte(body))
	}
	if resp := do(t, http.MethodPost, s.URL("/v2/"+repo+"/blobs/uploads/?digest="+digestOf([]byte("{}"))), strings.NewReader("{}")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push the empty config: %s", resp.Status)
	}
	cfg := fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":2}`, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Digest)
	subject := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":%s,"layers":[]}`, ocispec.MediaTypeImageManifest, cfg)
	sd := manifest(subject)
	big := strings.Repeat("x", annotations)
	for i := range n {
		manifest(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.sbom","config":%s,"layers":[],"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":{"n":"%d","big":%q}}`,
			ocispec.MediaTypeImageManifest, cfg, ocispec.MediaTypeImageManifest, sd, len(subject), i, big))
	}
	return sd
}

// stalledUpload opens an upload session and a PATCH to it that sends its
// head and a few bytes, then nothing.
func stalledUpload(t *testing.T, s *server, repo string) net.Conn {
	t.Helper()
	loc := startUpload(t, s, repo)
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\nfirst bytes", loc, s.Addr)
	return conn
}

// TestServeGreedyClients is the load test of issue 9: 300 uploads that
// stall after their first bytes and 8 clients reading, over and over, the
// referrers of a subject with 40 referrers of 3 MB of annotations each. It
// checks that the readers get small, paged answers, that /v2/ keeps
// answering, and reports the server's peak RSS and the slowest /v2/ (the
// figures of BENCHMARKS.md, measured with GANTRY_BIN set to a build without
// the race detector). Then it checks that the stalled uploads end with the
// body idle timeout.
func TestServeGreedyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		stalled   = 300
		referrers = 40
		annot     = 3 << 20
		readers   = 8
		readFor   = 5 * time.Second
		idle      = 15 * time.Second
	)
	s := startServer(t, t.TempDir(), "--body-idle-timeout", idle.String(), "--max-uploads", "1000", "--max-repository-uploads", "1000")
	pid := s.cmd.Process.Pid
	sd := pushReferrers(t, s, "app", referrers, annot)
	base := vmRSS(t, pid)

	conns := make([]net.Conn, 0, stalled)
	for i := range stalled {
		conns = append(conns, stalledUpload(t, s, fmt.Sprintf("stall/%d", i%10)))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	stalledAt := time.Now()

	// Readers and the pinger keep their connections (the default client
	// keeps two per host and would open and close one per request, which
	// measures the TCP stack, not the server).
	readClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: readers}}
	pingClient := &http.Client{Transport: &http.Transport{}}
	var (
		peak     atomic.Int64
		lists    atomic.Int64
		maxBody  atomic.Int64
		pingMu   sync.Mutex
		pings    []time.Duration
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		failures = make(chan string, readers+1)
	)
	wg.Go(func() { // RSS sampler and /v2/ timer
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if r := vmRSS(t, pid); r > peak.Load() {
				peak.Store(r)
			}
			start := time.Now()
			resp, err := pingClient.Get(s.URL("/v2/"))
			if err != nil || resp.StatusCode != http.StatusOK {
				failures <- fmt.Sprintf("/v2/: %v %v", err, resp)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			pingMu.Lock()
			pings = append(pings, took)
			pingMu.Unlock()
		}
	})
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := 0
				for next := "/v2/app/referrers/" + sd; next != ""; {
					resp, err := readClient.Get(s.URL(next))
					if err != nil {
						failures <- err.Error()
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var idx ocispec.Index
					if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &idx) != nil {
						failures <- fmt.Sprintf("referrers: %s %.200s", resp.Status, b)
						return
					}
					if int64(len(b)) > maxBody.Load() {
						maxBody.Store(int64(len(b)))
					}
					n += len(idx.Manifests)
					next = ""
					if m := regexp.MustCompile(`^<([^>]+)>`).FindStringSubmatch(resp.Header.Get("Link")); m != nil {
						next = m[1]
					}
				}
				if n != referrers {
					failures <- fmt.Sprintf("referrers listed %d entries, want %d", n, referrers)
					return
				}
				lists.Add(1)
			}
		})
	}
	time.Sleep(readFor)
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	slices.Sort(pings)
	if len(pings) == 0 {
		t.Fatal("no /v2/ answer")
	}
	t.Logf("%d stalled uploads, %d readers: %d referrers lists read in %s, largest answer %d bytes; RSS %d MB before the load, peak %d MB; %d pings of /v2/: median %s, slowest %s",
		stalled, readers, lists.Load(), readFor, maxBody.Load(), base>>20, peak.Load()>>20, len(pings),
		pings[len(pings)/2].Round(time.Millisecond/10), pings[len(pings)-1].Round(time.Millisecond/10))
	if maxBody.Load() > 1<<20 {
		t.Errorf("a referrers answer of %d bytes; the annotations are not bounded", maxBody.Load())
	}
	if lists.Load() == 0 {
		t.Fatalf("no referrers list read in %s", readFor)
	}

	// The stalled uploads end with the idle timeout: each connection gets
	// its 408 (or is closed), well before twice the timeout.
	var ended atomic.Int64
	var ewg sync.WaitGroup
	for _, c := range conns {
		ewg.Go(func() {
			_ = c.SetReadDeadline(stalledAt.Add(2*idle + 10*time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil && resp.StatusCode == http.StatusRequestTimeout {
				ended.Add(1)
			}
		})
	}
	ewg.Wait()
	if ended.Load() != stalled {
		t.Errorf("%d of %d stalled uploads got 408 after the idle timeout", ended.Load(), stalled)
	}
	t.Logf("stalled uploads answered 408 about %s after they stalled", time.Since(stalledAt).Round(time.Second))
}

// TestServeUploadBounds: past --max-repository-uploads an upload gets 429
// with Retry-After; sessions never written to go after --empty-upload-ttl
// while a session with bytes stays; and made-up upload IDs are answered 404.
func TestServeUploadBounds(t *testing.T) {
	s := startServer(t, t.TempDir(), "--max-repository-uploads", "2", "--max-repository-upload-sessions", "4",
		"--empty-upload-ttl", "1s", "--purge-interval", "200ms")
	a, b := stalledUpload(t, s, "busy"), stalledUpload(t, s, "busy")
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := do(t, http.MethodPost, s.URL("/v2/busy/blobs/uploads/"), nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST with two stalled uploads in the repository: %s, want 429", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	empty := startUpload(t, s, "sessions")
	full := startUpload(t, s, "sessions")
	patch(t, s, full, []byte("kept"))
	startUpload(t, s, "sessions")
	startUpload(t, s, "sessions")
	if resp := do(t, http.MethodPost, s.URL("/v2/sessions/blobs/uploads/"), nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth session in a repository capped at 4: %s, want 429", resp.Status)
	}
	deadline = time.Now().Add(15 * time.Second)
	for do(t, http.MethodGet, s.URL(empty), nil).StatusCode != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("a session never written to outlived --empty-upload-ttl 1s by 15s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp := do(t, http.MethodGet, s.URL(full), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("session with bytes after the empty ones expired: %s, want 204", resp.Status)
	}
	if resp := do(t, http.MethodPost, s.URL("/v2/sessions/blobs/uploads/"), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST once the empty sessions expired: %s, want 202", resp.Status)
	}
	for i := range 100 {
		if resp := do(t, http.MethodPatch, s.URL(fmt.Sprintf("/v2/sessions/blobs/uploads/%032x", i)), strings.NewReader("x")); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("PATCH of a made-up upload: %s, want 404", resp.Status)
		}
	}
}
