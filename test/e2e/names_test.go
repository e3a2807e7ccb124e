package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// connectRecorder is an HTTPS proxy that lets nothing through: it records
// the host of every CONNECT and refuses it, so that the registry a command
// would contact is seen without a network.
type connectRecorder struct {
	mu    sync.Mutex
	hosts []string
}

func (c *connectRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.hosts = append(c.hosts, r.Method+" "+r.Host)
	c.mu.Unlock()
	http.Error(w, "no network in tests", http.StatusForbidden)
}

func (c *connectRecorder) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hosts)
}

// TestDockerHubNames checks that copy, check, fleet and bundle create read
// Docker Hub names as docker, skopeo and crane do, and go to Docker Hub's
// registry endpoint (registry-1.docker.io) for them, where copy used to
// contact https://docker.io/v2/ and refuse short names. The binary runs
// behind a proxy that refuses every connection: what is checked is where
// it would have gone.
func TestDockerHubNames(t *testing.T) {
	rec := &connectRecorder{}
	proxy := httptest.NewServer(rec)
	defer proxy.Close()
	for _, k := range []string{"HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"copy short name", []string{"copy", "-q", "busybox:1.36", "oci:" + filepath.Join(dir, "copy") + ":busybox:1.36"}},
		{"copy docker.io/library", []string{"copy", "-q", "docker.io/library/busybox:1.36", "oci:" + filepath.Join(dir, "copy") + ":busybox:1.36"}},
		{"copy docker.io/x/y", []string{"copy", "-q", "docker://docker.io/x/y:1", "oci:" + filepath.Join(dir, "copy") + ":y:1"}},
		{"check", []string{"check", "nginx"}},
		{"fleet", []string{"fleet", "busybox:1.36", "nginx:1.25"}},
		{"bundle create", []string{"bundle", "create", "-q", "-o", filepath.Join(dir, "b.tar"), "busybox:1.36"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.seen())
			r := gantry(t, tc.args...)
			if r.Code == 0 {
				t.Fatalf("succeeded without a network: %s", r.Stdout)
			}
			hosts := rec.seen()[before:]
			if len(hosts) == 0 {
				t.Fatalf("no registry contacted; stderr: %s", r.Stderr)
			}
			for _, h := range hosts {
				if h != "CONNECT registry-1.docker.io:443" {
					t.Errorf("contacted %q, want only CONNECT registry-1.docker.io:443; stderr: %s", h, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "no registry host") {
				t.Errorf("short name refused: %s", r.Stderr)
			}
		})
	}
}

// readBack checks, with crane and gantry, that the registry at addr lists
// repo in its catalog and serves repo:v1 with digest want, and that gantry
// inventory and gantry fleet --registry walk the whole registry.
func readBack(t *testing.T, addr, repo, want string) {
	t.Helper()
	crane := testenv.GoTool(t, "crane")
	r := must(t, crane, "catalog", "--insecure", addr)
	if got := strings.Fields(r.Stdout); !slices.Contains(got, repo) {
		t.Errorf("crane catalog %s: %q, want %s listed", addr, got, repo)
	}
	for _, name := range strings.Fields(r.Stdout) {
		if strings.Contains(name, ":") {
			t.Errorf("catalog of %s lists %q, not a repository name", addr, name)
		}
	}
	if r := must(t, crane, "digest", "--insecure", addr+"/"+repo+":v1"); strings.TrimSpace(r.Stdout) != want {
		t.Errorf("crane digest %s/%s:v1 = %q, want %s", addr, repo, r.Stdout, want)
	}
	inv := filepath.Join(t.TempDir(), "have.json")
	mustGantry(t, "inventory", addr, "-o", inv)
	if b, err := os.ReadFile(inv); err != nil || !strings.Contains(string(b), want) {
		t.Errorf("gantry inventory %s does not record %s: %v", addr, want, err)
	}
	mustGantry(t, "fleet", "--registry", addr)
}

// stopBundleServer stops a gantry serve --bundle (which has no store for
// Stop to check) and checks that it exits 0.
func stopBundleServer(t *testing.T, s *server) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.err != nil {
		t.Errorf("gantry serve --bundle after SIGTERM: %v", s.err)
	}
}

// TestRegistryWithPortRoundTrip: an image from a registry whose host has a
// port (127.0.0.1:PORT/apps/api:v1) goes through bundle create, then bundle
// load, bundle push and serve --bundle, and is read back with crane and
// gantry inventory and fleet under apps/api, or, with --keep-registry-host,
// under 127.0.0.1_PORT/apps/api. The repository used to be stored as
// "127.0.0.1:PORT/apps/api", listed by the catalog and then refused as
// NAME_INVALID by the same server.
func TestRegistryWithPortRoundTrip(t *testing.T) {
	requireBundleCreate(t)
	img := busybox(t)
	want := img.ManifestDesc.Digest.String()
	src := startServer(t, t.TempDir())
	layout := filepath.Join(t.TempDir(), "layout")
	layoutWith(t, layout, map[string]testimage.Image{"x:1": img})
	mustGantry(t, "copy", "-q", "oci:"+layout+":x:1", src.Addr+"/apps/api:v1")
	file := filepath.Join(t.TempDir(), "api.tar")
	createBundle(t, file, src.Addr+"/apps/api:v1")
	kept := strings.Replace(src.Addr, ":", "_", 1) + "/apps/api"

	for _, tc := range []struct {
		name  string
		flags []string
		repo  string
	}{
		{"host dropped", nil, "apps/api"},
		{"host kept", []string{"--keep-registry-host"}, kept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("load", func(t *testing.T) {
				store := filepath.Join(t.TempDir(), "store")
				r := mustGantry(t, append([]string{"bundle", "load", "-q", "--root", store, file}, tc.flags...)...)
				if !strings.Contains(r.Stdout, "oci:"+store+":"+tc.repo+":v1@"+want) {
					t.Errorf("bundle load printed %q, want %s:v1", r.Stdout, tc.repo)
				}
				s := startServer(t, store)
				readBack(t, s.Addr, tc.repo, want)
			})
			t.Run("push", func(t *testing.T) {
				dst := startServer(t, t.TempDir())
				mustGantry(t, append([]string{"bundle", "push", "-q", "--to", dst.Addr, file}, tc.flags...)...)
				readBack(t, dst.Addr, tc.repo, want)
			})
			t.Run("serve --bundle", func(t *testing.T) {
				s := launchServer(t, t.TempDir(), append([]string{"--bundle", file}, tc.flags...)...)
				defer stopBundleServer(t, s)
				readBack(t, s.Addr, tc.repo, want)
			})
		})
	}
}
