package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// needSkopeo returns skopeo's path; without it the test is skipped, except
// under CI=true, where a missing skopeo is a broken CI image.
func needSkopeo(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("skopeo")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and skopeo is not installed: %v", err)
		}
		t.Skip("skopeo not installed")
	}
	return p
}

func skopeo(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	// Keep skopeo's blob-info cache and policy lookups out of the system.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// realImage returns a runnable-shaped image: a gzipped tar layer, a config
// whose diff_ids match, and a manifest.
func realImage(t *testing.T) (manifest, config, layer []byte, mdesc, cdesc, ldesc ocispec.Descriptor) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	body := []byte("hello from gantry\n")
	tw.WriteHeader(&tar.Header{Name: "etc/hello", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	diffID := digest.FromBytes(tb.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	layer = gz.Bytes()
	ldesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	config, _ = json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	cdesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	manifest, _ = json.Marshal(ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: []ocispec.Descriptor{ldesc}})
	mdesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	return
}

// TestSkopeoReadsLayout checks the on-disk format against the real skopeo,
// both ways: skopeo reads what gantry wrote, and gantry keeps and reads what
// skopeo wrote into the same layout.
func TestSkopeoReadsLayout(t *testing.T) {
	bin := needSkopeo(t)
	dir := t.TempDir()
	s := openT(t, dir)
	r, err := s.Repository(t.Context(), "library/hello")
	if err != nil {
		t.Fatal(err)
	}
	mb, cb, lb, mdesc, cdesc, ldesc := realImage(t)
	pushBytes(t, r, cdesc, cb)
	pushBytes(t, r, ldesc, lb)
	pushBytes(t, r, mdesc, mb)
	if err := r.Tag(t.Context(), mdesc, "v1"); err != nil {
		t.Fatal(err)
	}
	// Another repository and a sha512 blob in the same layout must not
	// confuse skopeo.
	other, _ := s.Repository(t.Context(), "other/app")
	for _, d := range []ocispec.Descriptor{cdesc, ldesc} {
		if err := other.(*Repo).Mount(t.Context(), d, "library/hello"); err != nil {
			t.Fatal(err)
		}
	}
	pushBytes(t, other, mdesc, mb)
	if err := other.Tag(t.Context(), mdesc, "stable"); err != nil {
		t.Fatal(err)
	}
	big := []byte("sha512 content")
	pushBytes(t, other, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.SHA512.FromBytes(big), Size: int64(len(big))}, big)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var info struct {
		Digest       digest.Digest
		Architecture string
		Layers       []digest.Digest
	}
	out := skopeo(t, bin, "inspect", "oci:"+dir+":library/hello:v1")
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	if info.Digest != mdesc.Digest || info.Architecture != "amd64" || len(info.Layers) != 1 || info.Layers[0] != ldesc.Digest {
		t.Fatalf("skopeo inspect = %+v, want digest %s and layer %s", info, mdesc.Digest, ldesc.Digest)
	}
	dst := filepath.Join(t.TempDir(), "x")
	skopeo(t, bin, "copy", "oci:"+dir+":library/hello:v1", "dir:"+dst)
	for _, d := range []ocispec.Descriptor{ldesc, cdesc} {
		got, err := os.ReadFile(filepath.Join(dst, d.Digest.Encoded()))
		if err != nil || digest.FromBytes(got) != d.Digest {
			t.Fatalf("skopeo copy to dir: blob %s: %v", d.Digest, err)
		}
	}

	// skopeo writes into the layout while gantry is stopped: a REPO:TAG
	// entry (gantry's convention) and a bare tag (skopeo's default).
	skopeo(t, bin, "copy", "dir:"+dst, "oci:"+dir+":third/repo:v2")
	skopeo(t, bin, "copy", "dir:"+dst, "oci:"+dir+":bare")
	s = openT(t, dir)
	third, _ := s.Repository(t.Context(), "third/repo")
	if got, err := third.Resolve(t.Context(), "v2"); err != nil || got.Digest == "" {
		t.Fatalf("Resolve(third/repo:v2) after skopeo wrote it: %v, %v", got, err)
	}
	r, _ = s.Repository(t.Context(), "library/hello")
	if err := r.Tag(t.Context(), mdesc, "v2"); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Fsck(t.Context(), FsckOptions{})
	if err != nil || !rep.Clean() {
		t.Fatalf("Fsck of a layout skopeo wrote into: %+v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// After gantry rewrote index.json, skopeo still finds everything.
	for _, ref := range []string{"bare", "library/hello:v2", "library/hello:v1", "third/repo:v2"} {
		skopeo(t, bin, "inspect", "oci:"+dir+":"+ref)
	}
}
