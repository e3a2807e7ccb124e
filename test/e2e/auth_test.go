package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
)

// authUsers are the accounts of the access-control tests; each one's
// password is its name with "-pw".
var authUsers = []string{"admin", "alice", "bob"}

// authConfig lets admin do everything, alice pull and push under team/,
// bob only what anonymous requests may: pull under public/.
const authConfig = `serve:
  auth:
    grants:
      - {repositories: "**", users: [admin], actions: ["*"]}
      - {repositories: "team/**", users: [alice], actions: [pull, push]}
    anonymous:
      - {repositories: "public/**", actions: [pull]}
`

// startAuthServer starts gantry serve --htpasswd with authConfig.
func startAuthServer(t *testing.T, extra ...string) *server {
	t.Helper()
	htpasswd, cfg := authFiles(t, authConfig)
	return startServer(t, t.TempDir(), append([]string{"--config", cfg, "--htpasswd", htpasswd}, extra...)...)
}

// authFiles writes the htpasswd file of authUsers and a config file
// holding config, and returns their paths.
func authFiles(t *testing.T, config string) (htpasswd, cfg string) {
	t.Helper()
	dir := t.TempDir()
	var lines []string
	for _, u := range authUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	htpasswd, cfg = filepath.Join(dir, "htpasswd"), filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return htpasswd, cfg
}

