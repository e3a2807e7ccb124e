package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// server is a `gantry serve` process started by startServer.
type server struct {
	t    *testing.T
	Root string
	Addr string // HOST:PORT it listens on

	cmd  *exec.Cmd
	logs *serverLog
	done chan struct{} // closed once the process has exited
	err  error         // its Wait error, once done is closed

	mu      sync.Mutex
	stopped bool
}

// startServer starts `gantry serve --addr 127.0.0.1:0 --root root` (or
// --s3 root when root is an s3:// location, with s3test's credentials) with
// the extra arguments, waits for it to log the address it listens on, and
// stops it at cleanup with SIGTERM, checking that it exits 0, leaves a valid
// index.json and a store that gantry fsck finds clean.
func startServer(t *testing.T, root string, extra ...string) *server {
	t.Helper()
	s := launchServer(t, root, extra...)
	t.Cleanup(func() {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if !stopped {
			s.Stop()
		}
	})
	return s
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// launchServer starts the process; startServer adds the cleanup.
func launchServer(t *testing.T, root string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--root", root}, extra...)
	s := &server{t: t, Root: root, logs: newServerLog(), done: make(chan struct{})}
	if strings.HasPrefix(root, "s3://") { // a store in a bucket (s3_test.go)
		args[3], s.Root = "--s3", ""
	}
	s.cmd = exec.Command(testenv.Gantry(t), args...)
	if s.Root == "" {
		s.cmd.Env = append(os.Environ(), s3test.Env()...)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	testenv.DieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start gantry serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case addr := <-s.logs.addr:
		s.Addr = addr
	case <-s.done:
		t.Fatalf("gantry serve exited before listening (%v):\n%s", s.err, s.logs.tail(50))
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("gantry serve did not log its address within a minute:\n%s", s.logs.tail(50))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gantry serve log (last lines):\n%s", s.logs.tail(80))
		}
	})
	return s
}

// Stop sends SIGTERM, checks the exit status is 0 and the store is whole:
// index.json parses and gantry fsck reports no damage.
func (s *server) Stop() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("gantry serve did not stop within a minute of SIGTERM")
	}
	if s.err != nil {
		t.Fatalf("gantry serve after SIGTERM: %v (want exit 0):\n%s", s.err, s.logs.tail(30))
	}
	if !strings.Contains(s.logs.String(), "msg=stopped") {
		t.Errorf("gantry serve did not log that it stopped")
	}
	if s.Root == "" {
		return // in a bucket: no layout to check
	}
	checkIndexJSON(t, s.Root)
	r := mustGantry(t, "fsck", s.Root)
	if !strings.Contains(r.Stdout, "ok: no damage found") {
		t.Errorf("fsck %s:\n%s", s.Root, r.Stdout)
	}
}

// Kill ends the server with SIGKILL, as a crash or the OOM killer would.
func (s *server) Kill() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	_ = s.cmd.Process.Kill()
	<-s.done
}

// URL returns the server's address with path appended.
func (s *server) URL(path string) string { return "http://" + s.Addr + path }

// checkIndexJSON checks that dir/index.json is an OCI image index.
func checkIndexJSON(t *testing.T, dir string) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json does not parse: %v\n%s", err, b)
	}
	if idx.SchemaVersion != 2 {
		t.Fatalf("index.json schemaVersion %d, want 2", idx.SchemaVersion)
	}
	return idx
}

// serverLog collects a server's output and reports the address once the
// "listening" line appears.
type serverLog struct {
	mu   sync.Mutex
	b    bytes.Buffer
	addr chan string
	sent bool
}

func newServerLog() *serverLog { return &serverLog{addr: make(chan string, 1)} }

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if !l.sent {
		if m := listeningRE.FindSubmatch(l.b.Bytes()); m != nil {
			l.sent = true
			l.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *serverLog) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

var (
	busyboxOnce sync.Once
	busyboxImg  testimage.Image
	busyboxErr  error
)

// sharedBusybox builds the busybox test image once per test process.
func sharedBusybox(t *testing.T) testimage.Image {
	t.Helper()
	testenv.Tool(t, "busybox")
	busyboxOnce.Do(func() { busyboxImg, busyboxErr = testimage.Busybox() })
	if busyboxErr != nil {
		t.Fatal(busyboxErr)
	}
	return busyboxImg
}

// pushBusybox writes the busybox image into a layout and pushes it into the
// server with gantry copy, as repo:tag.
func pushBusybox(t *testing.T, s *server, ref string) testimage.Image {
	t.Helper()
	img := sharedBusybox(t)
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1": img})
	r := mustGantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", s.Addr+"/"+ref)
	if !strings.Contains(r.Stdout, img.ManifestDesc.Digest.String()) {
		t.Fatalf("gantry copy printed %q, want the digest %s", r.Stdout, img.ManifestDesc.Digest)
	}
	return img
}

// buildahStore is the flags that give buildah a vfs store of its own
// under dir.
func buildahStore(dir string) []string {
	return []string{"--storage-driver", "vfs", "--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run")}
}

