package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// The bundle tests build a small fleet, put it in a gantry serve registry
// and in OCI layouts, bundle it with the gantry binary, and check the
// bundle with the tools a site has (containerd, skopeo) and with gantry's
// own push, load and serve --bundle.

// bundleHost is the registry the bundled images are named after: it need
// not exist, as at a real site the images come from elsewhere.
const bundleHost = "registry.example.com"

// fleetImages is a fleet of n random images over two bases.
func fleetImages(t *testing.T, n, baseSize, appSize int, seed uint64) []testimage.Image {
	t.Helper()
	imgs, err := testimage.Fleet(n, 2, baseSize, appSize, seed)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

// importSummary is the --json output of bundle push and load.
type importSummary struct {
	Images []struct {
		Name, Target, Digest string
	}
	Refused []struct {
		Name, Reason string
		Missing      []string
	}
	BlobsCopied  int
	BlobsSkipped int
}

func parseSummary(t *testing.T, out string) importSummary {
	t.Helper()
	var s importSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	return s
}

// requireBundleCreate skips until the bundle create command exists (it
// is written alongside these tests), failing under CI.
func requireBundleCreate(t *testing.T) {
	t.Helper()
	if r := gantry(t, "bundle", "create", "--help"); r.Code != 0 || !strings.Contains(r.Stdout, "create") {
		if testenv.InCI() {
			t.Fatalf("gantry bundle create is missing: %s", r.Stderr)
		}
		t.Skip("gantry bundle create is not built yet")
	}
}

// createBundle runs gantry bundle create -o out with args.
func createBundle(t *testing.T, out string, args ...string) testenv.Result {
	t.Helper()
	requireBundleCreate(t)
	return mustGantry(t, append([]string{"bundle", "create", "-q", "-o", out}, args...)...)
}

// bundleSources puts the fleet where bundles are made from: images 0..k-1
// in a gantry serve registry as demo/app<i>:1, the rest in an OCI layout
// named after bundleHost. It returns the server, the layout and, per
// image, the reference to bundle it from and the name it gets.
func bundleSources(t *testing.T, imgs []testimage.Image, k int) (*server, string, []string, []string) {
	t.Helper()
	s := startServer(t, t.TempDir())
	layout := filepath.Join(t.TempDir(), "layout")
	inLayout := map[string]testimage.Image{}
	var refs, names []string
	for i, img := range imgs {
		if i < k {
			src := filepath.Join(t.TempDir(), "src")
			layoutWith(t, src, map[string]testimage.Image{"x:1": img})
			ref := fmt.Sprintf("%s/demo/app%d:1", s.Addr, i)
			mustGantry(t, "copy", "-q", "oci:"+src+":x:1", ref)
			refs, names = append(refs, ref), append(names, ref)
			continue
		}
		name := fmt.Sprintf("%s/team/app%d:1", bundleHost, i)
		inLayout[name] = img
		refs, names = append(refs, "oci:"+layout+":"+name), append(names, name)
	}
	layoutWith(t, layout, inLayout)
	return s, layout, refs, names
}

// catalog returns the repositories of a registry.
func catalog(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Repositories []string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("catalog of %s: %v", addr, err)
	}
	return c.Repositories
}

