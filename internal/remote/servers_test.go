package remote

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/gantry-dev/gantry/internal/testenv"
)

// startDistribution runs Debian's docker-registry (CNCF Distribution 2.8)
// with deletes enabled or not, and returns its HOST:PORT.
func startDistribution(t *testing.T, deletes bool) string {
	t.Helper()
	return testenv.Distribution(t, testenv.DistributionOptions{NoDelete: !deletes})
}

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
