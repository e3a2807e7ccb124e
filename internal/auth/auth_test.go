package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// htpasswdLine returns a bcrypt htpasswd line for user (at bcrypt's
// minimum cost: tests need not be slow).
func htpasswdLine(t testing.TB, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h)
}

func TestParseHtpasswd(t *testing.T) {
	good := htpasswdLine(t, "alice", "secret")
	tests := []struct {
		name, in, wantErr string
		users             int
	}{
		{"bcrypt", good + "\n" + htpasswdLine(t, "bob", "x") + "\n", "", 2},
		{"comments and blanks", "# users\n\n" + good + "\n", "", 1},
		{"2y prefix", strings.Replace(good, "$2a$", "$2y$", 1), "", 1},
		{"empty file", "", "", 0},
		{"md5", good + "\ncarol:$apr1$abc$def\n", `line 2: user "carol": MD5 ($apr1$) hash: only bcrypt`, 0},
		{"sha1", "dave:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", `line 1: user "dave": SHA-1`, 0},
		{"crypt sha512", "erin:$6$salt$hash", `line 1: user "erin": crypt(3)`, 0},
		{"plain", "frank:password", `line 1: user "frank": plain-text`, 0},
		{"no colon", "grace", "line 1: want USER:HASH", 0},
		{"no user", ":" + strings.SplitN(good, ":", 2)[1], "line 1: empty user name", 0},
		{"duplicate", good + "\n" + good, `line 2: user "alice" is listed twice`, 0},
		{"malformed bcrypt", "heidi:$2a$10$short", `line 1: user "heidi": malformed bcrypt hash`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHtpasswd(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Users() != tc.users {
				t.Errorf("%d users, want %d", h.Users(), tc.users)
			}
		})
	}
}

func TestHtpasswdVerify(t *testing.T) {
	h, err := ParseHtpasswd(strings.NewReader(htpasswdLine(t, "alice", "secret")))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time through the cache of verified passwords
		if !h.Verify("alice", "secret") {
			t.Error("alice's password refused")
		}
		if h.Verify("alice", "Secret") {
			t.Error("a wrong password accepted")
		}
		if h.Verify("mallory", "secret") {
			t.Error("an unknown user accepted")
		}
	}
}

