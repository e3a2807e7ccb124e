package cli

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
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

// TestServeMirrorPrivateCA serves a mirror of an HTTPS upstream whose
// certificate only --ca-file trusts, with --htpasswd: without --ca-file
// the pull fails and /metrics counts the upstream's errors; with it the
// pull works, /metrics counts the fills, and the access log names the
// user on the mirror's requests and on the token requests.
func TestServeMirrorPrivateCA(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	upStore := memory.New()
	up := httptest.NewTLSServer(registry.New(upStore, registry.Options{}))
	defer up.Close()
	ca := writeTestFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})))
	img, err := testimage.Fleet(1, 1, 64<<10, 16<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	upRepo, _ := upStore.Repository(t.Context(), "apps/api")
	if err := img[0].Push(t.Context(), upRepo, "v1"); err != nil {
		t.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := writeTestFile(t, dir, "htpasswd", "alice:"+string(h)+"\n")
	pull := func(addr string) error {
		reg, err := remote.New(addr, remote.Options{Username: "alice", Password: "pw", HTTPClient: &http.Client{}})
		if err != nil {
			return err
		}
		src, err := reg.Repository(t.Context(), "apps/api")
		if err != nil {
			return err
		}
		dst, _ := memory.New().Repository(t.Context(), "pulled")
		_, err = copy.Copy(t.Context(), src, "v1", dst, "v1", copy.Options{Retries: -1})
		return err
	}

	t.Run("without --ca-file", func(t *testing.T) {
		addr, _, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "untrusting"),
			"--htpasswd", htpasswd, "--mirror", up.URL)
		if err := pull(addr); err == nil {
			t.Fatal("pulled through an upstream whose certificate nothing trusts")
		}
		_, metrics := get(t, "http://"+addr+"/metrics")
		if !regexp.MustCompile(`gantry_mirror_upstream_errors_total\{upstream="` + regexp.QuoteMeta(up.URL) + `"\} [1-9]`).MatchString(metrics) {
			t.Errorf("/metrics counts no upstream error:\n%s", grepLines(metrics, "gantry_mirror"))
		}
	})
	t.Run("with --ca-file", func(t *testing.T) {
		addr, logs, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "trusting"),
			"--htpasswd", htpasswd, "--mirror", up.URL, "--ca-file", ca)
		if err := pull(addr); err != nil {
			t.Fatal(err)
		}
		_, metrics := get(t, "http://"+addr+"/metrics")
		blobs := 1 + len(img[0].Layers)
		for _, want := range []string{
			fmt.Sprintf(`gantry_mirror_fills_total{content="blob",result="ok",upstream=%q} %d`, up.URL, blobs),
			fmt.Sprintf(`gantry_mirror_fills_total{content="manifest",result="ok",upstream=%q} 1`, up.URL),
			fmt.Sprintf(`gantry_mirror_upstream_errors_total{upstream=%q} 0`, up.URL),
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics has no %s:\n%s", want, grepLines(metrics, "gantry_mirror"))
			}
		}
		for _, route := range []string{"token", "manifest_get", "blob_get"} {
			if !regexp.MustCompile(`route=` + route + `\b.*user=alice`).MatchString(logs.String()) {
				t.Errorf("no %s request logged with user=alice:\n%s", route, logs)
			}
		}
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
