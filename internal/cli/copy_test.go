package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// gantry runs the command line in-process.
func gantry(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(t.Context(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// layout writes into a new OCI layout under dir: each image tagged
// REPO:TAG, and, for multi, an index of images by platform tagged
// multi/app:1. It returns the index's descriptor.
func layout(t *testing.T, dir string, images map[string]testimage.Image, multi map[string]testimage.Image) ocispec.Descriptor {
	t.Helper()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	ctx := t.Context()
	for ref, img := range images {
		repoName, tag, _ := strings.Cut(ref, ":")
		r, err := s.Repository(ctx, repoName)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(ctx, r, tag); err != nil {
			t.Fatal(err)
		}
	}
	if multi == nil {
		return ocispec.Descriptor{}
	}
	r, err := s.Repository(ctx, "multi/app")
	if err != nil {
		t.Fatal(err)
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		img := multi[p]
		if err := img.Push(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
		pl, _ := oci.ParsePlatform(p)
		d := img.ManifestDesc
		d.Platform = &pl
		idx.Manifests = append(idx.Manifests, d)
	}
	b, _ := json.Marshal(idx)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := r.Push(ctx, desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, desc, "1"); err != nil {
		t.Fatal(err)
	}
	return desc
}

func image(t *testing.T, sizes ...int) testimage.Image {
	t.Helper()
	var layers []testimage.Layer
	for _, n := range sizes {
		l, err := testimage.RandomLayer(n)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := testimage.NewImage(layers, []string{"/app"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// open opens a layout's repository for checks; the caller closes the store.
func open(t *testing.T, dir, repoName string) (cas.Target, func()) {
	t.Helper()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Repository(t.Context(), repoName)
	if err != nil {
		t.Fatal(err)
	}
	return r, func() { s.Close() }
}

func resolve(t *testing.T, dir, repoName, tag string) (ocispec.Descriptor, error) {
	t.Helper()
	r, done := open(t, dir, repoName)
	defer done()
	return r.Resolve(t.Context(), tag)
}

func TestCopyLayoutToLayout(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	img := image(t, 100000, 5000)
	layout(t, src, map[string]testimage.Image{"team/app:1.0": img}, nil)
	want := img.ManifestDesc.Digest

	tests := []struct {
		name, dstArg, wantOut string
		tag                   string
	}{
		{"explicit tag", "oci:" + dst + ":team/app:2.0", "oci:" + dst + ":team/app:2.0@" + want.String(), "2.0"},
		{"tag kept from SRC", "oci:" + dst + ":mirror/app", "oci:" + dst + ":mirror/app:1.0@" + want.String(), "1.0"},
		{"explicit latest", "oci:" + dst + ":mirror/app:latest", "oci:" + dst + ":mirror/app:latest@" + want.String(), "latest"},
		{"tag and checked digest", "oci:" + dst + ":pinned/app:3@" + want.String(), "oci:" + dst + ":pinned/app:3@" + want.String(), "3"},
		{"same layout, other repository", "oci:" + src + ":team/app2:stable", "oci:" + src + ":team/app2:stable@" + want.String(), "stable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := gantry(t, "copy", "oci:"+src+":team/app:1.0", tc.dstArg)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.TrimSpace(out) != tc.wantOut {
				t.Fatalf("stdout %q, want %q", out, tc.wantOut)
			}
			if !strings.Contains(errOut, "copied ") || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("stderr %q, want one summary line", errOut)
			}
			ref, err := oci.ParseImageRef(tc.wantOut)
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolve(t, ref.Dir, ref.Repository, tc.tag)
			if err != nil || got.Digest != want {
				t.Fatalf("destination %s:%s = %s, %v; want %s", ref.Repository, tc.tag, got.Digest, err, want)
			}
		})
	}

	// Everything is at the destination now: a second copy moves nothing.
	code, _, errOut := gantry(t, "copy", "oci:"+src+":team/app:1.0", "oci:"+dst+":team/app:again")
	if code != 0 || !strings.Contains(errOut, "copied 0 blobs") || !strings.Contains(errOut, "skipped 1 ") {
		t.Fatalf("second copy: exit %d, %q; want nothing copied, the manifest skipped", code, errOut)
	}
}

func TestCopyPlatform(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	amd, arm := image(t, 3000), image(t, 4000)
	idx := layout(t, src, nil, map[string]testimage.Image{"linux/amd64": amd, "linux/arm64": arm})

	code, out, errOut := gantry(t, "copy", "--platform", "linux/arm64", "oci:"+src+":multi/app:1", "oci:"+dst+":multi/app:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "@"+idx.Digest.String()) {
		t.Fatalf("stdout %q, want the index's digest %s", out, idx.Digest)
	}
	r, done := open(t, dst, "multi/app")
	defer done()
	for _, c := range []struct {
		desc ocispec.Descriptor
		want bool
	}{{idx, true}, {arm.ManifestDesc, true}, {arm.Layers[0].Desc, true}, {amd.ManifestDesc, false}, {amd.Layers[0].Desc, false}} {
		if ok, _ := r.Exists(t.Context(), c.desc); ok != c.want {
			t.Errorf("%s (%s) at destination: %v, want %v", c.desc.Digest, c.desc.MediaType, ok, c.want)
		}
	}
}

func TestCopyOutputModes(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	img := image(t, 1000)
	layout(t, src, map[string]testimage.Image{"app:1": img}, nil)

	code, out, errOut := gantry(t, "copy", "--quiet", "oci:"+src+":app:1", "oci:"+filepath.Join(base, "q")+":app:1")
	if code != 0 || errOut != "" || !strings.Contains(out, img.ManifestDesc.Digest.String()) {
		t.Fatalf("--quiet: exit %d, stdout %q, stderr %q; want the reference only", code, out, errOut)
	}
	code, _, errOut = gantry(t, "--log-level", "debug", "copy", "oci:"+src+":app:1", "oci:"+filepath.Join(base, "d")+":app:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, d := range []digest.Digest{img.ManifestDesc.Digest, img.ConfigDesc.Digest, img.Layers[0].Desc.Digest} {
		if !strings.Contains(errOut, "msg=copied digest="+d.String()) {
			t.Errorf("debug log lacks a line for %s:\n%s", d, errOut)
		}
	}
}

// TestCopyDockerHubNames checks that copy reads Docker Hub names as docker,
// skopeo and crane do, and would fetch them from Docker Hub's registry
// endpoint (no request is sent here).
func TestCopyDockerHubNames(t *testing.T) {
	tests := []struct{ src, repo, tag string }{
		{"busybox:1.36", "library/busybox", "1.36"},
		{"nginx", "library/nginx", "latest"},
		{"docker.io/library/busybox:1.36", "library/busybox", "1.36"},
		{"docker://docker.io/x/y:2", "x/y", "2"},
		{"index.docker.io/busybox:1", "library/busybox", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			p, err := parseCopyArgs(copyFlags{concurrency: 1}, tc.src, "oci:dst:mirror/app")
			if err != nil {
				t.Fatal(err)
			}
			got := p.srcRef
			if got.Registry != "docker.io" || got.Repository != tc.repo || got.Tag != tc.tag {
				t.Fatalf("SRC %q = %+v, want docker.io/%s:%s", tc.src, got, tc.repo, tc.tag)
			}
			if ep := oci.RegistryEndpoint(got.Registry); ep != "registry-1.docker.io" {
				t.Fatalf("SRC %q is fetched from %s, want registry-1.docker.io", tc.src, ep)
			}
			if p.dstRef.Tag != tc.tag {
				t.Fatalf("DST tag %q, want SRC's %q", p.dstRef.Tag, tc.tag)
			}
		})
	}
}

func TestCopyErrors(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	img := image(t, 2000)
	layout(t, src, map[string]testimage.Image{"app:1": img, "app:2": img}, nil)
	broken := filepath.Join(base, "broken")
	layout(t, broken, map[string]testimage.Image{"app:1": img}, nil)
	layer := img.Layers[0].Desc.Digest
	if err := os.Remove(filepath.Join(broken, "blobs", "sha256", layer.Encoded())); err != nil {
		t.Fatal(err)
	}
	ok := "oci:" + src + ":app:1"
	out := "oci:" + dst + ":app:1"

	tests := []struct {
		name     string
		args     []string
		code     int
		mentions []string
	}{
		{"missing arguments", []string{"copy", ok}, 2, []string{"SRC and DST"}},
		{"bad platform", []string{"copy", "--platform", "linux", ok, out}, 2, []string{"--platform", "OS/ARCH"}},
		{"bad concurrency", []string{"copy", "--concurrency", "0", ok, out}, 2, []string{"--concurrency"}},
		{"malformed reference", []string{"copy", "localhost:5000/Bad Name:1", out}, 1, []string{"Bad Name"}},
		{"unknown transport", []string{"copy", "s3://bucket/x", out}, 1, []string{"transport", "s3"}},
		{"oci-archive", []string{"copy", "oci-archive:/tmp/x.tar:app", out}, 1, []string{"oci-archive", "not supported yet"}},
		{"DST digest only", []string{"copy", ok, "oci:" + dst + ":app@" + img.ManifestDesc.Digest.String()}, 1, []string{"only a digest", "TAG"}},
		{"DST digest differs", []string{"copy", ok, "oci:" + dst + ":app:1@" + digest.FromString("x").String()}, 1, []string{digest.FromString("x").String(), img.ManifestDesc.Digest.String()}},
		{"SRC digest only, DST no tag", []string{"copy", "oci:" + src + ":app@" + img.ManifestDesc.Digest.String(), "oci:" + dst + ":app"}, 1, []string{"no tag"}},
		{"missing tag", []string{"copy", "oci:" + src + ":app:nope", out}, 1, []string{":app:nope: tag not found", "tags there: 1, 2"}},
		{"missing digest", []string{"copy", "oci:" + src + ":app@" + digest.FromString("x").String(), out}, 1, []string{digest.FromString("x").String() + ": digest not found"}},
		{"source not a layout", []string{"copy", "oci:" + filepath.Join(base, "nothing") + ":app:1", out}, 1, []string{"nothing", "not a gantry store or OCI image layout"}},
		{"missing source blob", []string{"copy", "oci:" + broken + ":app:1", out}, 1, []string{"layer " + layer.String(), "not found", "push the image to the source again"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := gantry(t, tc.args...)
			t.Logf("exit %d: %s", code, stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q after a failure", stdout)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("error is %d lines, want one:\n%s", n+1, stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(stderr, m) {
					t.Errorf("error %q does not mention %q", stderr, m)
				}
			}
			if _, err := os.Stat(filepath.Join(base, "nothing")); err == nil {
				t.Fatal("a missing source directory was created")
			}
			if _, err := os.Stat(dst); err == nil {
				if _, err := resolve(t, dst, "app", "1"); err == nil {
					t.Fatal("destination tagged after a failed copy")
				}
			}
		})
	}
}

// TestCopyRegistry pushes to and pulls from go-containerregistry's registry
// through the remote store.
func TestCopyRegistry(t *testing.T) {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base := t.TempDir()
	src, back := filepath.Join(base, "src"), filepath.Join(base, "back")
	amd, arm := image(t, 30000), image(t, 40000)
	idx := layout(t, src, nil, map[string]testimage.Image{"linux/amd64": amd, "linux/arm64": arm})

	code, out, errOut := gantry(t, "copy", "oci:"+src+":multi/app:1", host+"/multi/app:1")
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, errOut)
	}
	if want := host + "/multi/app:1@" + idx.Digest.String(); strings.TrimSpace(out) != want {
		t.Fatalf("push: stdout %q, want %q", out, want)
	}
	// Same registry, another repository: blobs are mounted.
	code, _, errOut = gantry(t, "copy", "docker://"+host+"/multi/app:1", host+"/other/app:1")
	if code != 0 {
		t.Fatalf("mount copy: exit %d: %s", code, errOut)
	}
	t.Logf("same-registry copy: %s", strings.TrimSpace(errOut))
	code, _, errOut = gantry(t, "copy", "--platform", "linux/amd64", "docker://"+host+"/other/app@"+idx.Digest.String(), "oci:"+back+":multi/app:1")
	if code != 0 {
		t.Fatalf("pull: exit %d: %s", code, errOut)
	}
	r, done := open(t, back, "multi/app")
	defer done()
	if got, err := r.Resolve(t.Context(), "1"); err != nil || got.Digest != idx.Digest {
		t.Fatalf("pulled back %s, %v", got.Digest, err)
	}
	if ok, _ := r.Exists(t.Context(), amd.Layers[0].Desc); !ok {
		t.Fatal("amd64 layer not pulled")
	}
	if ok, _ := r.Exists(t.Context(), arm.Layers[0].Desc); ok {
		t.Fatal("arm64 layer pulled despite --platform linux/amd64")
	}
}
