package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testimage"
)

// sizedLayout writes one image per size into an OCI layout, each with a
// single layer of its own of about that many bytes, named
// bundleHost/team/s<i>:1, and returns the references to bundle them from.
func sizedLayout(t *testing.T, seed uint64, sizes ...int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	dir := filepath.Join(t.TempDir(), "layout")
	imgs := map[string]testimage.Image{}
	var refs []string
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		l, err := testimage.NewLayer([]testimage.File{{Name: fmt.Sprintf("s%d/data", i), Mode: 0o644, Data: data}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		img, err := testimage.NewImage([]testimage.Layer{l}, []string{"/app"})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s/team/s%d:1", bundleHost, i)
		imgs[name] = img
		refs = append(refs, "oci:"+dir+":"+name)
	}
	layoutWith(t, dir, imgs)
	return refs
}

// TestBundleTellsTruth: a bundle says what it is. --split packs small
// images into the room large ones leave (no nearly empty last volume) and
// names a blob larger than the volume size; inspect marks a truncated
// volume, exits 1 and warns of volumes not given; serve --bundle refuses a
// truncated volume naming it; diff and inspect describe a delta as a delta
// on its base, not as images removed and blobs only in OLD.
func TestBundleTellsTruth(t *testing.T) {
	requireBundleCreate(t)
	refs := sizedLayout(t, 3, 560_000, 560_000, 560_000, 380_000, 380_000, 380_000)
	dir := t.TempDir()

	split := filepath.Join(dir, "split.tar")
	files := strings.Fields(createBundle(t, split, append([]string{"--split", "1000000"}, refs...)...).Stdout)
	t.Run("split packs", func(t *testing.T) {
		var sizes []string
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > 1_000_000 {
				t.Errorf("%s is %d bytes, over --split", f, st.Size())
			}
			sizes = append(sizes, fmt.Sprint(st.Size()))
		}
		if len(files) != 3 {
			t.Errorf("%d volumes of %s bytes, want 3 (one large and one small image each)", len(files), strings.Join(sizes, ", "))
		}
	})

	t.Run("oversize blob named", func(t *testing.T) {
		r := mustGantry(t, "bundle", "create", "-o", filepath.Join(t.TempDir(), "o.tar"), "--split", "500000", refs[0], refs[3])
		if !strings.Contains(r.Stderr, "larger than --split 500000") || !strings.Contains(r.Stderr, "sha256:") || !strings.Contains(r.Stderr, "KiB") || !strings.Contains(r.Stderr, bundleHost+"/team/s0:1") {
			t.Errorf("create with a blob larger than --split does not name it, its size and image:\n%s", r.Stderr)
		}
	})

	if len(files) < 2 {
		t.Fatalf("split into %v", files)
	}
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.002.tar")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	rest := []string{files[0], cut}
	rest = append(rest, files[2:]...)

	t.Run("inspect truncated", func(t *testing.T) {
		r := gantry(t, append([]string{"bundle", "inspect"}, rest...)...)
		if r.Code != 1 {
			t.Errorf("inspect of a truncated volume: exit %d, want 1", r.Code)
		}
		if !strings.Contains(r.Stderr, "truncated") || !strings.Contains(r.Stderr, cut) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("stderr should be one line naming the truncated volume:\n%s", r.Stderr)
		}
		if !strings.Contains(r.Stdout, "TRUNCATED") {
			t.Errorf("the volume table does not mark it:\n%s", r.Stdout)
		}
	})

	t.Run("inspect missing volume", func(t *testing.T) {
		r := gantry(t, "bundle", "inspect", files[0])
		if r.Code != 0 || !strings.Contains(r.Stderr, "warning") || !strings.Contains(r.Stderr, filepath.Base(files[1])) {
			t.Errorf("inspect of volume 1 alone: exit %d, want 0 with a warning naming the volumes not given:\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("serve truncated", func(t *testing.T) {
		r := gantry(t, "serve", "--addr", "127.0.0.1:0", "--bundle", strings.Join(rest, ","))
		if r.Code != 1 || !strings.Contains(r.Stderr, "truncated") || !strings.Contains(r.Stderr, cut) {
			t.Errorf("serve --bundle with a truncated volume: exit %d\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("delta", func(t *testing.T) {
		base := filepath.Join(dir, "base.tar")
		createBundle(t, base, refs[:3]...)
		delta := filepath.Join(dir, "delta.tar")
		createBundle(t, delta, "--since", base, refs[0], refs[4])
		r := mustGantry(t, "bundle", "diff", base, delta)
		if !strings.Contains(r.Stdout, "NEW is a delta on OLD") || !strings.Contains(r.Stdout, "takes 1 blob") {
			t.Errorf("diff does not describe NEW as a delta on OLD:\n%s", r.Stdout)
		}
		for _, line := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(line, "- ") {
				t.Errorf("diff reports an image of the base as removed: %s", line)
			}
		}
		if !strings.Contains(r.Stdout, "= "+bundleHost+"/team/s1:1") {
			t.Errorf("diff does not say OLD's other images stay:\n%s", r.Stdout)
		}
		r = mustGantry(t, "bundle", "inspect", delta)
		if !strings.Contains(r.Stdout, "needs base bundle base.tar") || !strings.Contains(r.Stdout, "FROM BASE") {
			t.Errorf("inspect does not describe the delta:\n%s", r.Stdout)
		}
	})
}