// An unknown user takes as long to refuse as a known user's wrong
// password: otherwise a client could tell which users exist by the time a
// refusal takes. The file's hashes here cost 8 (htpasswd -B writes 5, and
// often more is asked); a refusal at bcrypt's minimum cost, 4, is 16
// times faster.
func TestHtpasswdUnknownUserTakesAsLong(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), 8)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHtpasswd(strings.NewReader("alice:" + string(hash)))
	if err != nil {
		t.Fatal(err)
	}
	h.Verify("mallory", "secret") // anything done once, the first time
	took := func(user string) time.Duration {
		var ds []time.Duration
		for range 5 {
			start := time.Now()
			if h.Verify(user, "wrong") {
				t.Fatalf("%s's wrong password accepted", user)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known, unknown := took("alice"), took("mallory")
	t.Logf("refusal of a wrong password %v, of an unknown user %v (medians of 5)", known, unknown)
	if unknown < known/2 {
		t.Errorf("an unknown user is refused in %v, a known user's wrong password in %v", unknown, known)
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []Scope
		wantErr bool
	}{
		{"one", []string{"repository:team/app:pull,push"}, []Scope{{"repository", "team/app", []string{"pull", "push"}}}, false},
		{"repeated params", []string{"repository:a:pull", "repository:b:push"}, []Scope{{"repository", "a", []string{"pull"}}, {"repository", "b", []string{"push"}}}, false},
		{"space separated", []string{"repository:a:pull repository:b:pull"}, []Scope{{"repository", "a", []string{"pull"}}, {"repository", "b", []string{"pull"}}}, false},
		{"star", []string{"repository:a:*"}, []Scope{{"repository", "a", []string{"pull", "push", "delete"}}}, false},
		{"host with port in name", []string{"repository:localhost:5000/a:pull"}, []Scope{{"repository", "localhost:5000/a", []string{"pull"}}}, false},
		{"resource class", []string{"repository(plugin):a:pull"}, []Scope{{"repository", "a", []string{"pull"}}}, false},
		{"catalog", []string{"registry:catalog:*"}, []Scope{{"registry", "catalog", []string{"*"}}}, false},
		{"unknown action dropped", []string{"repository:a:pull,fly,pull"}, []Scope{{"repository", "a", []string{"pull"}}}, false},
		{"unknown type dropped", []string{"plugin:a:pull"}, nil, false},
		{"no actions", []string{"repository:a:"}, nil, false},
		{"malformed", []string{"repository"}, nil, true},
		{"empty name", []string{"repository::pull"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScopes(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	p, err := NewPolicy(Config{
		Groups: map[string][]string{"ci": {"builder"}},
		Grants: []Grant{
			{Repositories: "**", Users: []string{"admin"}, Actions: []string{"*"}},
			{Repositories: "team-a/**", Users: []string{"alice"}, Groups: []string{"ci"}, Actions: []string{"pull", "push"}},
			{Repositories: "tools/*", Users: []string{"*"}, Actions: []string{"pull"}},
		},
		Anonymous: []Grant{{Repositories: "public/**", Actions: []string{"pull"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, repo, action string
		want               bool
	}{
		{"admin", "anything/at/all", "delete", true},
		{"alice", "team-a/app", "push", true},
		{"alice", "team-a/deep/app", "pull", true},
		{"alice", "team-a/app", "delete", false},
		{"alice", "team-b/app", "pull", false},
		{"alice", "team-a", "pull", false}, // team-a/** is below team-a
		{"builder", "team-a/app", "push", true},
		{"bob", "tools/jq", "pull", true},
		{"bob", "tools/jq/x", "pull", false}, // * stops at /
		{"bob", "tools/jq", "push", false},
		{"", "public/busybox", "pull", true},
		{"", "public/busybox", "push", false},
		{"", "tools/jq", "pull", false},
		{"bob", "public/busybox", "pull", true}, // users may what anonymous may
	}
	for _, tc := range tests {
		if got := p.Allows(tc.user, tc.repo, tc.action); got != tc.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", tc.user, tc.repo, tc.action, got, tc.want)
		}
	}

	def, err := NewPolicy(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"pull", "push"} {
		if !def.Allows("anyone", "x/y", a) {
			t.Errorf("default policy: a user may not %s", a)
		}
	}
	if def.Allows("anyone", "x/y", "delete") || def.Allows("", "x/y", "pull") {
		t.Error("default policy: delete, or anonymous pull, allowed")
	}
}

func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"unknown action", Config{Grants: []Grant{{Repositories: "**", Users: []string{"a"}, Actions: []string{"write"}}}}, `grants[0] (**): unknown action "write"`},
		{"no actions", Config{Grants: []Grant{{Repositories: "**", Users: []string{"a"}}}}, "grants[0] (**): no actions"},
		{"no one", Config{Grants: []Grant{{Repositories: "**", Actions: []string{"pull"}}}}, "no users or groups"},
		{"unknown group", Config{Grants: []Grant{{Repositories: "**", Groups: []string{"ops"}, Actions: []string{"pull"}}}}, `unknown group "ops"`},
		{"empty pattern", Config{Grants: []Grant{{Users: []string{"a"}, Actions: []string{"pull"}}}}, "empty repositories pattern"},
		{"anonymous with users", Config{Anonymous: []Grant{{Repositories: "**", Users: []string{"a"}, Actions: []string{"pull"}}}}, "anonymous[0] (**): an anonymous grant names no users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPolicy(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// fixture is an Authority over alice (pull and push on team/**), bob
// (nothing but what anonymous requests may: pull on public/**), with a
// clock the test moves.
type fixture struct {
	a   *Authority
	now time.Time
	got map[string]int // failures by reason
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	users, err := ParseHtpasswd(strings.NewReader(htpasswdLine(t, "alice", "secret") + "\n" + htpasswdLine(t, "bob", "hunter2")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(Config{
		Grants:    []Grant{{Repositories: "team/**", Users: []string{"alice"}, Actions: []string{"pull", "push"}}},
		Anonymous: []Grant{{Repositories: "public/**", Actions: []string{"pull"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Unix(1_800_000_000, 0), got: map[string]int{}}
	f.a, err = New(Options{Users: users, Policy: p, Key: key, Now: func() time.Time { return f.now },
		OnFailure: func(r string) { f.got[r]++ }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// token asks the token endpoint by GET and returns the status and answer.
func (f *fixture) token(t testing.TB, authz string, scopes ...string) (int, tokenResponse, http.Header) {
	t.Helper()
	q := url.Values{"service": {"gantry"}, "scope": scopes}
	r := httptest.NewRequest(http.MethodGet, "http://reg.test/token?"+q.Encode(), nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	f.a.ServeHTTP(w, r)
	var resp tokenResponse
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("token answer: %v\n%s", err, w.Body)
		}
	}
	return w.Code, resp, w.Header()
}

// authorize authenticates a request with authz and asks for action on repo.
func (f *fixture) authorize(authz, repo, action string) error {
	r := httptest.NewRequest(http.MethodGet, "http://reg.test/v2/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	c, err := f.a.Authenticate(r)
	if err != nil {
		return err
	}
	return c.Authorize(repo, action)
}

func statusOf(err error) (int, string, http.Header) {
	if err == nil {
		return http.StatusOK, "", nil
	}
	ae, ok := err.(*authError)
	if !ok {
		return 0, err.Error(), nil
	}
	return ae.status, ae.code, ae.header
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	_, alice, _ := f.token(t, basic("alice", "secret"), "repository:team/app:pull,push")
	_, anon, _ := f.token(t, "", "repository:public/x:pull")
	tests := []struct {
		name, authz, repo, action string
		status                    int
		code, challenge           string
	}{
		{"anonymous ping", "", "", "", 401, "UNAUTHORIZED", `Bearer realm="http://reg.test/token",service="gantry"`},
		{"anonymous pull of public", "", "public/x", "pull", 200, "", ""},
		{"anonymous pull of team", "", "team/app", "pull", 401, "UNAUTHORIZED", `Bearer realm="http://reg.test/token",service="gantry",scope="repository:team/app:pull"`},
		{"anonymous push", "", "public/x", "push", 401, "UNAUTHORIZED", `scope="repository:public/x:pull,push"`},
		{"basic ping", basic("alice", "secret"), "", "", 200, "", ""},
		{"basic push", basic("alice", "secret"), "team/app", "push", 200, "", ""},
		{"basic forbidden", basic("alice", "secret"), "other/app", "push", 403, "DENIED", ""},
		{"basic wrong password", basic("alice", "nope"), "team/app", "pull", 401, "UNAUTHORIZED", `Bearer realm=`},
		{"bob denied", basic("bob", "hunter2"), "team/app", "pull", 403, "DENIED", ""},
		{"bob pulls public", basic("bob", "hunter2"), "public/x", "pull", 200, "", ""},
		{"token push", "Bearer " + alice.Token, "team/app", "push", 200, "", ""},
		{"token ping", "Bearer " + alice.Token, "", "", 200, "", ""},
		{"token without the scope", "Bearer " + alice.Token, "team/other", "pull", 401, "UNAUTHORIZED", `scope="repository:team/other:pull",error="insufficient_scope"`},
		{"token forbidden", "Bearer " + alice.Token, "other/app", "pull", 403, "DENIED", ""},
		{"anonymous token", "Bearer " + anon.Token, "public/x", "pull", 200, "", ""},
		{"anonymous token, private", "Bearer " + anon.Token, "team/app", "pull", 401, "UNAUTHORIZED", `scope="repository:team/app:pull"`},
		{"forged token", "Bearer " + alice.Token[:len(alice.Token)-4] + "AAAA", "team/app", "pull", 401, "UNAUTHORIZED", `error="invalid_token"`},
		{"garbage token", "Bearer x.y.z", "team/app", "pull", 401, "UNAUTHORIZED", `error="invalid_token"`},
		{"other scheme", "Digest abc", "team/app", "pull", 401, "UNAUTHORIZED", "Bearer realm="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, code, h := statusOf(f.authorize(tc.authz, tc.repo, tc.action))
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
			if got := h.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) {
				t.Errorf("challenge %q, want it to contain %q", got, tc.challenge)
			}
		})
	}
}

func TestTokenGrantsWhatIsAllowed(t *testing.T) {
	f := newFixture(t)
	status, resp, _ := f.token(t, basic("alice", "secret"), "repository:team/app:pull,push,delete", "repository:other:pull", "registry:catalog:*")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if resp.Token == "" || resp.Token != resp.AccessToken || resp.ExpiresIn != 300 || resp.IssuedAt == "" {
		t.Errorf("answer %+v: want token = access_token, expires_in 300, issued_at", resp)
	}
	if want := "repository:team/app:pull,push registry:catalog:*"; resp.Scope != want {
		t.Errorf("granted %q, want %q", resp.Scope, want)
	}
	if status, _, h := f.token(t, basic("alice", "wrong"), "repository:team/app:pull"); status != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong password: %d %v, want 401 with a challenge", status, h)
	}
}

func TestTokenExpires(t *testing.T) {
	f := newFixture(t)
	_, resp, _ := f.token(t, basic("alice", "secret"), "repository:team/app:pull")
	if err := f.authorize("Bearer "+resp.Token, "team/app", "pull"); err != nil {
		t.Fatalf("a fresh token: %v", err) // and now a verified token the cache holds
	}
	f.now = f.now.Add(DefaultTokenTTL + time.Minute) // past the 30s leeway for clock skew
	status, code, h := statusOf(f.authorize("Bearer "+resp.Token, "team/app", "pull"))
	if status != 401 || code != "UNAUTHORIZED" || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired token: %d %s %v, want 401 UNAUTHORIZED with error=\"invalid_token\"", status, code, h)
	}
	if f.got[ReasonExpiredToken] != 1 {
		t.Errorf("failures %v, want one expired_token", f.got)
	}
}

func TestTokenFromAnotherKey(t *testing.T) {
	f, g := newFixture(t), newFixture(t)
	_, resp, _ := g.token(t, basic("alice", "secret"), "repository:team/app:pull")
	if status, _, _ := statusOf(f.authorize("Bearer "+resp.Token, "team/app", "pull")); status != 401 {
		t.Errorf("a token of another key: %d, want 401", status)
	}
}

func TestTokenOAuthPost(t *testing.T) {
	f := newFixture(t)
	post := func(form url.Values) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPost, "http://reg.test/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.9:1"
		w := httptest.NewRecorder()
		f.a.ServeHTTP(w, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	status, m := post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"secret"},
		"service": {"gantry"}, "scope": {"repository:team/app:pull"}, "access_type": {"offline"}, "client_id": {"containerd"}})
	if status != 200 || m["access_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("password grant: %d %v", status, m)
	}
	status, m2 := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
		"service": {"gantry"}, "scope": {"repository:team/app:pull,push"}})
	if status != 200 || m2["scope"] != "repository:team/app:pull,push" {
		t.Fatalf("refresh grant: %d %v", status, m2)
	}
	// An access token is no refresh token.
	if status, m := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["access_token"].(string)}}); status != 401 || m["error"] != "invalid_grant" {
		t.Errorf("access token as refresh token: %d %v, want 401 invalid_grant", status, m)
	}
	if status, _ := post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bad"}}); status != 401 {
		t.Errorf("wrong password: %d, want 401", status)
	}
	if status, m := post(url.Values{"grant_type": {"client_credentials"}}); status != 400 || m["error"] != "unsupported_grant_type" {
		t.Errorf("unknown grant: %d %v, want 400 unsupported_grant_type", status, m)
	}
}

func TestFailedLoginsRateLimited(t *testing.T) {
	f := newFixture(t)
	for i := range DefaultFailBurst {
		if status, _, _ := statusOf(f.authorize(basic("alice", fmt.Sprint("guess", i)), "team/app", "pull")); status != 401 {
			t.Fatalf("guess %d: %d, want 401", i, status)
		}
	}
	status, code, h := statusOf(f.authorize(basic("alice", "secret"), "team/app", "pull"))
	if status != 429 || code != "TOOMANYREQUESTS" || h.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d %s %v, want 429 TOOMANYREQUESTS with Retry-After", DefaultFailBurst, status, code, h)
	}
	if status, _, _ := f.token(t, basic("alice", "secret")); status != 429 {
		t.Errorf("the token endpoint: %d, want 429 too", status)
	}
	f.now = f.now.Add(10 * time.Second) // one guess more per 6s
	if status, _, _ := statusOf(f.authorize(basic("alice", "secret"), "team/app", "pull")); status != 200 {
		t.Errorf("after the wait: %d, want 200", status)
	}
	if f.got[ReasonBadCredentials] != DefaultFailBurst || f.got[ReasonRateLimited] != 2 {
		t.Errorf("failures %v", f.got)
	}
}

func TestFailLimiterBounded(t *testing.T) {
	l := newFailLimiter(DefaultFailRate, 2, 100)
	now := time.Now()
	for i := range 10_000 {
		l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
		if n := l.size(); n > 100 {
			t.Fatalf("%d addresses remembered, bound 100", n)
		}
	}
	if clientKey("[2001:db8::1]:5") != clientKey("[2001:db8::ffff]:6") {
		t.Error("two addresses of one IPv6 /64 are two clients")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(100)
	now := time.Unix(1_800_000_000, 0)
	for i := range 1000 {
		c.put(fmt.Sprint(i), &claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}, now)
		if len(c.m) > 100 {
			t.Fatalf("%d tokens cached, bound 100", len(c.m))
		}
	}
	if _, ok := c.get("999", now); !ok {
		t.Error("the last token put is not cached")
	}
	if _, ok := c.get("999", now.Add(time.Minute)); ok {
		t.Error("an expired token is served from the cache")
	}
}

// BenchmarkAuthenticate is the cost access control adds to a request,
// by kind of credentials.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	f.now = time.Now()
	_, resp, _ := f.token(b, basic("alice", "secret"), "repository:team/app:pull")
	for _, bc := range []struct{ name, authz string }{
		{"basic", basic("alice", "secret")},
		{"bearer", "Bearer " + resp.Token},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodHead, "http://reg.test/v2/team/app/manifests/1", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("Authorization", bc.authz)
			b.ReportAllocs()
			for b.Loop() {
				c, err := f.a.Authenticate(r)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Authorize("team/app", "pull"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