// TestBundleRealTools bundles images from a registry and from an OCI
// layout (named on the command line and in a list file), and checks that
// containerd imports every image of the bundle and skopeo reads each one
// with its digest unchanged.
func TestBundleRealTools(t *testing.T) {
	requireBundleCreate(t)
	imgs := append([]testimage.Image{sharedBusybox(t)}, fleetImages(t, 4, 256<<10, 64<<10, 21)...)
	_, _, refs, names := bundleSources(t, imgs, 3)
	list := filepath.Join(t.TempDir(), "images.txt")
	if err := os.WriteFile(list, []byte("# the layout's images\n"+strings.Join(refs[3:], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, append(refs[:3], "-f", list)...)

	skopeo := testenv.Tool(t, "skopeo")
	for i, name := range names {
		r := must(t, skopeo, "inspect", "--format", "{{.Digest}}", "oci-archive:"+file+":"+name)
		if got := strings.TrimSpace(r.Stdout); got != imgs[i].ManifestDesc.Digest.String() {
			t.Errorf("skopeo inspect oci-archive:%s:%s: digest %s, want %s", file, name, got, imgs[i].ManifestDesc.Digest)
		}
	}

	requireRoot(t, "containerd runs as root")
	sock := testenv.Containerd(t)
	ctrBin := testenv.Tool(t, "ctr")
	must(t, ctrBin, "--address", sock, "images", "import", file)
	r := must(t, ctrBin, "--address", sock, "images", "ls", "-q")
	got := strings.Fields(r.Stdout)
	for _, name := range names {
		if !slices.Contains(got, name) {
			t.Errorf("ctr images ls lacks %s; it lists %v", name, got)
		}
	}
	id := fmt.Sprintf("gantry-bundle-%d", os.Getpid())
	testenv.Tool(t, "runc")
	if r := must(t, ctrBin, "--address", sock, "run", "--rm", names[0], id); strings.TrimSpace(r.Stdout) != "hello from gantry" {
		t.Errorf("the imported busybox printed %q", r.Stdout)
	}
}

// TestBundlePush pushes a bundle to gantry and to CNCF Distribution, under
// a prefix, and reads every image back with skopeo, digest unchanged.
func TestBundlePush(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 4, 256<<10, 64<<10, 22)
	_, _, refs, names := bundleSources(t, imgs, 2)
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, refs...)

	targets := map[string]string{
		"gantry":       startServer(t, t.TempDir()).Addr,
		"distribution": testenv.Distribution(t, testenv.DistributionOptions{}),
	}
	for kind, addr := range targets {
		t.Run(kind, func(t *testing.T) {
			r := mustGantry(t, "bundle", "push", file, "--to", addr+"/site", "--insecure", "--json")
			sum := parseSummary(t, r.Stdout)
			if len(sum.Images) != len(imgs) {
				t.Fatalf("pushed %d images, want %d: %s", len(sum.Images), len(imgs), r.Stdout)
			}
			for i, name := range names {
				path := name[strings.IndexByte(name, '/')+1:]
				ref := "docker://" + addr + "/site/" + path
				if got := skopeoDigest(t, ref); got != imgs[i].ManifestDesc.Digest.String() {
					t.Errorf("%s: digest %s, want %s", ref, got, imgs[i].ManifestDesc.Digest)
				}
			}
			// A second push moves nothing.
			sum = parseSummary(t, mustGantry(t, "bundle", "push", file, "--to", addr+"/site", "--insecure", "--json").Stdout)
			if sum.BlobsCopied != 0 {
				t.Errorf("a second push copied %d blobs", sum.BlobsCopied)
			}
		})
	}
}

// TestBundlePushKilled kills a push midway with SIGKILL, then runs it
// again: the rerun completes and moves only what the first left out.
func TestBundlePushKilled(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 6, 4<<20, 2<<20, 23)
	_, _, refs, _ := bundleSources(t, imgs, 0)
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, refs...)
	s := startServer(t, t.TempDir())

	// Killed once the first blob is in (the debug log says so).
	cmd := exec.Command(testenv.Gantry(t), "bundle", "push", file, "--to", s.Addr, "--insecure", "--concurrency", "1", "--log-level", "debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var seen []string
	killed := false
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "msg=copied") {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the push ended before a blob was copied:\n%s", strings.Join(seen, "\n"))
	}
	total := 2 + 6*3 // two bases, six app layers, configs and manifests
	sum := parseSummary(t, mustGantry(t, "bundle", "push", file, "--to", s.Addr, "--insecure", "--json").Stdout)
	if len(sum.Images) != 6 {
		t.Fatalf("rerun pushed %d images, want 6", len(sum.Images))
	}
	if sum.BlobsCopied >= total || sum.BlobsCopied == 0 {
		t.Errorf("rerun copied %d of %d blobs: want only those the killed run left out", sum.BlobsCopied, total)
	}
	for i, img := range imgs {
		ref := fmt.Sprintf("docker://%s/team/app%d:1", s.Addr, i)
		if got := skopeoDigest(t, ref); got != img.ManifestDesc.Digest.String() {
			t.Errorf("%s: digest %s, want %s", ref, got, img.ManifestDesc.Digest)
		}
	}
}

