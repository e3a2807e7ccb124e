package remote

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// startDistribution runs Debian's docker-registry (CNCF Distribution 2.8)
// on a free loopback port with filesystem storage in t.TempDir and deletes
// enabled unless deletes is false, and returns its HOST:PORT. Without the binary the test is skipped,
// or fails under CI=true, where the binary is part of the contract.
func startDistribution(t *testing.T, deletes bool) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker-registry (Debian package docker-registry) not found: %v", err)
		}
		t.Skipf("docker-registry not installed (apt-get install docker-registry): %v", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
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
`, filepath.Join(dir, "data"), deletes, addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("docker-registry log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newGGCR returns go-containerregistry's in-memory registry as an
// http.Handler.
func newGGCR() http.Handler {
	return ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
}

// serve runs h on a loopback httptest server and returns its HOST:PORT.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// newRegistry returns a client of host that reads credentials from
// dockerConfig ("" for a file that does not exist: anonymous).
func newRegistry(t *testing.T, host, dockerConfig string) *Registry {
	t.Helper()
	if dockerConfig == "" {
		dockerConfig = filepath.Join(t.TempDir(), "absent", "config.json")
	}
	r, err := New(host, Options{DockerConfig: dockerConfig})
	if err != nil {
		t.Fatalf("New(%q): %v", host, err)
	}
	return r
}