// dockerConfig points DOCKER_CONFIG (and containers' REGISTRY_AUTH_FILE)
// at a fresh directory whose config.json holds user's credentials for
// host, or none for user "", and returns the file's path.
func dockerConfig(t *testing.T, host, user string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	body := `{"auths":{}}`
	if user != "" {
		body = fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw")))
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("REGISTRY_AUTH_FILE", path)
	return path
}

// refused runs a program that must fail, and returns its output.
func refused(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := testenv.Run(t, timeout, name, args...)
	if r.Code == 0 {
		t.Fatalf("%s %s succeeded, want a refusal\n%s", filepath.Base(name), strings.Join(args, " "), r.Stdout)
	}
	return r.Stdout + r.Stderr
}

// TestServeAuthRealClients runs gantry serve --htpasswd against each real
// client, with and without credentials: gantry copy (docker's
// config.json), crane (crane auth login), skopeo (--creds, --authfile),
// oras (oras login), buildah push (--creds) and containerd's ctr (--user).
// Each must be refused without credentials and where the user has no
// grant, and work with them; the access log names the user.
func TestServeAuthRealClients(t *testing.T) {
	s := startAuthServer(t)
	host := s.Addr
	img := sharedBusybox(t)
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1": img})
	want := img.ManifestDesc.Digest.String()

	t.Run("gantry", func(t *testing.T) {
		dockerConfig(t, host, "")
		r := gantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", host+"/team/busybox:1")
		if r.Code == 0 || !strings.Contains(r.Stderr, "log in") {
			t.Fatalf("anonymous push: exit %d, stderr %q; want a refusal that says to log in", r.Code, r.Stderr)
		}
		dockerConfig(t, host, "alice")
		if r := mustGantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", host+"/team/busybox:1"); !strings.Contains(r.Stdout, want) {
			t.Fatalf("gantry copy printed %q, want %s", r.Stdout, want)
		}
		r = gantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", host+"/other/busybox:1")
		if r.Code == 0 || !strings.Contains(r.Stderr, "not allowed") {
			t.Errorf("alice pushes to other/: exit %d, stderr %q; want a refusal saying she is not allowed", r.Code, r.Stderr)
		}
		dockerConfig(t, host, "admin")
		mustGantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", host+"/public/busybox:1")
		mustGantry(t, "copy", "-q", "oci:"+src+":demo/busybox:1", host+"/other/busybox:1")
	})
	if t.Failed() {
		return
	}
	ref := host + "/team/busybox:1"

	t.Run("crane", func(t *testing.T) {
		crane := testenv.GoTool(t, "crane")
		dockerConfig(t, host, "")
		refused(t, crane, "digest", "--insecure", ref)
		if r := must(t, crane, "digest", "--insecure", host+"/public/busybox:1"); strings.TrimSpace(r.Stdout) != want {
			t.Errorf("anonymous digest of public/busybox:1 = %q, want %s", r.Stdout, want)
		}
		// crane auth login only writes config.json; the wrong password
		// fails at the first request.
		must(t, crane, "auth", "login", host, "-u", "alice", "-p", "wrong")
		if out := refused(t, crane, "digest", "--insecure", ref); !strings.Contains(out, "UNAUTHORIZED") {
			t.Errorf("crane digest with a wrong password: %s; want UNAUTHORIZED", out)
		}
		must(t, crane, "auth", "login", host, "-u", "alice", "-p", "alice-pw")
		if r := must(t, crane, "digest", "--insecure", ref); strings.TrimSpace(r.Stdout) != want {
			t.Errorf("crane digest = %q, want %s", r.Stdout, want)
		}
		must(t, crane, "copy", "--insecure", ref, host+"/team/crane:1")
		if r := must(t, crane, "catalog", "--insecure", host); strings.Contains(r.Stdout, "other/") || !strings.Contains(r.Stdout, "team/crane") {
			t.Errorf("alice's catalog:\n%s\nwant team/ and public/ only", r.Stdout)
		}
		out := refused(t, crane, "copy", "--insecure", ref, host+"/other/crane:1")
		if !strings.Contains(out, "DENIED") && !strings.Contains(out, "403") {
			t.Errorf("crane copy to other/: %s; want 403 DENIED", out)
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		skopeo := testenv.Tool(t, "skopeo")
		dockerConfig(t, host, "")
		refused(t, skopeo, "inspect", "--tls-verify=false", "docker://"+ref)
		refused(t, skopeo, "inspect", "--tls-verify=false", "--creds", "alice:wrong", "docker://"+ref)
		must(t, skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", "alice:alice-pw", "--dest-creds", "alice:alice-pw",
			"docker://"+ref, "docker://"+host+"/team/skopeo:1")
		authfile := filepath.Join(t.TempDir(), "auth.json")
		if err := os.WriteFile(authfile, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := must(t, skopeo, "inspect", "--tls-verify=false", "--authfile", authfile, "--format", "{{.Digest}}", "docker://"+host+"/team/skopeo:1"); strings.TrimSpace(r.Stdout) != want {
			t.Errorf("skopeo inspect --authfile: %q, want %s", r.Stdout, want)
		}
		refused(t, skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--authfile", authfile, "docker://"+ref, "docker://"+host+"/other/skopeo:1")
	})

	t.Run("oras", func(t *testing.T) {
		oras := testenv.GoTool(t, "oras")
		dockerConfig(t, host, "")
		cfg := filepath.Join(t.TempDir(), "oras.json")
		refused(t, oras, "manifest", "fetch", "--plain-http", "--registry-config", cfg, ref)
		refused(t, oras, "login", "--plain-http", "--registry-config", cfg, "-u", "alice", "-p", "wrong", host)
		must(t, oras, "login", "--plain-http", "--registry-config", cfg, "-u", "alice", "-p", "alice-pw", host)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("pushed by oras"), 0o644); err != nil {
			t.Fatal(err)
		}
		push := testenv.Run(t, timeout, oras, "push", "--plain-http", "--registry-config", cfg, "--disable-path-validation", host+"/team/oras:1", filepath.Join(dir, "notes.txt"))
		if push.Code != 0 {
			t.Fatalf("oras push: %s %s", push.Stdout, push.Stderr)
		}
		blob := host + "/team/oras@" + digest.FromString("pushed by oras").String()
		if r := must(t, oras, "blob", "fetch", "--plain-http", "--registry-config", cfg, "--output", "-", blob); r.Stdout != "pushed by oras" {
			t.Errorf("oras blob fetch: %q, want the pushed text", r.Stdout)
		}
		refused(t, oras, "blob", "fetch", "--plain-http", "--registry-config", filepath.Join(t.TempDir(), "none.json"), "--output", "-", blob)
		refused(t, oras, "push", "--plain-http", "--registry-config", cfg, "--disable-path-validation", host+"/other/oras:1", filepath.Join(dir, "notes.txt"))
	})

	t.Run("buildah", func(t *testing.T) {
		requireRoot(t, "buildah's storage is root's here")
		buildah := testenv.Tool(t, "buildah")
		base := t.TempDir()
		b := buildahStore(base)
		dockerConfig(t, host, "")
		refused(t, buildah, append(b, "pull", "--tls-verify=false", ref)...)
		must(t, buildah, append(b, "pull", "--tls-verify=false", "--creds", "alice:alice-pw", ref)...)
		refused(t, buildah, append(b, "push", "--tls-verify=false", ref, "docker://"+host+"/team/buildah:1")...)
		must(t, buildah, append(b, "push", "--tls-verify=false", "--creds", "alice:alice-pw", ref, "docker://"+host+"/team/buildah:1")...)
		refused(t, buildah, append(b, "push", "--tls-verify=false", "--creds", "alice:alice-pw", ref, "docker://"+host+"/other/buildah:1")...)
		dockerConfig(t, host, "alice")
		must(t, testenv.GoTool(t, "crane"), "digest", "--insecure", host+"/team/buildah:1")
	})

	t.Run("ctr", func(t *testing.T) {
		requireRoot(t, "containerd runs as root")
		ctr := testenv.Tool(t, "ctr")
		sock := testenv.Containerd(t)
		dockerConfig(t, host, "")
		refused(t, ctr, "--address", sock, "images", "pull", "--plain-http", ref)
		refused(t, ctr, "--address", sock, "images", "pull", "--plain-http", "--user", "alice:wrong", ref)
		refused(t, ctr, "--address", sock, "images", "pull", "--plain-http", "--user", "alice:alice-pw", host+"/other/busybox:1")
		must(t, ctr, "--address", sock, "images", "pull", "--plain-http", "--user", "alice:alice-pw", ref)
		must(t, ctr, "--address", sock, "images", "pull", "--plain-http", host+"/public/busybox:1")
	})

	logs := s.logs.String()
	for _, w := range []string{"user=alice", "user=admin", "user=-"} {
		if !strings.Contains(logs, w) {
			t.Errorf("the access log has no %q", w)
		}
	}
	m := scrape(t, s)
	if metricSum(m, "gantry_auth_failures_total", `reason="bad_credentials"`) == 0 || metricSum(m, "gantry_auth_failures_total", `reason="denied"`) == 0 {
		t.Errorf("gantry_auth_failures_total counts no bad_credentials or no denied:\n%s", grepLines(m, "gantry_auth_failures_total"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeOCIConformanceAuth runs the OCI conformance suite against
// gantry serve --htpasswd with credentials (the suite's OCI_USERNAME and
// OCI_PASSWORD, a user granted every action): every row must pass, as
// without access control.
func TestServeOCIConformanceAuth(t *testing.T) {
	testenv.ConformanceBinary(t)
	s := startAuthServer(t)
	res := testenv.Conformance(t, s.Addr, map[string]string{
		"OCI_USERNAME":                "admin",
		"OCI_PASSWORD":                "admin-pw",
		"OCI_API_BLOBS_UPLOAD_CANCEL": "true",
		"OCI_API_MANIFESTS_TAG_PARAM": "true",
	})
	t.Log(res.Summary())
	for _, row := range res.Failed() {
		t.Errorf("%s %s: %s %s", row.Kind, row.Name, row.Status, row.Detail)
	}
	if t.Failed() {
		t.Logf("full report: %s/report.html", res.Dir)
	}
}
