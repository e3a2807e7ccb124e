package remote

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "LOCALHOST:5000": true,
		"127.0.0.1": true, "127.0.0.1:5000": true, "127.1.2.3:80": true,
		"[::1]:5000": true, "[::1]": true,
		"192.0.2.1:5000": false, "registry.example.com": false, "localhost.example.com:5000": false, "[fd00::1]:5000": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// nonLoopback returns an address of this machine that is not loopback, so
// that the scheme rule for remote hosts can be tried against a local server.
func nonLoopback(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// TestInsecure checks the scheme rule on a non-loopback address: HTTPS is
// required by default; with Insecure, an unverified certificate is accepted
// and a plain-HTTP server is detected and used.
func TestInsecure(t *testing.T) {
	ip := nonLoopback(t)
	start := func(tls bool) string {
		srv := httptest.NewUnstartedServer(newGGCR())
		srv.Listener.Close()
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Skip(err)
		}
		srv.Listener = l
		if tls {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return l.Addr().String()
	}
	plain, tls := start(false), start(true)
	for _, tc := range []struct {
		name     string
		host     string
		insecure bool
		ok       bool
	}{
		{"plain HTTP refused by default", plain, false, false},
		{"self-signed TLS refused by default", tls, false, false},
		{"plain HTTP with Insecure", plain, true, true},
		{"self-signed TLS with Insecure", tls, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := New(tc.host, Options{Insecure: tc.insecure, DockerConfig: t.TempDir() + "/none.json"})
			if err != nil {
				t.Fatal(err)
			}
			repo, err := reg.Repository(t.Context(), "insecure/test")
			if err != nil {
				t.Fatal(err)
			}
			b, desc := castest.Blob(t, 1000)
			err = repo.Push(t.Context(), desc, bytes.NewReader(b))
			if !tc.ok {
				if err == nil {
					t.Fatal("Push succeeded without Insecure")
				}
				return
			}
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if got, err := cas.FetchAll(t.Context(), repo, desc, 0); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("FetchAll: %d bytes, %v", len(got), err)
			}
			want := map[string]string{plain: "http", tls: "https"}[tc.host]
			if reg.scheme != want {
				t.Errorf("scheme = %q, want %q", reg.scheme, want)
			}
		})
	}
}

// recordingTransport answers no request: it records each URL asked for
// and fails, so that where a client would go is seen without a network.
type recordingTransport struct{ urls []string }

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.urls = append(rt.urls, req.URL.String())
	return nil, errors.New("no network in tests")
}

// TestDockerHubEndpoint checks that Docker Hub's reference names are sent
// to its API endpoint, as docker, skopeo and crane do: docker.io itself
// does not serve the distribution API.
func TestDockerHubEndpoint(t *testing.T) {
	for _, host := range []string{"docker.io", "index.docker.io", "registry-1.docker.io"} {
		t.Run(host, func(t *testing.T) {
			rt := &recordingTransport{}
			reg, err := New(host, Options{HTTPClient: &http.Client{Transport: rt}, DockerConfig: t.TempDir() + "/none.json"})
			if err != nil {
				t.Fatal(err)
			}
			repo, err := reg.Repository(t.Context(), "library/busybox")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Resolve(t.Context(), "1.36"); err == nil {
				t.Fatal("Resolve succeeded without a network")
			}
			want := "https://registry-1.docker.io/v2/library/busybox/manifests/1.36"
			if len(rt.urls) == 0 || rt.urls[0] != want {
				t.Fatalf("requests %q, want the first to be %q", rt.urls, want)
			}
		})
	}
}
