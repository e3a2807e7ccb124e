package remote

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
)

// tokenFront puts a Bearer-token server in front of h, on one loopback
// server: GET /token checks Basic credentials user:pass and issues a random
// token; every other request needs "Authorization: Bearer TOKEN" with an
// issued token, else it gets a 401 challenge naming the realm. It counts the
// tokens issued.
type tokenFront struct {
	h          http.Handler
	user, pass string
	host       string

	mu     sync.Mutex
	tokens map[string]bool
	issued atomic.Int64
}

func (f *tokenFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		u, p, ok := r.BasicAuth()
		if !ok || u != f.user || p != f.pass {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad or missing credentials"}]}`)
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := hex.EncodeToString(b)
		f.mu.Lock()
		f.tokens[tok] = true
		f.mu.Unlock()
		f.issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok = ok && f.tokens[tok]
	f.mu.Unlock()
	if !ok {
		w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="gantry-test"`, f.host))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	f.h.ServeHTTP(w, r)
}

func startTokenFront(t *testing.T) *tokenFront {
	f := &tokenFront{h: newGGCR(), user: "alice", pass: "s3cret", tokens: map[string]bool{}}
	f.host = serve(t, f)
	return f
}

// basicFront puts Basic authentication in front of h.
func basicFront(h http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("Www-Authenticate", `Basic realm="gantry-test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeDockerConfig writes a docker config.json with one basic "auths"
// entry for host, as docker login writes it.
func writeDockerConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConformanceTokenAuth runs the suite through a Bearer-token server with
// credentials from config.json: every request path (including blob uploads,
// whose bodies cannot be replayed after a challenge) must authenticate.
func TestConformanceTokenAuth(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store {
			skipLimits(t, ggcrLimits)
			f := startTokenFront(t)
			return newRegistry(t, f.host, writeDockerConfig(t, f.host, f.user, f.pass))
		},
	})
}

func TestTokenCache(t *testing.T) {
	f := startTokenFront(t)
	reg := newRegistry(t, f.host, writeDockerConfig(t, f.host, f.user, f.pass))
	repo, err := reg.Repository(t.Context(), "cache/test")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, desc := castest.Blob(t, 1000)
		if err := repo.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		if ok, err := repo.Exists(t.Context(), desc); err != nil || !ok {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
	}
	// One token for pull, one for pull+push: not one per request.
	if n := f.issued.Load(); n > 2 {
		t.Errorf("%d tokens fetched for 15 requests in one repository, want at most 2", n)
	}
}

func TestBasicAuth(t *testing.T) {
	host := serve(t, basicFront(newGGCR(), "bob", "pw"))
	reg := newRegistry(t, host, writeDockerConfig(t, host, "bob", "pw"))
	repo, err := reg.Repository(t.Context(), "basic/test")
	if err != nil {
		t.Fatal(err)
	}
	b, desc := castest.Blob(t, 100000)
	if err := repo.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatalf("Push with basic auth: %v", err)
	}
	got, err := cas.FetchAll(t.Context(), repo, desc, 0)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("FetchAll with basic auth: %d bytes, %v", len(got), err)
	}
}

func TestMissingLogin(t *testing.T) {
	f := startTokenFront(t)
	basic := serve(t, basicFront(newGGCR(), "bob", "pw"))
	_, desc := castest.Blob(t, 10)
	for _, tc := range []struct {
		name, host, config string
	}{
		{"token/no config", f.host, ""},
		{"token/other host only", f.host, writeDockerConfig(t, "other.example:5000", f.user, f.pass)},
		{"token/wrong password", f.host, writeDockerConfig(t, f.host, f.user, "wrong")},
		{"basic/no config", basic, ""},
		{"basic/wrong password", basic, writeDockerConfig(t, basic, "bob", "wrong")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t, tc.host, tc.config)
			repo, err := reg.Repository(t.Context(), "private/app")
			if err != nil {
				t.Fatal(err)
			}
			_, err = repo.Exists(t.Context(), desc)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Exists without a valid login: %v, want ErrUnauthorized", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if want := "docker login " + tc.host; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if errors.Is(err, cas.ErrNotFound) {
				t.Errorf("auth error also wraps ErrNotFound: %v", err)
			}
		})
	}
}