// buildahIn returns a runner of buildah on its own store under dir (see
// buildahStore); a failing command fails t.
func buildahIn(t *testing.T, buildah, dir string) func(args ...string) testenv.Result {
	return func(args ...string) testenv.Result {
		t.Helper()
		return must(t, buildah, append(buildahStore(dir), args...)...)
	}
}

// must runs a program and fails the test unless it exits 0.
func must(t *testing.T, name string, args ...string) testenv.Result {
	t.Helper()
	r := testenv.Run(t, timeout, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatalf("CI runs as root; %s", why)
		}
		t.Skipf("%s: needs root", why)
	}
}

// TestServeSecondProcessRefused checks that a second gantry on the same
// root fails at once, naming the process that holds the store.
func TestServeSecondProcessRefused(t *testing.T) {
	root := t.TempDir()
	s := startServer(t, root)
	r := gantry(t, "serve", "--addr", "127.0.0.1:0", "--root", root)
	if r.Code != 1 {
		t.Fatalf("second gantry serve: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	if want := fmt.Sprintf("in use by process %d", s.cmd.Process.Pid); !strings.Contains(r.Stderr, want) {
		t.Errorf("second gantry serve said %q, want it to say %q", r.Stderr, want)
	}
	if r := gantry(t, "fsck", root); r.Code == 0 || !strings.Contains(r.Stderr, "in use") {
		t.Errorf("fsck of a served store: exit %d, %q", r.Code, r.Stderr)
	}
}

// TestServeSkopeo copies to and from gantry with skopeo, digests unchanged.
func TestServeSkopeo(t *testing.T) {
	skopeo := testenv.Tool(t, "skopeo")
	s := startServer(t, t.TempDir())
	img := pushBusybox(t, s, "demo/busybox:1")
	want := img.ManifestDesc.Digest.String()

	out := filepath.Join(t.TempDir(), "out")
	must(t, skopeo, "copy", "--src-tls-verify=false", "--preserve-digests",
		"docker://"+s.Addr+"/demo/busybox:1", "oci:"+out+":busybox:1")
	if got := skopeoDigest(t, "oci:"+out+":busybox:1"); got != want {
		t.Fatalf("skopeo pulled %s, want %s", got, want)
	}
	must(t, skopeo, "copy", "--dest-tls-verify=false", "--preserve-digests",
		"oci:"+out+":busybox:1", "docker://"+s.Addr+"/demo/from-skopeo:2")
	if got := skopeoDigest(t, "docker://"+s.Addr+"/demo/from-skopeo:2"); got != want {
		t.Fatalf("skopeo pushed %s, want %s", got, want)
	}
	r := must(t, skopeo, "list-tags", "--tls-verify=false", "docker://"+s.Addr+"/demo/from-skopeo")
	var tags struct{ Tags []string }
	if err := json.Unmarshal([]byte(r.Stdout), &tags); err != nil || len(tags.Tags) != 1 || tags.Tags[0] != "2" {
		t.Fatalf("skopeo list-tags: %v %q", err, r.Stdout)
	}
}

// TestServeCrane drives gantry with crane: pull, push, catalog, ls,
// manifest and digest.
func TestServeCrane(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	s := startServer(t, t.TempDir())
	img := pushBusybox(t, s, "demo/busybox:1")
	want := img.ManifestDesc.Digest.String()
	ref := s.Addr + "/demo/busybox:1"

	r := must(t, crane, "manifest", "--insecure", ref)
	if r.Stdout != string(img.Manifest) {
		t.Fatalf("crane manifest:\n%s\nwant:\n%s", r.Stdout, img.Manifest)
	}
	if r := must(t, crane, "digest", "--insecure", ref); strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("crane digest %q, want %s", r.Stdout, want)
	}
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	must(t, crane, "pull", "--insecure", "--format", "oci", ref, layout)
	tarball := filepath.Join(dir, "busybox.tar")
	must(t, crane, "pull", "--insecure", ref, tarball)
	if fi, err := os.Stat(tarball); err != nil || fi.Size() < img.Layers[0].Desc.Size {
		t.Fatalf("crane pull tarball: %v", err)
	}
	r = must(t, crane, "push", "--insecure", layout, s.Addr+"/demo/from-crane:2")
	if !strings.Contains(r.Stdout, want) {
		t.Fatalf("crane push printed %q, want the digest %s", r.Stdout, want)
	}
	if r := must(t, crane, "digest", "--insecure", s.Addr+"/demo/from-crane:2"); strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("pushed by crane: digest %q, want %s", r.Stdout, want)
	}
	r = must(t, crane, "catalog", "--insecure", s.Addr)
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "demo/busybox demo/from-crane" {
		t.Fatalf("crane catalog: %q", r.Stdout)
	}
	r = must(t, crane, "ls", "--insecure", s.Addr+"/demo/busybox")
	if strings.TrimSpace(r.Stdout) != "1" {
		t.Fatalf("crane ls: %q", r.Stdout)
	}
}

