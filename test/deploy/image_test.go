package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cli"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const timeout = 2 * time.Minute

// repoRoot is the repository's top directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// gantry runs a gantry command in this process and returns its stdout,
// its stderr and its exit code.
func gantry(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// The image's Dockerfile passes gantry's own lint with no finding at all.
func TestDockerfileLint(t *testing.T) {
	out, stderr, code := gantry(t, "lint", "--format", "json", filepath.Join(repoRoot(), "Dockerfile"))
	if code != 0 {
		t.Fatalf("gantry lint Dockerfile: exit %d\n%s%s", code, out, stderr)
	}
	var got struct {
		Findings []map[string]any `yaml:"findings"`
	}
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("gantry lint --format json: %v\n%s", err, out)
	}
	if len(got.Findings) != 0 {
		t.Errorf("gantry lint Dockerfile found %v", got.Findings)
	}
}

// TestImage builds gantry's image with the Makefile's targets (make
// image-bin image), as a user would, into a buildah store of its own, and
// checks what buildah recorded and what the image holds: a static binary
// that runs, the CA certificates, an unprivileged user, /gantry as the
// entrypoint.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and an image")
	}
	buildah := testenv.Tool(t, "buildah")
	mk := testenv.Tool(t, "make")
	dir := t.TempDir()
	store := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "vfs"}
	const ref = "localhost/gantry-test:ci"
	r := testenv.Run(t, 2*timeout, mk, "-C", repoRoot(), "image",
		"IMAGE="+ref, "IMAGE_DIR="+filepath.Join(dir, "context"), "VERSION=v0.0.0-test", "REVISION=abc123",
		"BUILDAH_FLAGS="+strings.Join(store[:4], " "))
	if r.Code != 0 {
		t.Fatalf("make image: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	bud := func(args ...string) string {
		t.Helper()
		r := testenv.Run(t, timeout, buildah, append(store, args...)...)
		if r.Code != 0 {
			t.Fatalf("buildah %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}

	var img struct {
		OCIv1 struct {
			Config struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Labels     map[string]string
			} `json:"config"`
		}
	}
	if err := json.Unmarshal([]byte(bud("inspect", "--type", "image", ref)), &img); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	cfg := img.OCIv1.Config
	if diff := cmp.Diff([]string{"/gantry"}, cfg.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if cfg.Cmd != nil {
		t.Errorf("cmd %q, want none (the entrypoint prints gantry's help)", cfg.Cmd)
	}
	if cfg.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.User)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.title":    "gantry",
		"org.opencontainers.image.version":  "v0.0.0-test",
		"org.opencontainers.image.revision": "abc123",
	} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}

	ctr := bud("from", ref)
	t.Cleanup(func() { testenv.Run(t, timeout, buildah, append(store, "rm", ctr)...) })
	rootfs := bud("mount", ctr)
	var files []string
	err := filepath.WalkDir(rootfs, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(rootfs, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"etc/ssl/certs/ca-certificates.crt", "gantry"}, files); diff != "" {
		t.Errorf("files in the image (-want +got):\n%s", diff)
	}
	bin := filepath.Join(rootfs, "gantry")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the image's /gantry: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the image's /gantry is dynamically linked: it needs a libc that FROM scratch lacks")
		}
	}
	v := testenv.Run(t, timeout, bin, "version")
	if v.Code != 0 || !strings.HasPrefix(v.Stdout, "gantry v0.0.0-test ") {
		t.Errorf("the image's /gantry version: exit %d, %q; want gantry v0.0.0-test", v.Code, v.Stdout)
	}
}