// TestBundleBadInput checks that a truncated bundle, a flipped byte and a
// delta whose base the target lacks are refused before anything is written,
// naming the digest; and that a missing volume costs only its images.
func TestBundleBadInput(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 3, 512<<10, 128<<10, 24)
	_, _, refs, names := bundleSources(t, imgs, 0)
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, refs...)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.tar")
	if err := os.WriteFile(truncated, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, "flipped.tar")
	layer := imgs[2].Layers[1] // the last image's own layer
	i := strings.Index(string(data), string(layer.Data[:256]))
	if i < 0 {
		t.Fatal("layer not found in the bundle")
	}
	bad := slices.Clone(data)
	bad[i+len(layer.Data)/2] ^= 0x40
	if err := os.WriteFile(flipped, bad, 0o644); err != nil {
		t.Fatal(err)
	}

	// A delta: the first image again with a new version of the last,
	// made --since a bundle of the first two only.
	base := filepath.Join(dir, "base.tar")
	createBundle(t, base, refs[:2]...)
	delta := filepath.Join(dir, "delta.tar")
	createBundle(t, delta, "--since", base, refs[0], refs[2])

	tests := []struct {
		name, file string
		mentions   []string
	}{
		{"truncated", truncated, []string{"truncated", "nothing written"}},
		{"flipped byte", flipped, []string{layer.Desc.Digest.String(), "nothing written"}},
		{"delta without base", delta, []string{"absent-at-target", names[0], "base", "nothing written"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			r := gantry(t, "bundle", "push", tc.file, "--to", s.Addr, "--insecure")
			if r.Code != 1 {
				t.Fatalf("push: exit %d, want 1\n%s", r.Code, r.Stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("error does not mention %q:\n%s", m, r.Stderr)
				}
			}
			if c := catalog(t, s.Addr); len(c) != 0 {
				t.Errorf("the target has repositories %v after a refused push", c)
			}
			root := t.TempDir()
			if r := gantry(t, "bundle", "load", tc.file, "--root", root); r.Code != 1 || !strings.Contains(r.Stderr, "nothing written") {
				t.Errorf("load: exit %d: %s", r.Code, r.Stderr)
			}
		})
	}

	t.Run("delta onto its base", func(t *testing.T) {
		s := startServer(t, t.TempDir())
		mustGantry(t, "bundle", "push", base, "--to", s.Addr, "--insecure")
		sum := parseSummary(t, mustGantry(t, "bundle", "push", delta, "--to", s.Addr, "--insecure", "--json").Stdout)
		if len(sum.Images) != 2 {
			t.Fatalf("delta pushed %d images", len(sum.Images))
		}
		ref := fmt.Sprintf("docker://%s/%s", s.Addr, strings.TrimPrefix(names[2], bundleHost+"/"))
		if got := skopeoDigest(t, ref); got != imgs[2].ManifestDesc.Digest.String() {
			t.Errorf("%s: %s, want %s", ref, got, imgs[2].ManifestDesc.Digest)
		}
	})

	t.Run("missing volume", func(t *testing.T) {
		if r := gantry(t, "bundle", "create", "--help"); !strings.Contains(r.Stdout, "--split") {
			t.Skip("bundle create has no --split yet")
		}
		split := filepath.Join(t.TempDir(), "split.tar")
		createBundle(t, split, append([]string{"--split", "700KiB"}, refs...)...)
		vols, _ := filepath.Glob(filepath.Join(filepath.Dir(split), "split*.tar"))
		if len(vols) < 2 {
			t.Fatalf("split into %v", vols)
		}
		s := startServer(t, t.TempDir())
		given := slices.DeleteFunc(slices.Clone(vols), func(v string) bool { return v == vols[len(vols)-1] })
		r := gantry(t, append(append([]string{"bundle", "push"}, given...), "--to", s.Addr, "--insecure")...)
		if r.Code != 1 || !strings.Contains(r.Stderr, filepath.Base(vols[len(vols)-1])) || !strings.Contains(r.Stderr, "refused") {
			t.Fatalf("push without the last volume: exit %d\n%s", r.Code, r.Stderr)
		}
		pushed := strings.Fields(r.Stdout)
		if len(pushed) == 0 || len(pushed) == len(imgs) {
			t.Errorf("pushed %v: want the images complete without the last volume, and only those", pushed)
		}
		for _, name := range names {
			refused := strings.Contains(r.Stderr, name)
			written := slices.ContainsFunc(pushed, func(p string) bool {
				return strings.Contains(p, "/"+strings.TrimPrefix(name, bundleHost+"/")+"@")
			})
			if refused == written {
				t.Errorf("%s: refused %v, written %v: want exactly one", name, refused, written)
			}
		}
	})
}

