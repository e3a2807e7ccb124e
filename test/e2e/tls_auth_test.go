package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestServeTLSAuthRealClients runs gantry serve with TLS and --htpasswd
// together, as a site runs it: the challenge's token realm is https, and
// skopeo (--creds, the CA in --cert-dir), crane (crane auth login, the CA
// as SSL_CERT_FILE), oras (oras login --ca-file) and gantry copy
// (--ca-file, docker's config.json) log in, push and pull, each refused
// without credentials. A push over a quota is refused with the quota named
// in what the client prints.
func TestServeTLSAuthRealClients(t *testing.T) {
	skopeo := testenv.Tool(t, "skopeo")
	crane := testenv.GoTool(t, "crane")
	oras := testenv.GoTool(t, "oras")
	htpasswd, cfg := authFiles(t, authConfig+`  quotas:
    - {repositories: "team/small/**", bytes: 1KiB}
`)
	s := startTLSServer(t, "--config", cfg, "--htpasswd", htpasswd)
	host := s.Addr
	img := sharedBusybox(t)
	want := img.ManifestDesc.Digest.String()
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1": img})
	certDir := t.TempDir()
	caPEM, err := os.ReadFile(s.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	resp, err := s.client(false).Get("https://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, wantRealm := resp.Header.Get("WWW-Authenticate"), `Bearer realm="https://`+host+`/token"`; resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, wantRealm) {
		t.Fatalf("anonymous /v2/ over TLS: %d %q, want 401 with %s", resp.StatusCode, got, wantRealm)
	}

	t.Run("skopeo", func(t *testing.T) {
		dockerConfig(t, host, "")
		refused(t, skopeo, "copy", "--dest-cert-dir", certDir, "oci:"+src+":demo/busybox:1", "docker://"+host+"/team/skopeo:1")
		must(t, skopeo, "copy", "--dest-cert-dir", certDir, "--dest-creds", "alice:alice-pw", "oci:"+src+":demo/busybox:1", "docker://"+host+"/team/skopeo:1")
		if r := must(t, skopeo, "inspect", "--cert-dir", certDir, "--creds", "alice:alice-pw", "--format", "{{.Digest}}", "docker://"+host+"/team/skopeo:1"); strings.TrimSpace(r.Stdout) != want {
			t.Errorf("skopeo inspect: %q, want %s", r.Stdout, want)
		}
		out := refused(t, skopeo, "copy", "--dest-cert-dir", certDir, "--dest-creds", "alice:alice-pw", "oci:"+src+":demo/busybox:1", "docker://"+host+"/team/small/skopeo:1")
		if !strings.Contains(out, `quota`) || !strings.Contains(out, "team/small/**") {
			t.Errorf("skopeo push over the quota printed:\n%s\nwant the quota named", out)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("crane", func(t *testing.T) {
		dockerConfig(t, host, "")
		t.Setenv("SSL_CERT_FILE", s.ca.CertFile)
		refused(t, crane, "digest", host+"/team/skopeo:1")
		must(t, crane, "auth", "login", host, "-u", "alice", "-p", "alice-pw")
		if r := must(t, crane, "digest", host+"/team/skopeo:1"); strings.TrimSpace(r.Stdout) != want {
			t.Errorf("crane digest: %q, want %s", r.Stdout, want)
		}
		must(t, crane, "copy", host+"/team/skopeo:1", host+"/team/crane:1")
		out := refused(t, crane, "copy", host+"/team/skopeo:1", host+"/team/small/crane:1")
		if !strings.Contains(out, "DENIED") || !strings.Contains(out, "team/small/**") {
			t.Errorf("crane push over the quota printed:\n%s\nwant DENIED and the quota named", out)
		}
	})

	t.Run("oras", func(t *testing.T) {
		dockerConfig(t, host, "")
		regCfg := filepath.Join(t.TempDir(), "oras.json")
		refused(t, oras, "manifest", "fetch", "--ca-file", s.ca.CertFile, "--registry-config", regCfg, host+"/team/crane:1")
		refused(t, oras, "login", "--ca-file", s.ca.CertFile, "--registry-config", regCfg, "-u", "alice", "-p", "wrong", host)
		must(t, oras, "login", "--ca-file", s.ca.CertFile, "--registry-config", regCfg, "-u", "alice", "-p", "alice-pw", host)
		if r := must(t, oras, "manifest", "fetch", "--ca-file", s.ca.CertFile, "--registry-config", regCfg, "--descriptor", host+"/team/crane:1"); !strings.Contains(r.Stdout, want) {
			t.Errorf("oras manifest fetch --descriptor: %s, want %s", r.Stdout, want)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("pushed by oras over TLS"), 0o644); err != nil {
			t.Fatal(err)
		}
		must(t, oras, "push", "--ca-file", s.ca.CertFile, "--registry-config", regCfg, "--disable-path-validation", host+"/team/oras:1", filepath.Join(dir, "notes.txt"))
	})

	t.Run("gantry", func(t *testing.T) {
		dockerConfig(t, host, "")
		r := gantry(t, "copy", "-q", "--ca-file", s.ca.CertFile, host+"/team/crane:1", host+"/team/gantry:1")
		if r.Code == 0 || !strings.Contains(r.Stderr, "log in") {
			t.Errorf("gantry copy without credentials: exit %d, %s; want a refusal that says to log in", r.Code, r.Stderr)
		}
		dockerConfig(t, host, "alice")
		if r := mustGantry(t, "copy", "-q", "--ca-file", s.ca.CertFile, host+"/team/crane:1", host+"/team/gantry:1"); !strings.Contains(r.Stdout, want) {
			t.Errorf("gantry copy printed %q, want %s", r.Stdout, want)
		}
		r = gantry(t, "copy", "-q", "--ca-file", s.ca.CertFile, host+"/team/crane:1", host+"/team/small/gantry:1")
		if r.Code == 0 || !strings.Contains(r.Stderr, "team/small/**") {
			t.Errorf("gantry copy over the quota: exit %d, %s; want a refusal naming the quota", r.Code, r.Stderr)
		}
	})

	logs := s.logs.String()
	if !strings.Contains(logs, "route=token") || !strings.Contains(logs, "user=alice") {
		t.Errorf("the access log has no token request or no user=alice")
	}
	resp, err = s.client(false).Get("https://" + host + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(body)
	if metricSum(m, "gantry_quota_bytes_limit", `repositories="team/small/**"`) != 1024 {
		t.Errorf("/metrics: no quota bound for team/small/**:\n%s", grepLines(m, "gantry_quota"))
	}
}
