package archive_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/archive"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
)

// dockerArchive writes img into an OCI layout and has skopeo convert it to
// a docker-archive tarball tagged name (no tag when name is "").
func dockerArchive(t *testing.T, img testimage.Image, name string) string {
	t.Helper()
	skopeo := testenv.Tool(t, "skopeo")
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	s, err := disk.Open(layout, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Repository(t.Context(), "src")
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(t.Context(), r, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	dst := "docker-archive:" + out
	if name != "" {
		dst += ":" + name
	}
	if b, err := exec.Command(skopeo, "copy", "-q", "oci:"+layout+":src:1", dst).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, b)
	}
	return out
}

func fleet(t *testing.T) []testimage.Image {
	t.Helper()
	imgs, err := testimage.Fleet(2, 1, 64<<10, 16<<10, 7)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func TestArchive(t *testing.T) {
	imgs := fleet(t)
	ctx := t.Context()
	dst := memory.New()
	var layerSets [][]digest.Digest
	for i, name := range []string{"nginx:1.25", "localhost:5000/team/app:2"} {
		a, err := archive.Open(dockerArchive(t, imgs[i], name))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		got := a.Images()
		if len(got) != 1 {
			t.Fatalf("%d images, want 1", len(got))
		}
		full, _, _ := strings.Cut(got[0].Names[0], "@")
		want := map[int]string{0: "docker.io/library/nginx:1.25", 1: "localhost:5000/team/app:2"}[i]
		if full != want {
			t.Fatalf("name %q, want %q", full, want)
		}
		// Lossless: the config's bytes, and each layer is the
		// uncompressed tar whose digest is the diff ID.
		if got[0].Config.Digest != imgs[i].ConfigDesc.Digest {
			t.Errorf("config %s, want %s (bytes changed)", got[0].Config.Digest, imgs[i].ConfigDesc.Digest)
		}
		var layers []digest.Digest
		for j, l := range got[0].Layers {
			if l.Digest != imgs[i].Layers[j].DiffID || l.MediaType != archive.MediaTypeDockerLayerTar {
				t.Errorf("layer %d: %s %s, want %s %s", j, l.MediaType, l.Digest, archive.MediaTypeDockerLayerTar, imgs[i].Layers[j].DiffID)
			}
			layers = append(layers, l.Digest)
		}
		layerSets = append(layerSets, layers)

		repoName, tag, _ := strings.Cut(strings.TrimPrefix(want, "docker.io/library/"), ":")
		if i == 1 {
			repoName, tag = "localhost:5000/team/app", "2"
		}
		src, err := a.Repository(ctx, repoName) // the short form works too
		if err != nil {
			t.Fatal(err)
		}
		dr, err := dst.Repository(ctx, "copy")
		if err != nil {
			t.Fatal(err)
		}
		root, err := copy.Copy(ctx, src, tag, dr, tag, copy.Options{})
		if err != nil {
			t.Fatalf("copy out of the archive: %v", err)
		}
		if root.Digest != got[0].Manifest.Digest || root.MediaType != oci.MediaTypeDockerManifest {
			t.Errorf("copied %s %s, want %s", root.MediaType, root.Digest, got[0].Manifest.Digest)
		}
		// The manifest is deterministic: opening again gives the same digest.
		again, err := archive.Open(a.Path())
		if err != nil {
			t.Fatal(err)
		}
		if again.Images()[0].Manifest.Digest != got[0].Manifest.Digest {
			t.Error("the manifest digest changed between two opens")
		}
		again.Close()
	}
	// The two images share their base layer: one digest in both tarballs.
	if layerSets[0][0] != layerSets[1][0] {
		t.Errorf("shared base layer has digests %s and %s", layerSets[0][0], layerSets[1][0])
	}
}

func TestArchiveUntagged(t *testing.T) {
	imgs := fleet(t)
	a, err := archive.Open(dockerArchive(t, imgs[0], ""))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	img := a.Images()[0]
	if len(img.Names) != 0 {
		t.Fatalf("names %v", img.Names)
	}
	// An image saved by ID is in no repository: a repository serves none
	// of it, and Target reads it.
	r, err := a.Repository(t.Context(), "anything")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), img.Manifest.Digest.String()); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("resolve by digest in a repository the image is not in: %v", err)
	}
	if _, err := r.Resolve(t.Context(), "latest"); !errors.Is(err, cas.ErrNotFound) || !strings.Contains(err.Error(), "only untagged images") {
		t.Fatalf("resolve a tag: %v", err)
	}
	it := a.Target(img)
	for _, ref := range []string{"", img.Manifest.Digest.String()} {
		got, err := it.Resolve(t.Context(), ref)
		if err != nil || got.Digest != img.Manifest.Digest {
			t.Fatalf("Target: resolve %q: %v, %v", ref, got.Digest, err)
		}
	}
	if ok, err := it.Exists(t.Context(), img.Config); !ok || err != nil {
		t.Fatalf("Target: config exists = %v, %v", ok, err)
	}
	if _, ok := it.(cas.Pusher); ok {
		t.Fatal("a docker archive's target has Push: a read-only store implements the read-only contract")
	}
}

func TestArchiveDamaged(t *testing.T) {
	imgs := fleet(t)
	good := dockerArchive(t, imgs[0], "localhost/app:1")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	truncated := filepath.Join(dir, "truncated.tar")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Open(truncated); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated tarball: %v", err)
	}

	// A flipped byte in the big layer: Open succeeds (it reads no layer
	// data), the copy names the digest.
	a, err := archive.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	flipped := filepath.Join(dir, "flipped.tar")
	i := strings.Index(string(data), "base0/data")
	data[i+4096] ^= 0xff
	if err := os.WriteFile(flipped, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := archive.Open(flipped)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	src, _ := b.Repository(t.Context(), "localhost/app")
	dst, _ := memory.New().Repository(t.Context(), "x")
	_, err = copy.Copy(t.Context(), src, "1", dst, "1", copy.Options{})
	if !errors.Is(err, cas.ErrDigestMismatch) || !strings.Contains(err.Error(), imgs[0].Layers[0].DiffID.String()) {
		t.Fatalf("copy of a damaged layer: %v", err)
	}

	notTar := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(notTar, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Open(notTar); err == nil {
		t.Error("opened a file that is not a tar")
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		in, file, ref string
		ok, err       bool
	}{
		{"docker-archive:/tmp/a.tar", "/tmp/a.tar", "", true, false},
		{"docker-archive:a.tar:localhost:5000/app:1", "a.tar", "localhost:5000/app:1", true, false},
		{"docker-archive:", "", "", true, true},
		{"oci:a:b", "", "", false, false},
	}
	for _, tc := range tests {
		file, ref, ok, err := archive.ParseReference(tc.in)
		if file != tc.file || ref != tc.ref || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("ParseReference(%q) = %q, %q, %v, %v", tc.in, file, ref, ok, err)
		}
	}
}
