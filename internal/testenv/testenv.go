// Package testenv gives tests the real tools and servers they run against:
// it finds a tool (failing, not skipping, when CI=true and it is missing),
// starts CNCF Distribution on a free loopback port, and builds the gantry
// binary once per test process.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where a missing tool is a
// failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Tool returns the path of the named program. When it is missing the test
// fails under CI=true (scripts/install-test-deps.sh installs it) and is
// skipped elsewhere.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if InCI() {
		t.Fatalf("%s not found: CI must install it (scripts/install-test-deps.sh)", name)
	}
	t.Skipf("%s not found; run scripts/install-test-deps.sh", name)
	return ""
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + FreePorts(t, 1)[0]
}

// FreePorts returns n distinct loopback ports that were free a moment ago.
// Every listener is held until all are drawn: a port closed and drawn
// again at once can come back (about 1 in 5,000 draws here), and two
// servers of a test would then ask for the same port.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	ports := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, ports[i], _ = net.SplitHostPort(l.Addr().String())
	}
	return ports
}

// DistributionOptions configures Distribution. The zero value enables
// deletes.
type DistributionOptions struct {
	// NoDelete disables the DELETE API (Distribution's default), to test
	// clients against a registry that refuses it.
	NoDelete bool
}

// Distribution starts Debian's docker-registry (CNCF Distribution 2.8) with
// filesystem storage in a temporary directory, waits until it answers, and
// returns its HOST:PORT. It stops with the test; its log is shown if the
// test failed.
func Distribution(t testing.TB, opts DistributionOptions) string {
	t.Helper()
	bin := Tool(t, "docker-registry")
	dir := t.TempDir()
	addr := FreeAddr(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, filepath.Join(dir, "data"), !opts.NoDelete, addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logs := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", logs.String())
		}
	})
	WaitHTTP(t, "http://"+addr+"/v2/", 10*time.Second, logs)
	return addr
}

// SyncBuffer is a bytes.Buffer that several goroutines (a child's two
// output streams, a server writing logs while a test reads them) can share.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitHTTP polls url until it answers (any status) or the timeout passes.
func WaitHTTP(t testing.TB, url string, timeout time.Duration, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %s; server output:\n%s", url, timeout, logs)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Gantry builds the gantry binary once per test process (into a directory
// removed when the process ends is not possible from a test, so it goes
// under the OS temp dir, named by PID) and returns its path. The build has
// the race detector, which multiplies memory use; GANTRY_BIN names a binary
// to use instead, for tests that measure it (BENCHMARKS.md).
func Gantry(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GANTRY_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "gantry-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gantry")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/gantry")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs a program to completion with a timeout and returns its output
// and exit code; it fails the test only if the program cannot be started.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v did not finish within %s; stderr:\n%s", name, args, timeout, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// GoTool returns the path of a program installed with go install
// (scripts/install-test-deps.sh puts crane and helm in $GOPATH/bin), which
// need not be on PATH. A missing program fails the test under CI=true and
// skips it elsewhere, as with Tool.
func GoTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return Tool(t, name)
}

// Containerd starts Debian's containerd as root with its root, state and
// socket in a fresh directory (under the OS temp dir: a socket path must be
// short), without its CRI plugin, and returns the socket's path once ctr
// answers on it. It stops with the test; its log is shown if the test
// failed.
func Containerd(t testing.TB) string {
	t.Helper()
	return ContainerdIn(t, "")
}

// ContainerdIn is Containerd with the daemon in the network namespace
// netns (made by ip netns add), where its pulls then come from; "" is this
// process's namespace. It enters the namespace with nsenter rather than
// ip netns exec, which mounts a /sys of its own without the cgroup
// hierarchy that runc needs.
func ContainerdIn(t testing.TB, netns string) string {
	t.Helper()
	bin := Tool(t, "containerd")
	ctr := Tool(t, "ctr")
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.toml")
	// Only what pull, import and run need.
	conf := `version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
`
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	args := []string{bin, "--config", cfg, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock}
	if netns != "" {
		args = append([]string{Tool(t, "nsenter"), "--net=/run/netns/" + netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	logs := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("containerd log (end):\n%s", tail(logs.String(), 40))
		}
		_ = os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil && exec.Command(ctr, "--address", sock, "version").Run() == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer within 30s:\n%s", tail(logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
