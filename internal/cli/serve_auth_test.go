package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// writeTestFile writes a file under dir and returns its path.
func writeTestFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServeAuthSettings checks that bad access-control settings fail
// before anything is opened, each with a message naming what is wrong.
func TestServeAuthSettings(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	good := writeTestFile(t, dir, "htpasswd", "alice:"+string(h)+"\n")
	md5 := writeTestFile(t, dir, "md5", "alice:"+string(h)+"\nbob:$apr1$x$y\n")
	grants := writeTestFile(t, dir, "grants.yaml", "serve:\n  auth:\n    grants:\n      - {repositories: \"**\", users: [alice], actions: [pull]}\n")
	badKey := writeTestFile(t, dir, "unknown.yaml", "serve:\n  auth:\n    grant: []\n")
	badAction := writeTestFile(t, dir, "action.yaml", "serve:\n  auth:\n    grants:\n      - {repositories: \"**\", users: [alice], actions: [write]}\n")
	typoGrant := writeTestFile(t, dir, "typo-grant.yaml", "serve:\n  auth:\n    anonymous:\n      - {repository: \"public/**\", actions: [pull]}\n")
	badType := writeTestFile(t, dir, "type.yaml", "serve:\n  auth:\n    grants: 5\n")
	typo := writeTestFile(t, dir, "typo.yaml", "serve:\n  auht: {}\n")
	notPEM := writeTestFile(t, dir, "key.pem", "not a key\n")
	root := filepath.Join(t.TempDir(), "never")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"grants without users", []string{"--config", grants}, 2, "no --htpasswd"},
		{"token key without users", []string{"--token-key", notPEM}, 2, "--token-key and --auth-realm go with --htpasswd"},
		{"md5 hash", []string{"--htpasswd", md5}, 1, `line 2: user "bob": MD5 ($apr1$) hash: only bcrypt hashes are accepted`},
		{"missing htpasswd", []string{"--htpasswd", filepath.Join(dir, "absent")}, 1, "htpasswd file: open"},
		{"unknown key in serve.auth", []string{"--htpasswd", good, "--config", badKey}, 1, `unknown key "grant" in serve.auth; did you mean "grants"?`},
		{"unknown action", []string{"--htpasswd", good, "--config", badAction}, 1, `serve.auth: grants[0] (**): unknown action "write"`},
		{"misspelt grant key", []string{"--htpasswd", good, "--config", typoGrant}, 1, `unknown key "repository" in serve.auth.anonymous[0]; did you mean "repositories"?`},
		{"wrong type", []string{"--htpasswd", good, "--config", badType}, 1, "cannot unmarshal"},
		{"misspelt section", []string{"--htpasswd", good, "--config", typo}, 2, `unknown key "auht" in section "serve"; did you mean "auth"?`},
		{"bad token key", []string{"--htpasswd", good, "--token-key", notPEM}, 1, "no PEM block"},
		{"zero token ttl", []string{"--htpasswd", good, "--token-ttl", "0s"}, 2, "--token-ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"serve", "--root", root}, tc.args...)
			code := Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n > 0 {
				t.Errorf("the error takes %d lines, want one:\n%s", n+1, stderr.String())
			}
			if _, err := os.Stat(root); err == nil {
				t.Errorf("the store directory was created")
			}
		})
	}
}

// TestServeAuthInProcess serves with --htpasswd and a shared --token-key:
// anonymous requests get the challenge, credentials get in, the token
// endpoint answers, and /metrics counts the failures.
func TestServeAuthInProcess(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := writeTestFile(t, dir, "htpasswd", "alice:"+string(h)+"\n")
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeTestFile(t, dir, "token.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	addr, logs, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "root"),
		"--htpasswd", htpasswd, "--token-key", keyFile, "--auth-service", "site")
	do := func(user, pass, path string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := do("", "", "/v2/")
	if want := `Bearer realm="http://` + addr + `/token",service="site"`; resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("anonymous /v2/: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	if resp := do("alice", "pw", "/v2/"); resp.StatusCode != 200 {
		t.Errorf("alice's /v2/: %d", resp.StatusCode)
	}
	if resp := do("alice", "bad", "/token?service=site&scope=repository:a:pull"); resp.StatusCode != 401 {
		t.Errorf("token with a wrong password: %d", resp.StatusCode)
	}
	if resp := do("alice", "pw", "/token?service=site&scope=repository:a:pull"); resp.StatusCode != 200 {
		t.Errorf("token: %d", resp.StatusCode)
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	if !strings.Contains(metrics, `gantry_auth_failures_total{reason="bad_credentials"} 1`) {
		t.Errorf("/metrics does not count the failed login:\n%s", metrics)
	}
	if !strings.Contains(logs.String(), "user=alice") || !strings.Contains(logs.String(), "route=token") {
		t.Errorf("the access log has no user=alice or route=token:\n%s", logs)
	}
}