// TestServeBundle serves a bundle in place and copies from it with skopeo,
// by full repository name and by the path a mirror is asked for.
func TestServeBundle(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 3, 256<<10, 64<<10, 25)
	_, _, refs, names := bundleSources(t, imgs, 0)
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, refs...)

	s := launchServer(t, t.TempDir(), "--bundle", file)
	defer func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if s.err != nil {
			t.Errorf("gantry serve --bundle after SIGTERM: %v", s.err)
		}
	}()
	if strings.Contains(s.logs.String(), "root=") {
		t.Errorf("serve --bundle logs a --root it does not use:\n%s", s.logs.tail(20))
	}
	skopeo := testenv.Tool(t, "skopeo")
	for i, name := range names {
		for _, ref := range []string{s.Addr + "/" + name, s.Addr + "/" + strings.TrimPrefix(name, bundleHost+"/")} {
			out := filepath.Join(t.TempDir(), "out")
			must(t, skopeo, "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+ref, "oci:"+out+":x")
			if got := skopeoDigest(t, "oci:"+out+":x"); got != imgs[i].ManifestDesc.Digest.String() {
				t.Errorf("%s: digest %s, want %s", ref, got, imgs[i].ManifestDesc.Digest)
			}
		}
	}
	// Read-only: a push is refused.
	out := filepath.Join(t.TempDir(), "out")
	must(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+s.Addr+"/"+names[0], "oci:"+out+":x")
	if r := testenv.Run(t, timeout, skopeo, "copy", "--dest-tls-verify=false", "oci:"+out+":x", "docker://"+s.Addr+"/other:1"); r.Code == 0 {
		t.Error("a push to a served bundle succeeded")
	}
}

