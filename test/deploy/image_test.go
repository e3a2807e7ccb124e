package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
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

// imageRef names the image the tests build.
const imageRef = "localhost/gantry-test:ci"

// buildahStore is a buildah store of a test's own.
type buildahStore struct {
	buildah string
	flags   []string
}

// buildImage builds gantry's image with the Makefile's targets (make
// image-bin image), as a user would, into a buildah store under dir.
func buildImage(t *testing.T, dir string) buildahStore {
	t.Helper()
	b := buildahStore{testenv.Tool(t, "buildah"), []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot")}}
	mk := testenv.Tool(t, "make")
	r := testenv.Run(t, 2*timeout, mk, "-C", repoRoot(), "image",
		"IMAGE="+imageRef, "IMAGE_DIR="+filepath.Join(dir, "context"), "VERSION=v0.0.0-test", "REVISION=abc123",
		"BUILDAH_FLAGS="+strings.Join(b.flags, " "))
	if r.Code != 0 {
		t.Fatalf("make image: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	b.flags = append(b.flags, "--storage-driver", "vfs")
	return b
}

// run runs buildah on the store and returns its output.
func (b buildahStore) run(t *testing.T, args ...string) string {
	t.Helper()
	r := testenv.Run(t, timeout, b.buildah, append(b.flags, args...)...)
	if r.Code != 0 {
		t.Fatalf("buildah %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// TestImage checks what buildah recorded of gantry's image and what the
// image holds: a static binary that runs, the CA certificates, an
// unprivileged user, /gantry as the entrypoint.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and an image")
	}
	b := buildImage(t, t.TempDir())
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
	if err := json.Unmarshal([]byte(b.run(t, "inspect", "--type", "image", imageRef)), &img); err != nil {
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

	ctr := b.run(t, "from", imageRef)
	t.Cleanup(func() { testenv.Run(t, timeout, b.buildah, append(b.flags, "rm", ctr)...) })
	rootfs := b.run(t, "mount", ctr)
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

// The image runs the tracker and the agent under containerd as the chart
// runs them: the image's own user, a read-only root filesystem, the host's
// network, a data directory mounted in. The agent answers its probe, and
// its process has the image's UID.
func TestImageRunsAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and an image, runs containerd")
	}
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("CI runs as root; containerd needs it")
		}
		t.Skip("containerd needs root")
	}
	ctr := testenv.Tool(t, "ctr")
	dir := t.TempDir()
	archive := filepath.Join(dir, "gantry.tar")
	buildImage(t, dir).run(t, "push", imageRef, "oci-archive:"+archive+":"+imageRef)
	sock := testenv.Containerd(t)
	ctrRun := func(args ...string) string {
		t.Helper()
		r := testenv.Run(t, timeout, ctr, append([]string{"--address", sock}, args...)...)
		if r.Code != 0 {
			t.Fatalf("ctr %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	ctrRun("images", "import", archive)

	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, 65532, 65532); err != nil { // the chart's init container does this
		t.Fatal(err)
	}
	ports := testenv.FreePorts(t, 3)
	mirror, peer, tracker := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1], "127.0.0.1:"+ports[2]
	start := func(id string, args ...string) {
		t.Helper()
		log := filepath.Join(dir, id+".log")
		run := []string{"run", "-d", "--net-host", "--read-only", "--log-uri", "file://" + log}
		if id == "agent" {
			run = append(run, "--mount", "type=bind,src="+data+",dst=/data,options=rbind:rw")
		}
		ctrRun(append(append(run, imageRef, id, "/gantry"), args...)...)
		t.Cleanup(func() {
			testenv.Run(t, timeout, ctr, "--address", sock, "tasks", "kill", "--signal", "SIGKILL", id)
			testenv.Run(t, timeout, ctr, "--address", sock, "tasks", "delete", "--force", id)
			testenv.Run(t, timeout, ctr, "--address", sock, "containers", "delete", id)
			if t.Failed() {
				b, _ := os.ReadFile(log)
				t.Logf("%s log:\n%s", id, b)
			}
		})
	}
	start("tracker", "tracker", "--listen="+tracker)
	start("agent", "agent", "--listen="+mirror, "--peer-listen="+peer, "--upstream=http://127.0.0.1:1",
		"--tracker=http://"+tracker, "--data=/data/registry", "--cache-size=1GiB")
	url := "http://" + mirror + "/healthz"
	testenv.WaitHTTP(t, url, 20*time.Second, &testenv.SyncBuffer{})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: %s, want 200", url, resp.Status)
	}

	// ctr tasks ls: TASK PID STATUS
	var pid string
	for _, line := range strings.Split(ctrRun("tasks", "ls"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "agent" {
			pid = f[1]
		}
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("the agent's process %q: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") && f[1] != "65532" {
			t.Errorf("the agent runs with %s, want 65532", line)
		}
	}
	if fi, err := os.Stat(filepath.Join(data, "registry")); err != nil {
		t.Errorf("the agent made no data directory: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65532 {
		t.Errorf("the agent's data directory is owned by %d, want 65532", st.Uid)
	}
}
