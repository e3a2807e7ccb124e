package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fileWriter is a ResponseWriter like net/http's own: it has ReadFrom, and
// records what reaches it by which path.
type fileWriter struct {
	h       http.Header
	status  int
	flushes int

	viaWrite    int64 // bytes copied through userspace buffers
	viaReadFrom int64
	fileBacked  bool // every ReadFrom got a reader net/http can sendfile from
	readFroms   int
}

func newFileWriter() *fileWriter { return &fileWriter{h: http.Header{}, fileBacked: true} }

func (f *fileWriter) Header() http.Header { return f.h }
func (f *fileWriter) WriteHeader(code int) {
	if f.status == 0 {
		f.status = code
	}
}
func (f *fileWriter) Write(p []byte) (int, error) { f.viaWrite += int64(len(p)); return len(p), nil }
func (f *fileWriter) Flush()                      { f.flushes++ }

// ReadFrom checks src the way net's sendfile does: an *io.LimitedReader is
// unwrapped, then the reader must be a file (it has a file descriptor).
func (f *fileWriter) ReadFrom(src io.Reader) (int64, error) {
	f.readFroms++
	r := src
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	if _, ok := r.(syscall.Conn); !ok {
		f.fileBacked = false
	}
	n, err := io.Copy(io.Discard, src)
	f.viaReadFrom += n
	return n, err
}

func bigFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, b
}

// TestResponseWriterForwardsReaderFrom checks that the logging and metrics
// wrapper hands a file to the server's ReadFrom unchanged, whichever way a
// handler copies it, so net/http can use sendfile.
func TestResponseWriterForwardsReaderFrom(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name string
		copy func(w http.ResponseWriter, f *os.File) error
	}{
		{"io.Copy", func(w http.ResponseWriter, f *os.File) error { _, err := io.Copy(w, f); return err }},
		{"io.CopyN", func(w http.ResponseWriter, f *os.File) error { _, err := io.CopyN(w, f, size); return err }},
		{"http.ServeContent", func(w http.ResponseWriter, f *os.File) error {
			http.ServeContent(w, httptest.NewRequest(http.MethodGet, "/", nil), "", time.Time{}, f)
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := bigFile(t, size)
			fw := newFileWriter()
			rw := &responseWriter{ResponseWriter: fw}
			if err := tc.copy(rw, f); err != nil {
				t.Fatal(err)
			}
			if fw.readFroms == 0 || !fw.fileBacked {
				t.Fatalf("ReadFrom calls %d, file-backed %t: the file did not reach the server's ReadFrom as a file", fw.readFroms, fw.fileBacked)
			}
			if fw.viaWrite > 512 { // ServeContent sniffs nothing when the type is set, but allow a sniff
				t.Errorf("%d bytes went through Write, want the file through ReadFrom", fw.viaWrite)
			}
			if rw.written != size || rw.statusCode() != http.StatusOK {
				t.Errorf("recorded %d bytes, status %d; want %d, 200", rw.written, rw.statusCode(), size)
			}
		})
	}
	t.Run("Flush", func(t *testing.T) {
		fw := newFileWriter()
		rw := &responseWriter{ResponseWriter: fw}
		if err := http.NewResponseController(rw).Flush(); err != nil {
			t.Fatal(err)
		}
		if fw.flushes != 1 {
			t.Errorf("flushes reaching the server's writer: %d, want 1", fw.flushes)
		}
	})
}

