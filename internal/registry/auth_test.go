package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// authServer is a registry with access control: admin may do everything,
// alice pull and push on team/**, bob nothing of his own; anonymous
// requests may pull public/**. It serves the token endpoint at /token as
// gantry serve does.
type authServer struct {
	*client
	host    string
	clock   *time.Time
	handler http.Handler
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	var lines []string
	for _, u := range []string{"admin", "alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	users, err := auth.ParseHtpasswd(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := auth.NewPolicy(auth.Config{
		Grants: []auth.Grant{
			{Repositories: "**", Users: []string{"admin"}, Actions: []string{"*"}},
			{Repositories: "team/**", Users: []string{"alice"}, Actions: []string{"pull", "push"}},
		},
		Anonymous: []auth.Grant{{Repositories: "public/**", Actions: []string{"pull"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	az, err := auth.New(auth.Options{Users: users, Policy: policy, Key: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	store, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	reg := registry.New(store, registry.Options{Authorizer: az})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == az.TokenPath() {
			az.ServeHTTP(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &authServer{client: &client{t: t, base: srv.URL}, host: u.Host, clock: &now, handler: handler}
}

func basicAuth(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw"))
}

// token gets a token for user ("" for anonymous) with scopes.
func (s *authServer) token(user string, scopes ...string) string {
	s.t.Helper()
	var h []string
	if user != "" {
		h = []string{"Authorization", basicAuth(user)}
	}
	r := s.do("GET", "/token?"+url.Values{"service": {"gantry"}, "scope": scopes}.Encode(), nil, h...)
	s.expect(r, http.StatusOK, "")
	var tr struct{ Token string }
	if err := json.Unmarshal(r.body, &tr); err != nil || tr.Token == "" {
		s.t.Fatalf("token answer %s: %v", r.body, err)
	}
	return "Bearer " + tr.Token
}

// remoteAs is gantry's own client with user's credentials in a docker
// config.json.
func (s *authServer) remoteAs(user string) *remote.Registry {
	s.t.Helper()
	cfg := filepath.Join(s.t.TempDir(), "config.json")
	if user != "" {
		b := fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, s.host, base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw")))
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	r, err := remote.New(s.host, remote.Options{DockerConfig: cfg})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func TestAuthChallenges(t *testing.T) {
	s := newAuthServer(t)
	realm := fmt.Sprintf(`Bearer realm="http://%s/token",service="gantry"`, s.host)
	tests := []struct {
		name, method, path string
		headers            []string
		status             int
		code, challenge    string
	}{
		{"anonymous ping", "GET", "/v2/", nil, 401, "UNAUTHORIZED", realm},
		{"anonymous pull", "GET", "/v2/team/app/manifests/latest", nil, 401, "UNAUTHORIZED", realm + `,scope="repository:team/app:pull"`},
		{"anonymous push", "POST", "/v2/team/app/blobs/uploads/", nil, 401, "UNAUTHORIZED", `scope="repository:team/app:pull,push"`},
		{"anonymous head of a public repository", "HEAD", "/v2/public/x/manifests/latest", nil, 404, "", ""},
		{"wrong password", "GET", "/v2/", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:nope"))}, 401, "UNAUTHORIZED", realm},
		{"basic ping", "GET", "/v2/", []string{"Authorization", basicAuth("alice")}, 200, "", ""},
		{"forbidden push", "POST", "/v2/other/app/blobs/uploads/", []string{"Authorization", basicAuth("alice")}, 403, "DENIED", ""},
		{"forbidden delete", "DELETE", "/v2/team/app/manifests/latest", []string{"Authorization", basicAuth("alice")}, 403, "DENIED", ""},
		{"token ping", "GET", "/v2/", []string{"Authorization", s.token("bob")}, 200, "", ""},
		{"token without the scope", "GET", "/v2/team/app/tags/list", []string{"Authorization", s.token("alice")}, 401, "UNAUTHORIZED", `scope="repository:team/app:pull",error="insufficient_scope"`},
		{"token with the scope", "GET", "/v2/team/app/tags/list", []string{"Authorization", s.token("alice", "repository:team/app:pull")}, 200, "", ""},
		{"token of a user without the grant", "GET", "/v2/team/app/tags/list", []string{"Authorization", s.token("bob", "repository:team/app:pull")}, 403, "DENIED", ""},
		{"forged token", "GET", "/v2/", []string{"Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."}, 401, "UNAUTHORIZED", `error="invalid_token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			r := s.do(tc.method, tc.path, nil, tc.headers...)
			if r.StatusCode != tc.status || (tc.code != "" && tc.method != "HEAD" && r.code() != tc.code) {
				t.Fatalf("got %d %s, want %d %s; body %s", r.StatusCode, r.code(), tc.status, tc.code, r.body)
			}
			if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
		})
	}
}

func TestAuthExpiredToken(t *testing.T) {
	s := newAuthServer(t)
	tok := s.token("alice", "repository:team/app:pull")
	s.expect(s.do("GET", "/v2/team/app/tags/list", nil, "Authorization", tok), http.StatusOK, "")
	*s.clock = s.clock.Add(auth.DefaultTokenTTL + time.Minute)
	r := s.do("GET", "/v2/team/app/tags/list", nil, "Authorization", tok)
	s.expect(r, http.StatusUnauthorized, "UNAUTHORIZED")
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("challenge %q, want error=\"invalid_token\"", got)
	}
}

// TestAuthRemoteClient pushes and pulls with gantry's own client (oras-go's
// token flow, credentials from a docker config.json), and checks that a
// refusal reaches it as remote.ErrUnauthorized.
func TestAuthRemoteClient(t *testing.T) {
	s := newAuthServer(t)
	img, err := testimage.NewImage([]testimage.Layer{mustLayer(t)}, []string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	alice := s.remoteAs("alice")
	dst, err := alice.Repository(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(ctx, dst, "v1"); err != nil {
		t.Fatalf("alice pushes to team/app: %v", err)
	}
	got, err := dst.Resolve(ctx, "v1")
	if err != nil || got.Digest != img.ManifestDesc.Digest {
		t.Fatalf("alice resolves team/app:v1: %v, %v", got.Digest, err)
	}
	other, err := alice.Repository(ctx, "other/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(ctx, other, "v1"); !errors.Is(err, remote.ErrUnauthorized) {
		t.Errorf("alice pushes to other/app: %v, want remote.ErrUnauthorized", err)
	}
	anon, err := s.remoteAs("").Repository(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Resolve(ctx, "v1"); !errors.Is(err, remote.ErrUnauthorized) {
		t.Errorf("anonymous resolve of team/app:v1: %v, want remote.ErrUnauthorized", err)
	}
}

func mustLayer(t *testing.T) testimage.Layer {
	t.Helper()
	l, err := testimage.RandomLayer(1000)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestAuthCatalogFiltered: the catalog lists what the caller may pull.
func TestAuthCatalogFiltered(t *testing.T) {
	s := newAuthServer(t)
	admin := []string{"Authorization", basicAuth("admin")}
	for _, repo := range []string{"team/app", "other/app", "public/base"} {
		cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
		cd := s.pushBlob2(repo, cfg, admin)
		m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
			ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd, len(cfg))
		s.expect(s.do("PUT", "/v2/"+repo+"/manifests/v1", m, append([]string{"Content-Type", ocispec.MediaTypeImageManifest}, admin...)...), http.StatusCreated, "")
	}
	tests := []struct {
		name    string
		headers []string
		want    []string
	}{
		{"admin", admin, []string{"other/app", "public/base", "team/app"}},
		{"alice", []string{"Authorization", basicAuth("alice")}, []string{"public/base", "team/app"}},
		{"bob", []string{"Authorization", basicAuth("bob")}, []string{"public/base"}},
		{"alice's token", []string{"Authorization", s.token("alice", "registry:catalog:*")}, []string{"public/base", "team/app"}},
		{"anonymous", nil, []string{"public/base"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			r := s.do("GET", "/v2/_catalog", nil, tc.headers...)
			s.expect(r, http.StatusOK, "")
			var got struct{ Repositories []string }
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Repositories, tc.want) {
				t.Errorf("catalog %v, want %v", got.Repositories, tc.want)
			}
		})
	}
	s.t = t
	// A token that does not ask for the catalog is told to.
	r := s.do("GET", "/v2/_catalog", nil, "Authorization", s.token("alice", "repository:team/app:pull"))
	s.expect(r, http.StatusUnauthorized, "UNAUTHORIZED")
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="registry:catalog:*"`) {
		t.Errorf("challenge %q, want the catalog scope", got)
	}
}

// pushBlob2 is pushBlob with headers.
func (c *client) pushBlob2(repo string, b []byte, headers []string) string {
	c.t.Helper()
	d := digest.FromBytes(b).String()
	c.expect(c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, b, headers...), http.StatusCreated, "")
	return d
}

// recorder is a ResponseWriter that takes note of the caller, as the
// serve command's access log does.
type recorder struct {
	*httptest.ResponseRecorder
	name   string
	called bool
}

func (r *recorder) RecordCaller(name string) { r.name, r.called = name, true }

// TestAuthMountNeedsPull: a cross-repository mount takes its source only
// where the caller may pull; elsewhere the client gets an upload session
// (202), as the spec's fallback says, and learns nothing of the source.
func TestAuthMountNeedsPull(t *testing.T) {
	s := newAuthServer(t)
	admin := []string{"Authorization", basicAuth("admin")}
	alice := []string{"Authorization", basicAuth("alice")}
	secret := s.pushBlob2("other/secret", []byte("not alice's"), admin)
	shared := s.pushBlob2("team/base", []byte("alice's"), admin)
	tests := []struct {
		name, query string
		status      int
	}{
		{"from a repository alice may not pull", "?mount=" + secret + "&from=other/secret", http.StatusAccepted},
		{"anonymous mount of a blob only other/secret holds", "?mount=" + secret, http.StatusAccepted},
		{"from a repository alice may pull", "?mount=" + shared + "&from=team/base", http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			s.expect(s.do("POST", "/v2/team/app/blobs/uploads/"+tc.query, nil, alice...), tc.status, "")
		})
	}
	s.t = t
	s.expect(s.do("HEAD", "/v2/team/app/blobs/"+secret, nil, alice...), http.StatusNotFound, "")
}

// TestAuthCallerRecorded: the handler tells a ResponseWriter that takes
// note of it who the caller is, for the access log.
func TestAuthCallerRecorded(t *testing.T) {
	s := newAuthServer(t)
	for user, want := range map[string]string{"alice": "alice", "": ""} {
		req := httptest.NewRequest("GET", s.base+"/v2/public/x/tags/list", nil)
		if user != "" {
			req.Header.Set("Authorization", basicAuth(user))
		}
		w := &recorder{ResponseRecorder: httptest.NewRecorder()}
		s.handler.ServeHTTP(w, req)
		if !w.called || w.name != want {
			t.Errorf("user %q: recorded %v %q, want %q", user, w.called, w.name, want)
		}
	}
}

// TestAuthMountWithToken: a token for the repository pushed to is enough
// to mount from a repository the user may pull, as the OCI conformance
// suite and oras ask no token for the source; and not enough where the
// user may not pull the source.
func TestAuthMountWithToken(t *testing.T) {
	s := newAuthServer(t)
	admin := []string{"Authorization", basicAuth("admin")}
	secret := s.pushBlob2("other/secret", []byte("not alice's"), admin)
	shared := s.pushBlob2("team/base", []byte("alice's"), admin)
	tok := []string{"Authorization", s.token("alice", "repository:team/app:pull,push")}
	s.expect(s.do("POST", "/v2/team/app/blobs/uploads/?mount="+shared+"&from=team/base", nil, tok...), http.StatusCreated, "")
	s.expect(s.do("POST", "/v2/team/app/blobs/uploads/?mount="+secret+"&from=other/secret", nil, tok...), http.StatusAccepted, "")
}

// TestAuthFailedLoginsLimited: after a burst of wrong passwords from one
// address the handler answers 429 TOOMANYREQUESTS with Retry-After, even
// to the right password, until the allowance refills.
func TestAuthFailedLoginsLimited(t *testing.T) {
	s := newAuthServer(t)
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:guess"))
	for range auth.DefaultFailBurst {
		s.expect(s.do("GET", "/v2/", nil, "Authorization", wrong), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	r := s.do("GET", "/v2/team/app/tags/list", nil, "Authorization", basicAuth("alice"))
	s.expect(r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	*s.clock = s.clock.Add(time.Minute)
	s.expect(s.do("GET", "/v2/team/app/tags/list", nil, "Authorization", basicAuth("alice")), http.StatusOK, "")
}
