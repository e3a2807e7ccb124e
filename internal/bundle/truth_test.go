package bundle

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// sizedImages pushes one image per size into a memory store, each with a
// single layer of its own of about that many bytes (random, so gzip keeps
// them that size), as "team/s<i>:v1"; the data depends on seed only.
func sizedImages(t testing.TB, seed uint64, sizes ...int) []Image {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	s := memory.New()
	var out []Image
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
		name := fmt.Sprintf("team/s%d", i)
		repo, err := s.Repository(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(t.Context(), repo, "v1"); err != nil {
			t.Fatal(err)
		}
		out = append(out, Image{Name: "registry.example.com/" + name + ":v1", Source: repo, Reference: "v1"})
	}
	return out
}

// TestSplitPacks: images of 56% and 38% of a volume, three of each, fit in
// three volumes (one large and one small image each), every image whole in
// one volume. Placing images in turn and opening a new volume whenever the
// next one does not fit the last, as create used to, needs four or five
// with a nearly empty last one.
func TestSplitPacks(t *testing.T) {
	const split = 1_000_000
	images := sizedImages(t, 3, 560_000, 560_000, 560_000, 380_000, 380_000, 380_000)
	_, rep := create(t, images, CreateOptions{Split: split})
	var sizes []string
	for _, f := range rep.Files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > split {
			t.Errorf("volume %s is %d bytes, over the split size %d", f, st.Size(), split)
		}
		sizes = append(sizes, fmt.Sprint(st.Size()))
	}
	if len(rep.Files) != 3 {
		t.Errorf("%d volumes (%s bytes), want 3", len(rep.Files), strings.Join(sizes, ", "))
	}
	var whole []string
	for _, v := range rep.Manifest.Volumes {
		whole = append(whole, v.Images...)
	}
	if len(whole) != len(images) {
		t.Errorf("images whole in one volume: %v, want all %d", whole, len(images))
	}
	r := open(t, rep.Files...)
	if v := verify(t, r); !v.OK() {
		t.Fatalf("verify: %v", v.Problems)
	}
	copyOut(t, r)
	for i, f := range rep.Files {
		r := open(t, f)
		copyOut(t, r, rep.Manifest.Volumes[i].Images...)
	}
}

// TestSplitDelta: a split delta leaves out its base and still verifies
// volume by volume.
func TestSplitDelta(t *testing.T) {
	_, images, _ := fleet(t, 6, 2, 300000, 100000)
	old, _ := create(t, images[:2], CreateOptions{})
	base := open(t, old)
	_, rep := create(t, images, CreateOptions{Split: 600000, Have: InventoryOf(base)})
	if rep.Manifest.Base == nil || rep.Manifest.Base.Blobs != 4 {
		t.Fatalf("base %+v, want the two base layers and first two app layers left out", rep.Manifest.Base)
	}
	r := open(t, rep.Files...)
	if v := verify(t, r); !v.OK() || len(v.Expected) != 4 {
		t.Fatalf("verify: %v, expected %d", v.Problems, len(v.Expected))
	}
}

// TestDamage: the tar headers alone show a volume cut short, with the
// blobs and images it loses, without hashing anything.
func TestDamage(t *testing.T) {
	images := sizedImages(t, 4, 300_000, 300_000, 300_000, 300_000)
	_, rep := create(t, images, CreateOptions{Split: 700_000})
	if len(rep.Files) < 2 {
		t.Fatalf("%d volumes", len(rep.Files))
	}
	if d := open(t, rep.Files...).Damage(); len(d) != 0 {
		t.Fatalf("a sound bundle has damage: %v", d)
	}
	cut := rep.Files[1] + ".cut"
	data, err := os.ReadFile(rep.Files[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	r := open(t, rep.Files[0], cut)
	d := r.Damage()
	if len(d) != 1 || d[0].Kind != ProblemTruncated || d[0].Volume != cut || len(d[0].Images) == 0 {
		t.Fatalf("damage of a truncated volume 2: %v", d)
	}
	if want := fmt.Sprintf("of its %d blobs are lost", rep.Manifest.Volumes[1].Blobs); !strings.Contains(d[0].Detail, want) {
		t.Errorf("the problem does not count the blobs lost: %s", d[0])
	}
	if want := rep.Manifest.Volumes[1].Images; !slices.Equal(d[0].Images, want) {
		t.Errorf("costs %v, want the images of volume 2 %v", d[0].Images, want)
	}
}

// TestDeltaDescribed: a delta describes itself as one (its base, what it
// needs from it, per image), and a diff from its base to it says that the
// base's images stay and which blobs come from the base, rather than
// reporting them "removed" and "only in OLD".
func TestDeltaDescribed(t *testing.T) {
	_, images, _ := fleet(t, 4, 2, 300000, 100000)
	oldFile, _ := create(t, images[:3], CreateOptions{})
	old := open(t, oldFile)
	if old.Delta() != nil {
		t.Fatalf("a full bundle describes itself as a delta: %+v", old.Delta())
	}
	// The new bundle: image 0 unchanged, image 3 new; 1 and 2 not named.
	newFile, _ := create(t, []Image{images[0], images[3]}, CreateOptions{Have: InventoryOf(old), BaseName: "old.tar (" + old.Manifest().ID.String() + ")"})
	delta := open(t, newFile)
	dd := delta.Delta()
	if dd == nil || dd.Bundle == "" || dd.Blobs != 3 || len(dd.Images) != 2 {
		t.Fatalf("delta %+v: want a base bundle, 3 blobs from it (image 0's two layers, image 3's base), both images", dd)
	}
	for _, img := range dd.Images {
		if img.Blobs == 0 || img.Bytes == 0 {
			t.Errorf("image %s needs nothing from the base: %+v", img.Name, img)
		}
	}

	d := Diff(old, delta)
	if !d.NewOnOld || d.New == nil {
		t.Fatalf("diff does not see NEW as a delta on OLD: %+v", d)
	}
	if len(d.Removed) != 0 || len(d.Kept) != 2 {
		t.Errorf("removed %v, kept %v: want OLD's other two images kept, none removed", d.Removed, d.Kept)
	}
	if d.FromBase != 3 || d.FromBaseBytes != dd.Bytes {
		t.Errorf("from base %d (%d bytes), want 3 (%d bytes)", d.FromBase, d.FromBaseBytes, dd.Bytes)
	}
	for _, b := range d.OnlyInA {
		if _, lo := delta.leftOut[b.Digest]; lo {
			t.Errorf("%s, which NEW takes from its base, is listed only in OLD", b.Digest)
		}
	}
	// The other way round, the full bundle is no delta on the delta: its
	// image 3 is removed as before, and OLD is described as the delta.
	if r := Diff(delta, old); r.NewOnOld || r.New != nil || r.Old == nil || len(r.Removed) != 1 || len(r.Added) != 2 {
		t.Errorf("reverse diff %+v", r)
	}
}