// TestServeBuildah builds an image with buildah from scratch and pushes it
// to gantry, then pulls it back with gantry copy.
func TestServeBuildah(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	s := startServer(t, t.TempDir())
	base := t.TempDir()
	b := buildahIn(t, buildah, base)
	rootfs := busyboxRootfs(t)
	ctr := strings.TrimSpace(b("from", "scratch").Stdout)
	b("copy", ctr, rootfs+"/", "/")
	b("config", "--cmd", `["/bin/echo","hello from buildah"]`, ctr)
	b("commit", "-q", ctr, "localhost/gantry-e2e-built")
	digestFile := filepath.Join(base, "digest")
	b("push", "--tls-verify=false", "--digestfile", digestFile, "localhost/gantry-e2e-built", "docker://"+s.Addr+"/demo/built:1")
	d, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(string(d))

	back := filepath.Join(t.TempDir(), "back")
	r := mustGantry(t, "copy", "-q", s.Addr+"/demo/built:1", "oci:"+back+":built:1")
	if !strings.Contains(r.Stdout, pushed) {
		t.Fatalf("gantry copy of buildah's image printed %q, want digest %s", r.Stdout, pushed)
	}
	mustGantry(t, "fsck", back)
}

// busyboxRootfs is a directory with bin/busybox and a few links to it.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	testenv.Tool(t, "busybox")
	dir := t.TempDir()
	bin, err := os.ReadFile(testimage.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestServeContainerd pulls the busybox image from gantry into a real
// containerd and runs it.
func TestServeContainerd(t *testing.T) {
	requireRoot(t, "containerd runs containers as root")
	testenv.Tool(t, "containerd")
	ctrBin := testenv.Tool(t, "ctr")
	testenv.Tool(t, "runc")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "demo/busybox:1")

	sock := testenv.Containerd(t)
	ref := s.Addr + "/demo/busybox:1"
	must(t, ctrBin, "--address", sock, "images", "pull", "--plain-http", ref)
	id := fmt.Sprintf("gantry-e2e-%d", os.Getpid())
	r := must(t, ctrBin, "--address", sock, "run", "--rm", ref, id)
	if strings.TrimSpace(r.Stdout) != "hello from gantry" {
		t.Fatalf("the container printed %q, want %q", r.Stdout, "hello from gantry")
	}
}

// TestServeGracefulShutdown sends SIGTERM while an upload's body is still
// arriving. By default the request finishes and then the server exits 0;
// with a --shutdown-timeout shorter than the request, the request is cut off
// and the server still exits 0, leaving a store fsck finds clean (Stop checks
// both).
func TestServeGracefulShutdown(t *testing.T) {
	chunk := bytes.Repeat([]byte("z"), 1<<20)
	tests := []struct {
		name     string
		flags    []string
		finishes bool
	}{
		{"in-flight request finishes", nil, true},
		{"timeout cuts it off", []string{"--shutdown-timeout", "500ms"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, t.TempDir(), tc.flags...)
			loc := startUpload(t, s, "demo/slow")
			pr, pw := io.Pipe()
			req, err := http.NewRequest(http.MethodPatch, s.URL(loc), pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				resp.Body.Close()
				done <- result{status: resp.StatusCode}
			}()
			if _, err := pw.Write(chunk); err != nil { // returns once the server reads it
				t.Fatal(err)
			}
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(s.logs.String(), "shutting down") {
				if time.Now().After(deadline) {
					t.Fatal("no shutdown line 10s after SIGTERM")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tc.finishes {
				time.Sleep(300 * time.Millisecond) // shutdown is now waiting for us
				if _, err := pw.Write(chunk); err != nil {
					t.Fatalf("second chunk after SIGTERM: %v", err)
				}
				pw.Close()
				if r := <-done; r.err != nil || r.status != http.StatusAccepted {
					t.Fatalf("PATCH in flight at SIGTERM: %v, status %d; want 202", r.err, r.status)
				}
			} else {
				// The client is still sending: the server must stop anyway.
				select {
				case <-s.done:
				case <-time.After(20 * time.Second):
					t.Fatal("the server did not stop 20s after SIGTERM with --shutdown-timeout 500ms")
				}
				pw.CloseWithError(errors.New("the test stops sending"))
				if r := <-done; r.err == nil && r.status == http.StatusAccepted {
					t.Errorf("the PATCH cut off at shutdown got 202")
				}
				if !strings.Contains(s.logs.String(), "cut off") {
					t.Errorf("no warning that requests were cut off")
				}
			}
			s.Stop()
		})
	}
}
