package e2e

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
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
