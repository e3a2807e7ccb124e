package bundle

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// copyOut copies every image of r into a fresh disk store and checks the
// digests.
func copyOut(t *testing.T, r *Reader, names ...string) {
	t.Helper()
	ctx := t.Context()
	dst, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, img := range r.Images() {
		if len(names) > 0 && !slices.Contains(names, img.Name) {
			continue
		}
		src, err := r.Repository(ctx, img.Repository())
		if err != nil {
			t.Fatal(err)
		}
		repo := strings.TrimPrefix(img.Repository(), "registry.example.com/")
		d, err := dst.Repository(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		var platform *ocispec.Platform
		if img.Platform != "" {
			p, _ := oci.ParsePlatform(img.Platform)
			platform = &p
		}
		root, err := copy.Copy(ctx, src, img.Tag(), d, img.Tag(), copy.Options{Platform: platform})
		if err != nil {
			t.Fatalf("copy %s out of the bundle: %v", img.Name, err)
		}
		if root.Digest != img.Digest {
			t.Fatalf("%s: copied %s, bundle says %s", img.Name, root.Digest, img.Digest)
		}
		got, err := d.Resolve(ctx, img.Tag())
		if err != nil || got.Digest != img.Digest {
			t.Fatalf("%s at the destination: %v %v", img.Name, got.Digest, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	_, images, fl := fleet(t, 3, 1, 50000, 20000)
	out, rep := create(t, images, CreateOptions{})
	r := open(t, out)
	if got, want := len(r.Images()), 3; got != want {
		t.Fatalf("%d images, want %d", got, want)
	}
	for i, img := range r.Images() {
		if img.Digest != fl[i].ManifestDesc.Digest {
			t.Errorf("image %d: digest %s, want %s", i, img.Digest, fl[i].ManifestDesc.Digest)
		}
	}
	if v := verify(t, r); !v.OK() {
		t.Fatalf("fresh bundle does not verify: %v", v.Problems)
	}
	if rep.Manifest.ID != r.Manifest().ID || len(rep.Files) != 1 {
		t.Fatalf("report %+v", rep)
	}
	copyOut(t, r)
}

func TestRoundTripFromDisk(t *testing.T) {
	ctx := t.Context()
	src, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, err := testimage.Fleet(1, 1, 30000, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := src.Repository(ctx, "app")
	if err := img[0].Push(ctx, repo, "1.0"); err != nil {
		t.Fatal(err)
	}
	out, _ := create(t, []Image{{Name: "app:1.0", Source: repo, Reference: "1.0"}}, CreateOptions{})
	r := open(t, out)
	copyOut(t, r)
}

func TestFleetEachBlobOnce(t *testing.T) {
	_, images, fl := fleet(t, 12, 3, 1<<20, 256<<10)
	out, rep := create(t, images, CreateOptions{})
	unique, n := uniqueBytes(fl)
	if len(rep.Manifest.Blobs) != n {
		t.Fatalf("%d blobs in the bundle, %d unique in the fleet", len(rep.Manifest.Blobs), n)
	}
	st, _ := os.Stat(out)
	if st.Size() != rep.Size {
		t.Errorf("report says %d bytes, file has %d", rep.Size, st.Size())
	}
	over := float64(st.Size()-unique) / float64(unique)
	t.Logf("bundle %d bytes, unique blobs %d, overhead %.3f%%", st.Size(), unique, 100*over)
	if over > 0.01 {
		t.Fatalf("overhead %.2f%% over the unique blobs, want <= 1%%", 100*over)
	}
	r := open(t, out)
	entries := r.vols[0].entries
	blobs := 0
	for name := range entries {
		if strings.HasPrefix(name, "blobs/") {
			blobs++
		}
	}
	if blobs != n {
		t.Fatalf("%d blob entries in the tar, want %d", blobs, n)
	}
}

func TestDelta(t *testing.T) {
	ctx := t.Context()
	site := memory.New()
	base, _ := testimage.RandomLayer(40000)
	app1, _ := testimage.RandomLayer(20000)
	app2, _ := testimage.RandomLayer(20000)
	v1, _ := testimage.NewImage([]testimage.Layer{base, app1}, []string{"/app"})
	v2, _ := testimage.NewImage([]testimage.Layer{base, app2}, []string{"/app"})
	siteRepo, _ := site.Repository(ctx, "team/app")
	if err := v1.Push(ctx, siteRepo, "1.0"); err != nil {
		t.Fatal(err)
	}
	inv, err := TakeInventory(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Len() != 4 {
		t.Fatalf("inventory of one image of two layers holds %d digests, want 4", inv.Len())
	}
	invPath := t.TempDir() + "/have.json"
	if err := inv.Write(invPath); err != nil {
		t.Fatal(err)
	}
	if inv, err = ReadInventory(invPath); err != nil {
		t.Fatal(err)
	}

	build := memory.New()
	buildRepo, _ := build.Repository(ctx, "team/app")
	_ = v1.Push(ctx, buildRepo, "1.0")
	_ = v2.Push(ctx, buildRepo, "1.1")
	out, rep := create(t, []Image{{Name: "registry.example.com/team/app:1.1", Source: buildRepo, Reference: "1.1"}}, CreateOptions{Have: inv})
	var got []string
	for _, b := range rep.Manifest.Blobs {
		got = append(got, b.Digest.String())
	}
	want := []string{app2.Desc.Digest.String(), v2.ConfigDesc.Digest.String(), v2.ManifestDesc.Digest.String()}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delta holds %v, want the new layer, config and manifest %v", got, want)
	}
	b := rep.Manifest.Base
	if b == nil || b.Blobs != 1 || b.LeftOut[0].Digest != base.Desc.Digest || b.Inventory != inv.Digest() {
		t.Fatalf("base %+v", b)
	}

	r := open(t, out)
	v := verify(t, r)
	if !v.OK() || len(v.Expected) != 1 {
		t.Fatalf("delta verify: problems %v, expected %v", v.Problems, v.Expected)
	}
	// Against the site, which has the base: fine.
	v, err = r.VerifyAgainst(ctx, site, func(e ImageEntry) string { return "team/app" })
	if err != nil || !v.OK() {
		t.Fatalf("VerifyAgainst the site: %v %v", err, v.Problems)
	}
	// Against an empty registry: the base layer is named.
	v, err = r.VerifyAgainst(ctx, memory.New(), func(e ImageEntry) string { return "team/app" })
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || v.Problems[0].Kind != ProblemAbsentAtTarget || v.Problems[0].Digest != base.Desc.Digest || v.Images[0].Complete {
		t.Fatalf("VerifyAgainst an empty target: %+v", v)
	}
	if !strings.Contains(v.Problems[0].String(), "registry.example.com/team/app:1.1") {
		t.Errorf("problem does not name the image: %s", v.Problems[0])
	}

	// --since: the inventory of the delta holds the base too.
	full, _ := create(t, []Image{{Name: "registry.example.com/team/app:1.0", Source: buildRepo, Reference: "1.0"}}, CreateOptions{})
	old := open(t, full)
	_, rep2 := create(t, []Image{{Name: "registry.example.com/team/app:1.1", Source: buildRepo, Reference: "1.1"}}, CreateOptions{Have: InventoryOf(old), BaseName: "app-1.0.tar"})
	if len(rep2.Manifest.Blobs) != 3 || rep2.Manifest.Base.Bundle != "app-1.0.tar" {
		t.Fatalf("--since delta: %d blobs, base %+v", len(rep2.Manifest.Blobs), rep2.Manifest.Base)
	}

	// The site's inventory lists what the 1.0 bundle holds: the delta is
	// on it, 1.0 stays at the site and the base layer comes from it.
	d := Diff(old, r)
	if !d.NewOnOld || len(d.Added) != 1 || len(d.Removed) != 0 || len(d.Kept) != 1 || len(d.OnlyInB) != 3 || len(d.OnlyInA) != 3 || d.FromBase != 1 {
		t.Fatalf("diff %+v", d)
	}
}

func TestSplit(t *testing.T) {
	_, images, _ := fleet(t, 6, 2, 300000, 100000)
	const split = 600000
	out, rep := create(t, images, CreateOptions{Split: split})
	if len(rep.Files) < 2 {
		t.Fatalf("split %d gave %d volume(s)", split, len(rep.Files))
	}
	for _, f := range rep.Files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > split {
			t.Errorf("volume %s is %d bytes, over the split size %d", f, st.Size(), split)
		}
	}
	if rep.Files[0] != out || !strings.HasSuffix(rep.Files[1], "app.002.tar") {
		t.Fatalf("volume names %v", rep.Files)
	}
	files := slices.Clone(rep.Files)
	rand.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	r := open(t, files...)
	if v := verify(t, r); !v.OK() || len(r.Missing()) != 0 {
		t.Fatalf("all volumes: %v", v.Problems)
	}
	copyOut(t, r)

	// Each volume alone: verifiable, its complete images copy out.
	for i, f := range rep.Files {
		r := open(t, f)
		v := verify(t, r)
		if v.Blobs != rep.Manifest.Volumes[i].Blobs {
			t.Errorf("volume %d alone: %d blobs verified, want %d", i+1, v.Blobs, rep.Manifest.Volumes[i].Blobs)
		}
		for _, p := range v.Problems {
			if p.Kind != ProblemMissingVolume {
				t.Errorf("volume %d alone: %s", i+1, p)
			}
		}
		if imgs := rep.Manifest.Volumes[i].Images; len(imgs) > 0 {
			copyOut(t, r, imgs...)
		}
	}

	// Lose volume 2: it is named, with the images it costs; the others stay
	// readable.
	var rest []string
	for i, f := range rep.Files {
		if i != 1 {
			rest = append(rest, f)
		}
	}
	r = open(t, rest...)
	miss := r.Missing()
	if len(miss) != 1 || miss[0].Volume.Name != "app.002.tar" || len(miss[0].Images) == 0 {
		t.Fatalf("missing %+v", miss)
	}
	v := verify(t, r)
	var costs, fine []string
	for _, st := range v.Images {
		if st.Complete {
			fine = append(fine, st.Name)
		} else {
			costs = append(costs, st.Name)
		}
	}
	if !slices.Equal(costs, miss[0].Images) {
		t.Fatalf("verify says %v are incomplete, Missing says %v", costs, miss[0].Images)
	}
	if len(fine) == 0 {
		t.Fatal("losing one volume cost every image")
	}
	copyOut(t, r, fine...)
}

func TestSplitOversize(t *testing.T) {
	_, images, _ := fleet(t, 2, 1, 200000, 1000)
	_, rep := create(t, images, CreateOptions{Split: 120000})
	if len(rep.Oversize) != 1 {
		t.Fatalf("oversize %v", rep.Oversize)
	}
	n := 0
	for _, v := range rep.Manifest.Volumes {
		if v.Oversize {
			n++
			if v.Blobs != 1 {
				t.Errorf("oversize volume %s holds %d blobs", v.Name, v.Blobs)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d oversize volumes", n)
	}
	if _, err := Create(t.Context(), t.TempDir()+"/x.tar", images, CreateOptions{Split: 1000}); !errors.Is(err, cas.ErrInvalid) {
		t.Fatalf("split too small: %v", err)
	}
}

func TestPlatformFilter(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	r0, _ := s.Repository(ctx, "multi")
	idx, imgs := multiPlatform(t, r0, "1")
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	out, rep := create(t, []Image{{Name: "multi:1", Source: r0, Reference: "1"}}, CreateOptions{Platform: &arm})
	e := rep.Manifest.Images[0]
	if e.Digest != idx.Digest || e.Platform != "linux/arm64" || !slices.Equal(e.Platforms, []string{"linux/arm64"}) {
		t.Fatalf("image entry %+v: want the index %s kept, arm64 only", e, idx.Digest)
	}
	r := open(t, out)
	repo, _ := r.Repository(ctx, "multi")
	if ok, _ := repo.Exists(ctx, imgs[0].ManifestDesc); ok {
		t.Fatal("the amd64 manifest is in an arm64 bundle")
	}
	if ok, _ := repo.Exists(ctx, imgs[1].ManifestDesc); !ok {
		t.Fatal("the arm64 manifest is missing")
	}
	if v := verify(t, r); !v.OK() {
		t.Fatal(v.Problems)
	}
	copyOut(t, r)

	// A platform the index lacks fails before anything is written.
	ppc := ocispec.Platform{OS: "linux", Architecture: "ppc64le"}
	dir := t.TempDir()
	_, err := Create(ctx, dir+"/x.tar", []Image{{Name: "multi:1", Source: r0, Reference: "1"}}, CreateOptions{Platform: &ppc})
	if !errors.Is(err, cas.ErrNotFound) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Fatalf("missing platform: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a failed create left %v", ents)
	}
}

// TestReaderTargets checks the read-only targets as castest checks stores.
func TestReaderTargets(t *testing.T) {
	ctx := t.Context()
	_, images, fl := fleet(t, 2, 1, 5000, 3000)
	out, _ := create(t, images, CreateOptions{})
	r := open(t, out)
	tgt, err := r.Repository(ctx, "registry.example.com/team/app0")
	if err != nil {
		t.Fatal(err)
	}
	layer := fl[0].Layers[1]
	got, err := cas.FetchAll(ctx, tgt, layer.Desc, 0)
	if err != nil || string(got) != string(layer.Data) {
		t.Fatalf("Fetch: %v", err)
	}
	// A repository serves only what its own images need.
	other := fl[1].Layers[1].Desc
	if ok, err := tgt.Exists(ctx, other); ok || err != nil {
		t.Fatalf("Exists(other repository's layer) = %v, %v", ok, err)
	}
	missing := ocispec.Descriptor{Digest: digest.Digest("sha256:" + strings.Repeat("0", 64)), Size: 1}
	if ok, err := tgt.Exists(ctx, missing); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
	if _, err := tgt.Fetch(ctx, missing); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("Fetch(missing): %v", err)
	}
	d, err := tgt.Resolve(ctx, "v1")
	if err != nil || d.Digest != fl[0].ManifestDesc.Digest || d.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("Resolve(v1) = %+v, %v", d, err)
	}
	if d, err := tgt.Resolve(ctx, layer.Desc.Digest.String()); err != nil || d.Size != layer.Desc.Size {
		t.Fatalf("Resolve(digest) = %+v, %v", d, err)
	}
	if _, err := tgt.Resolve(ctx, "nope"); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("Resolve(nope): %v", err)
	}
	if _, ok := tgt.(cas.Pusher); ok {
		t.Fatal("a bundle's target has Push: a read-only store implements the read-only contract")
	}
	rc, err := tgt.(cas.RangeFetcher).FetchRange(ctx, layer.Desc, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 100)
	n, _ := rc.Read(part)
	rc.Close()
	if string(part[:n]) != string(layer.Data[10:30]) {
		t.Fatal("FetchRange returned the wrong bytes")
	}
	var tags, repos []string
	_ = tgt.(cas.TagLister).Tags(ctx, "", func(p []string) error { tags = append(tags, p...); return nil })
	_ = r.Repositories(ctx, "", func(p []string) error { repos = append(repos, p...); return nil })
	if !slices.Equal(tags, []string{"v1"}) || !slices.Equal(repos, []string{"registry.example.com/team/app0", "registry.example.com/team/app1"}) {
		t.Fatalf("tags %v, repositories %v", tags, repos)
	}
	if _, err := r.Repository(ctx, "Bad Name"); !errors.Is(err, cas.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
}

// TestSiteRepositories checks the one rule for a source registry's host at
// a site, and that two registries' repositories that would meet are
// refused by name rather than overwrite each other's tags.
func TestSiteRepositories(t *testing.T) {
	_, images, _ := fleet(t, 3, 1, 3000, 2000)
	images[0].Name = "registry.local:5000/apps/api:v1"
	images[1].Name = "127.0.0.1:5000/apps/web:v1"
	images[2].Name = "team/tool:v1" // as an OCI layout may name it
	out, _ := create(t, images, CreateOptions{})
	r := open(t, out)
	for keep, want := range map[bool]map[string]string{
		false: {"registry.local:5000/apps/api": "apps/api", "127.0.0.1:5000/apps/web": "apps/web", "team/tool": "team/tool"},
		true:  {"registry.local:5000/apps/api": "registry.local_5000/apps/api", "127.0.0.1:5000/apps/web": "127.0.0.1_5000/apps/web", "team/tool": "team/tool"},
	} {
		got, err := r.SiteRepositories(keep)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("SiteRepositories(%v) (-want +got):\n%s", keep, diff)
		}
	}

	images[1].Name = "other.example.com/apps/api:v2"
	out, _ = create(t, images, CreateOptions{})
	r = open(t, out)
	_, err := r.SiteRepositories(false)
	if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), "other.example.com/apps/api") || !strings.Contains(err.Error(), "--keep-registry-host") {
		t.Fatalf("two registries' apps/api: %v, want an error naming both and --keep-registry-host", err)
	}
	if _, err := r.SiteRepositories(true); err != nil {
		t.Fatalf("with the hosts kept: %v", err)
	}
}