// TestServeBundleDamaged: serve --bundle verifies the bundle before it
// listens and refuses a damaged one, naming the first damaged entry, where
// it used to serve the damaged blob with 200.
func TestServeBundleDamaged(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 2, 256<<10, 64<<10, 26)
	_, _, refs, _ := bundleSources(t, imgs, 0)
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, refs...)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	layer := imgs[1].Layers[1] // the last image's own layer
	i := strings.Index(string(data), string(layer.Data[:256]))
	if i < 0 {
		t.Fatal("layer not found in the bundle")
	}
	flipped := filepath.Join(dir, "flipped.tar")
	bad := slices.Clone(data)
	bad[i+len(layer.Data)/2] ^= 0x40
	if err := os.WriteFile(flipped, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.tar")
	if err := os.WriteFile(truncated, data[:i+len(layer.Data)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, file string
		mentions   []string
	}{
		{"flipped byte", flipped, []string{"damaged", layer.Desc.Digest.String()}},
		{"truncated", truncated, []string{"damaged", "truncated", filepath.Base(truncated)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := gantry(t, "serve", "--addr", "127.0.0.1:0", "--bundle", tc.file)
			if r.Code != 1 {
				t.Fatalf("serve --bundle of a damaged bundle: exit %d, want 1\n%s", r.Code, r.Stderr)
			}
			if strings.Contains(r.Stderr, "msg=listening") {
				t.Errorf("it listened before refusing:\n%s", r.Stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("the error does not mention %q:\n%s", m, r.Stderr)
				}
			}
			t.Logf("refused in %s: %s", time.Since(start).Round(time.Millisecond), r.Stderr)
		})
	}
}

// TestBundleDockerArchive bundles docker-archive tarballs that skopeo made
// of images sharing a base: the bundle holds the base once, and what it
// pushes is what the tarballs hold.
func TestBundleDockerArchive(t *testing.T) {
	requireBundleCreate(t)
	skopeo := testenv.Tool(t, "skopeo")
	imgs := fleetImages(t, 4, 1<<20, 128<<10, 26) // images 0 and 2 share a base, 1 and 3 the other
	dir := t.TempDir()
	var tarballs []string
	var sum int64
	for i, img := range imgs {
		src := filepath.Join(dir, fmt.Sprintf("src%d", i))
		layoutWith(t, src, map[string]testimage.Image{"x:1": img})
		tb := filepath.Join(dir, fmt.Sprintf("app%d.tar", i))
		must(t, skopeo, "copy", "-q", "oci:"+src+":x:1", fmt.Sprintf("docker-archive:%s:app%d:1", tb, i))
		fi, err := os.Stat(tb)
		if err != nil {
			t.Fatal(err)
		}
		sum += fi.Size()
		tarballs = append(tarballs, "docker-archive:"+tb)
	}
	file := filepath.Join(dir, "fleet.tar")
	createBundle(t, file, tarballs...)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	// Two bases of 1 MiB instead of four: well under the tarballs' sum.
	if fi.Size() > sum-3*(1<<20)/2 {
		t.Errorf("bundle is %d bytes, the tarballs %d: the shared bases are not stored once", fi.Size(), sum)
	}
	s := startServer(t, t.TempDir())
	got := parseSummary(t, mustGantry(t, "bundle", "push", file, "--to", s.Addr+"/site", "--insecure", "--json").Stdout)
	if len(got.Images) != 4 {
		t.Fatalf("pushed %+v", got)
	}
	for i, img := range imgs {
		ref := fmt.Sprintf("docker://%s/site/library/app%d:1", s.Addr, i)
		out := filepath.Join(t.TempDir(), "out")
		must(t, skopeo, "copy", "--src-tls-verify=false", ref, "oci:"+out+":x")
		r := must(t, skopeo, "inspect", "--config", "oci:"+out+":x")
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &cfg); err != nil || len(cfg.RootFS.DiffIDs) != 2 || cfg.RootFS.DiffIDs[1] != img.Layers[1].DiffID.String() {
			t.Errorf("%s: config %v %s", ref, err, r.Stdout)
		}
	}
}

// TestBundleFromManifests bundles the images a Kubernetes Deployment
// (init and app containers) and a compose file name, each once.
func TestBundleFromManifests(t *testing.T) {
	requireBundleCreate(t)
	imgs := fleetImages(t, 3, 128<<10, 32<<10, 27)
	_, _, refs, names := bundleSources(t, imgs, 3)
	dir := t.TempDir()
	deploy := fmt.Sprintf(`# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      initContainers: [{name: init, image: %q}]
      containers: [{name: app, image: %q}]
---
apiVersion: v1
kind: Service
metadata: {name: app}
`, refs[0], refs[1])
	compose := fmt.Sprintf("services:\n  app:\n    image: %q\n  worker:\n    image: \"%s\"\n", refs[1], strings.TrimSuffix(refs[2], ":1")+":${TAG:-1}")
	if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(deploy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fleet.tar")
	createBundle(t, file, "--from", dir)
	for i, name := range names {
		if got := skopeoDigest(t, "oci-archive:"+file+":"+name); got != imgs[i].ManifestDesc.Digest.String() {
			t.Errorf("%s: digest %s, want %s", name, got, imgs[i].ManifestDesc.Digest)
		}
	}
}
