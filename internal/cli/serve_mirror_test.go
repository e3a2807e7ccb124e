package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/google/go-cmp/cmp"
)

// The config file's list of upstreams reaches --mirror, credentials
// included, and containerd-config writes one hosts.toml per upstream.
func TestServeMirrorConfigFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "ghcr-token")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	yaml := `serve:
  mirror-ttl: 5m
  mirror:
    - prefix: docker.io/
      upstream: https://registry-1.docker.io
      docker-config: /etc/gantry/docker.json
    - prefix: ghcr.io/
      upstream: https://ghcr.io
      username: bot
      password-file: ` + pw + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "certs.d")
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--config", cfg, "serve", "containerd-config", "--url", "http://mirror.example:5000", "-o", out}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, host := range []string{"docker.io", "ghcr.io"} {
		b, err := os.ReadFile(filepath.Join(out, host, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `[host."http://mirror.example:5000"]`) {
			t.Errorf("%s/hosts.toml names no mirror host:\n%s", host, b)
		}
	}

	var m mirrorFlag
	list := formatValue([]any{
		map[string]any{"prefix": "docker.io/", "upstream": "https://registry-1.docker.io", "docker-config": "/etc/gantry/docker.json"},
		map[string]any{"prefix": "ghcr.io/", "upstream": "https://ghcr.io", "username": "bot", "password-file": pw},
	})
	if err := m.Set(list); err != nil {
		t.Fatal(err)
	}
	want := []pullthrough.Upstream{
		{Prefix: "docker.io/", URL: "https://registry-1.docker.io", DockerConfig: "/etc/gantry/docker.json"},
		{Prefix: "ghcr.io/", URL: "https://ghcr.io", Username: "bot", Password: "s3cret"},
	}
	if diff := cmp.Diff(want, m.upstreams); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
}

func TestMirrorFlagErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"registry.example.com", "want http(s)://HOST[:PORT]"},
		{"docker.io/=ftp://x", "want http(s)://HOST[:PORT]"},
		{"https://example.com/v2/", "with no path"},
		{`[{"upstream": "https://x", "pasword": "p"}]`, "unknown field"},
		{`[{"prefix": "a/"}]`, "upstream is required"},
		{`[{"upstream": "https://x", "password": "p"}]`, "a password without a username"},
	} {
		var m mirrorFlag
		err := m.Set(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--mirror %s: %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

func FuzzMirrorFlag(f *testing.F) {
	for _, s := range []string{"https://registry-1.docker.io", "docker.io/=http://127.0.0.1:5000", `[{"prefix":"ghcr.io/","upstream":"https://ghcr.io"}]`, `{"upstream":"https://x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m mirrorFlag
		if err := m.Set(s); err != nil {
			return
		}
		for _, u := range m.upstreams {
			if _, _, err := pullthrough.ParseURL(u.URL); err != nil {
				t.Fatalf("%q accepted with an upstream %q that does not parse: %v", s, u.URL, err)
			}
		}
	})
}