// TestServeBlobGETSendfile sends a blob GET of a big file through the whole
// stack serve builds (instrumentation, ops routing, the registry over the
// disk store) and checks the file reaches the server's ReadFrom as a file.
func TestServeBlobGETSendfile(t *testing.T) {
	const size = 16 << 20
	root := t.TempDir()
	store, err := disk.Open(root, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: size}
	repo, err := store.Repository(t.Context(), "big/blob")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	m := newServeMetrics(store, slog.New(slog.DiscardHandler))
	var logs bytes.Buffer
	h := instrument(withOps(registry.New(store, registry.Options{}), http.NotFoundHandler()), slog.New(slog.NewTextHandler(&logs, nil)), m)

	fw := newFileWriter()
	h.ServeHTTP(fw, httptest.NewRequest(http.MethodGet, "/v2/big/blob/blobs/"+desc.Digest.String(), nil))
	if fw.status != 0 && fw.status != http.StatusOK {
		t.Fatalf("status %d", fw.status)
	}
	if fw.viaReadFrom+fw.viaWrite != size {
		t.Fatalf("served %d bytes, want %d", fw.viaReadFrom+fw.viaWrite, size)
	}
	if !fw.fileBacked || fw.viaWrite > 512 {
		t.Fatalf("%d bytes through Write, %d through ReadFrom (file-backed %t): a blob GET must reach net/http as a file, for sendfile",
			fw.viaWrite, fw.viaReadFrom, fw.fileBacked)
	}
	line := logs.String()
	for _, want := range []string{"msg=request", "method=GET", "route=blob_get", "status=200", fmt.Sprintf("out=%d", size), "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

var addrRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// serveInProcess runs gantry with args in this process until the test
// ends, and returns the address it listens on and its log.
func serveInProcess(t *testing.T, args ...string) (string, *testenv.SyncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.SyncBuffer{}
	code := make(chan int, 1)
	go func() { code <- Main(ctx, args, strings.NewReader(""), io.Discard, stderr) }()
	stop := func() int {
		cancel()
		select {
		case c := <-code:
			code <- c
			return c
		case <-time.After(20 * time.Second):
			t.Fatalf("gantry serve did not stop within 20s:\n%s", stderr)
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], stderr, stop
		}
		select {
		case c := <-code:
			t.Fatalf("gantry serve exited %d:\n%s", c, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("gantry serve did not listen within 10s:\n%s", stderr)
	return "", nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeSettingsAndOps runs gantry serve in process with settings from
// the config file and the environment, and checks /healthz, /metrics, the
// request log and a clean shutdown.
func TestServeSettingsAndOps(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("serve:\n  allow-sparse: true\n  upload-ttl: 2h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GANTRY_ROOT", root)
	addr, logs, stop := serveInProcess(t, "--config", cfg, "serve", "--addr", "127.0.0.1:0")
	for _, want := range []string{"root=" + root, "allow_sparse=true", "upload_ttl=2h0m0s"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("listening line lacks %q:\n%s", want, logs)
		}
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/v2/"); code != http.StatusOK {
		t.Errorf("/v2/: %d", code)
	}

	// A chunked upload, timed from its POST to its PUT.
	blob := []byte("some layer")
	resp, err := http.Post("http://"+addr+"/v2/demo/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	req, _ := http.NewRequest(http.MethodPatch, resolveLoc(addr, loc), bytes.NewReader(blob))
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc = resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequest(http.MethodPut, resolveLoc(addr, loc)+sep+"digest="+digest.FromBytes(blob).String(), nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload PUT: %s", resp.Status)
	}

	code, metrics := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`gantry_http_requests_total{route="ping",status="200"} 1`,
		`gantry_http_requests_total{route="upload_patch",status="202"} 1`,
		`gantry_http_request_bytes_total{route="upload_patch"} 10`,
		`gantry_http_request_duration_seconds_count{route="ping"} 1`,
		"gantry_upload_duration_seconds_count 1",
		"gantry_store_blobs 1",
		"gantry_store_size_bytes 10",
		"gantry_uploads_purged_total 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`msg=request method=GET path=/v2/ route=ping status=200 in=0 out=\d+ duration=\S+ remote=127\.0\.0\.1:\d+`).MatchString(logs.String()) {
		t.Errorf("no request line for GET /v2/ in:\n%s", logs)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d after cancel:\n%s", code, logs)
	}
	if _, err := os.Stat(filepath.Join(root, "index.json")); err != nil {
		t.Errorf("index.json after shutdown: %v", err)
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no stop line:\n%s", logs)
	}
}

func resolveLoc(addr, loc string) string {
	if strings.HasPrefix(loc, "http") {
		return loc
	}
	return "http://" + addr + loc
}

// TestServeMetricsAddr checks that with --metrics-addr, /metrics and
// /healthz move to that address.
func TestServeMetricsAddr(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	maddr := freeAddr(t)
	addr, _, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir(), "--metrics-addr", maddr)
	if code, _ := get(t, "http://"+maddr+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics on --metrics-addr: %d", code)
	}
	if code, _ := get(t, "http://"+maddr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on --metrics-addr: %d", code)
	}
	if code, _ := get(t, "http://"+addr+"/metrics"); code == http.StatusOK {
		t.Errorf("/metrics still on --addr")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

// TestServeUsageErrors checks that bad settings exit 2 before anything
// is opened.
func TestServeUsageErrors(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	root := filepath.Join(t.TempDir(), "never")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"argument", []string{"serve", "--root", root, "extra"}, "unknown command"},
		{"zero ttl", []string{"serve", "--root", root, "--upload-ttl", "0s"}, "--upload-ttl"},
		{"bad addr", []string{"serve", "--root", root, "--addr", "5000"}, "--addr"},
		{"bad metrics addr", []string{"serve", "--root", root, "--metrics-addr", "nope"}, "--metrics-addr"},
		{"bad s3 location", []string{"serve", "--root", root, "--s3", "https://bucket.example.com/p"}, "--s3"},
		{"unknown s3 parameter", []string{"serve", "--root", root, "--s3", "s3://bucket?endpint=http://x"}, "unknown parameter"},
		{"s3 and bundle", []string{"serve", "--root", root, "--s3", "s3://bucket", "--bundle", "b.tar"}, "--s3 and --bundle"},
		{"gc on s3", []string{"serve", "--s3", "s3://bucket", "--gc-interval", "1h"}, "no garbage collection yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Main(context.Background(), tc.args, strings.NewReader(""), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, %q; want 2 and %q", code, stderr.String(), tc.want)
			}
			if _, err := os.Stat(root); err == nil {
				t.Errorf("the store directory was created")
			}
		})
	}
}

func TestLocationPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v2/a/blobs/uploads/x":                  "/v2/a/blobs/uploads/x",
		"/v2/a/blobs/uploads/x?state=1":          "/v2/a/blobs/uploads/x",
		"http://h:5000/v2/a/blobs/uploads/x?s=1": "/v2/a/blobs/uploads/x",
		"https://h":                              "/",
	} {
		if got := locationPath(in); got != want {
			t.Errorf("locationPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServeBundleStart checks what serve --bundle does before it listens:
// it refuses a damaged bundle, naming the damaged blob, and logs the
// bundle it serves, not a --root it does not use.
func TestServeBundleStart(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	fleet, err := testimage.Fleet(1, 1, 64<<10, 8<<10, 13)
	if err != nil {
		t.Fatal(err)
	}
	file := makeBundle(t, "registry.example.com", map[string]testimage.Image{"team/a:1": fleet[0]}, bundle.CreateOptions{})
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	layer := fleet[0].Layers[0]
	i := strings.Index(string(data), string(layer.Data[:64]))
	if i < 0 {
		t.Fatal("layer not found in the bundle")
	}
	data[i+1000] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "unused-root")

	t.Run("sound", func(t *testing.T) {
		addr, logs, stop := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", root, "--bundle", file)
		if code, _ := get(t, "http://"+addr+"/v2/team/a/blobs/"+layer.Desc.Digest.String()); code != http.StatusOK {
			t.Errorf("GET layer: %d", code)
		}
		if code := stop(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs)
		}
		if strings.Contains(logs.String(), root) || strings.Contains(logs.String(), "root=") {
			t.Errorf("serve --bundle logs the --root it does not use:\n%s", logs)
		}
		if !strings.Contains(logs.String(), "bundle="+file) || !strings.Contains(logs.String(), "msg=\"bundle verified\"") {
			t.Errorf("serve --bundle does not log the bundle it verified and serves:\n%s", logs)
		}
		if _, err := os.Stat(root); err == nil {
			t.Errorf("serve --bundle created the --root it does not use")
		}
	})
	t.Run("damaged", func(t *testing.T) {
		code, _, errs := gantry(t, "serve", "--addr", "127.0.0.1:0", "--bundle", bad)
		if code != 1 || !strings.Contains(errs, layer.Desc.Digest.String()) || !strings.Contains(errs, "damaged") {
			t.Fatalf("serve --bundle of a damaged bundle: exit %d: %s", code, errs)
		}
		if strings.Contains(errs, "msg=listening") {
			t.Fatalf("listened before refusing:\n%s", errs)
		}
		t.Log(errs)
	})
}

// TestServeS3: serve takes its S3 location from GANTRY_S3 and credentials
// from the AWS variables, says where it serves from, and takes a push.
func TestServeS3(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GANTRY_S3", loc)
	for _, kv := range s3test.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	addr, logs, stop := serveInProcess(t, "serve", "--addr", "127.0.0.1:0")
	if !strings.Contains(logs.String(), fmt.Sprintf("s3=%q", loc)) {
		t.Errorf("listening line lacks s3=%s:\n%s", loc, logs)
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	blob := []byte("a layer in a bucket")
	d := digest.FromBytes(blob)
	resp, err := http.Post("http://"+addr+"/v2/demo/app/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic push: %s", resp.Status)
	}
	if code, body := get(t, "http://"+addr+"/v2/demo/app/blobs/"+d.String()); code != http.StatusOK || body != string(blob) {
		t.Fatalf("blob GET: %d %q", code, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after its context ended", code)
	}
}
