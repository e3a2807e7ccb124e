package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const timeout = 2 * time.Minute

// layoutWith writes images into a fresh disk store (an OCI layout) under
// dir, tagged as given, and closes it.
func layoutWith(t *testing.T, dir string, images map[string]testimage.Image) {
	t.Helper()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for ref, img := range images {
		repo, tag, _ := strings.Cut(ref, ":")
		r, err := s.Repository(context.Background(), repo)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(context.Background(), r, tag); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
}

func busybox(t *testing.T) testimage.Image {
	t.Helper()
	testenv.Tool(t, "busybox") // Debian's busybox-static provides /bin/busybox
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func gantry(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, timeout, testenv.Gantry(t), args...)
}

func mustGantry(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	r := gantry(t, args...)
	if r.Code != 0 {
		t.Fatalf("gantry %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r
}

func skopeoDigest(t *testing.T, ref string) string {
	t.Helper()
	r := testenv.Run(t, timeout, testenv.Tool(t, "skopeo"), "inspect", "--tls-verify=false", "--format", "{{.Digest}}", ref)
	if r.Code != 0 {
		t.Fatalf("skopeo inspect %s: %s", ref, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// TestCopyLayoutSkopeoReads copies a real image between two stores and
// checks that skopeo reads the destination as an OCI layout, digest
// unchanged, while gantry is stopped.
func TestCopyLayoutSkopeoReads(t *testing.T) {
	img := busybox(t)
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1.0": img})

	r := mustGantry(t, "copy", "oci:"+src+":demo/busybox:1.0", "oci:"+dst+":demo/busybox:1.0")
	if !strings.Contains(r.Stdout, img.ManifestDesc.Digest.String()) {
		t.Errorf("copy output %q lacks the digest %s", r.Stdout, img.ManifestDesc.Digest)
	}
	if got := skopeoDigest(t, "oci:"+dst+":demo/busybox:1.0"); got != img.ManifestDesc.Digest.String() {
		t.Fatalf("skopeo sees digest %s, want %s", got, img.ManifestDesc.Digest)
	}
	out := filepath.Join(t.TempDir(), "out")
	if r := testenv.Run(t, timeout, "skopeo", "copy", "--preserve-digests", "oci:"+dst+":demo/busybox:1.0", "oci:"+out+":copy"); r.Code != 0 {
		t.Fatalf("skopeo copy out of the store: %s", r.Stderr)
	}
	mustGantry(t, "fsck", dst)

	// A second copy moves nothing.
	r = mustGantry(t, "copy", "oci:"+src+":demo/busybox:1.0", "oci:"+dst+":demo/busybox:1.1")
	if got := skopeoDigest(t, "oci:"+dst+":demo/busybox:1.1"); got != img.ManifestDesc.Digest.String() {
		t.Fatalf("second tag: skopeo sees %s", got)
	}
}

// TestCopyRegistryRoundTrip pushes an image to CNCF Distribution and pulls it
// back into a fresh store, checking digests with skopeo at each end.
func TestCopyRegistryRoundTrip(t *testing.T) {
	img := busybox(t)
	host := testenv.Distribution(t, testenv.DistributionOptions{})
	src, back := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "back")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1.0": img})
	want := img.ManifestDesc.Digest.String()

	mustGantry(t, "copy", "oci:"+src+":demo/busybox:1.0", host+"/demo/busybox:1.0")
	if got := skopeoDigest(t, "docker://"+host+"/demo/busybox:1.0"); got != want {
		t.Fatalf("registry has %s, want %s", got, want)
	}
	mustGantry(t, "copy", "docker://"+host+"/demo/busybox:1.0", "oci:"+back+":demo/busybox:1.0")
	if got := skopeoDigest(t, "oci:"+back+":demo/busybox:1.0"); got != want {
		t.Fatalf("pulled back %s, want %s", got, want)
	}
	// By digest too.
	mustGantry(t, "copy", host+"/demo/busybox@"+want, "oci:"+back+":demo/busybox:pinned")
	mustGantry(t, "fsck", back)
}

// indexTags reads the ref names of a layout's index.json.
func indexTags(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var names []string
	for _, m := range idx.Manifests {
		names = append(names, m.Annotations[ocispec.AnnotationRefName])
	}
	return names
}

// TestCopyBadInput checks that each kind of bad input gets a one-line error
// naming what is wrong, a non-zero exit, and leaves the destination as it
// was.
func TestCopyBadInput(t *testing.T) {
	img := busybox(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1.0": img})

	// A source whose layer blob is gone.
	broken := filepath.Join(base, "broken")
	layoutWith(t, broken, map[string]testimage.Image{"demo/busybox:1.0": img})
	layer := img.Layers[0].Desc.Digest
	if err := os.Remove(filepath.Join(broken, "blobs", "sha256", layer.Encoded())); err != nil {
		t.Fatal(err)
	}
	notLayout := filepath.Join(base, "notlayout")
	if err := os.MkdirAll(notLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notLayout, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "dst")
	okSrc := "oci:" + src + ":demo/busybox:1.0"

	tests := []struct {
		name     string
		args     []string
		code     int
		mentions []string
	}{
		{"malformed reference", []string{"copy", "localhost:5000/Bad Name:1", "oci:" + dst + ":x:1"}, 1, []string{"Bad Name"}},
		{"unknown transport", []string{"copy", "s3://bucket/x", "oci:" + dst + ":x:1"}, 1, []string{"transport"}},
		{"digest of the wrong length", []string{"copy", "oci:" + src + ":demo/busybox@sha256:abcd", "oci:" + dst + ":x:1"}, 1, []string{"sha256:abcd"}},
		{"unknown algorithm", []string{"copy", "oci:" + src + ":demo/busybox@md5:d41d8cd98f00b204e9800998ecf8427e", "oci:" + dst + ":x:1"}, 1, []string{"md5"}},
		{"missing tag", []string{"copy", "oci:" + src + ":demo/busybox:nope", "oci:" + dst + ":x:1"}, 1, []string{"nope"}},
		{"missing source blob", []string{"copy", "oci:" + broken + ":demo/busybox:1.0", "oci:" + dst + ":x:1"}, 1, []string{layer.String()}},
		{"destination not a layout", []string{"copy", okSrc, "oci:" + notLayout + ":x:1"}, 1, []string{notLayout, "OCI"}},
		{"missing arguments", []string{"copy", okSrc}, 2, []string{"arg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := gantry(t, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.Code, tc.code, r.Stderr)
			}
			errLine := strings.TrimSpace(r.Stderr)
			if n := strings.Count(errLine, "\n"); n > 0 && tc.code == 1 {
				t.Errorf("error is %d lines, want one:\n%s", n+1, errLine)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(errLine, m) {
					t.Errorf("error %q does not mention %q", errLine, m)
				}
			}
			if tags := indexTags(t, dst); len(tags) != 0 {
				t.Fatalf("destination has tags %v after a failed copy", tags)
			}
			if entries, _ := os.ReadDir(notLayout); len(entries) != 1 {
				t.Fatalf("the non-layout directory was changed: %d entries", len(entries))
			}
		})
	}
}
