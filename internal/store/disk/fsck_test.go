package disk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fixture is a store holding app:v1 (one image) and multi:v1 (an index of
// two images), plus the descriptors the tests damage.
type fixture struct {
	s                    *Store
	app, cfg, layer      ocispec.Descriptor
	index, plat1, plat2  ocispec.Descriptor
	plat2Layer, foreignL ocispec.Descriptor
}

func pushBytes(t *testing.T, r cas.Target, d ocispec.Descriptor, b []byte) {
	t.Helper()
	if err := r.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{s: openT(t, t.TempDir())}
	r, _ := f.s.Repository(t.Context(), "app")
	f.app, f.cfg, f.layer = pushImage(t, r)
	if err := r.Tag(t.Context(), f.app, "v1"); err != nil {
		t.Fatal(err)
	}
	m, _ := f.s.Repository(t.Context(), "multi")
	f.plat1, _, _ = pushImage(t, m)
	// The second platform's image has a foreign layer, which may be absent.
	cb, cdesc := castest.Blob(t, 40)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	lb, ldesc := castest.Blob(t, 500)
	_, f.foreignL = castest.Blob(t, 700)
	f.foreignL.MediaType = oci.MediaTypeDockerForeignLayer
	pushBytes(t, m, cdesc, cb)
	pushBytes(t, m, ldesc, lb)
	f.plat2Layer = ldesc
	mb, mdesc := castest.Manifest(t, cdesc, ldesc, f.foreignL)
	pushBytes(t, m, mdesc, mb)
	f.plat2 = mdesc
	idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		withPlatform(f.plat1, "amd64"), withPlatform(f.plat2, "arm64")}}
	ib, _ := json.Marshal(idx)
	f.index = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}
	pushBytes(t, m, f.index, ib)
	if err := m.Tag(t.Context(), f.index, "v1"); err != nil {
		t.Fatal(err)
	}
	return f
}

func withPlatform(d ocispec.Descriptor, arch string) ocispec.Descriptor {
	d.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
	return d
}

func (f *fixture) blobFile(d ocispec.Descriptor) string { return f.s.blobPath(d.Digest) }

func rewrite(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, fn(b), 0o444); err != nil {
		t.Fatal(err)
	}
}

func TestFsck(t *testing.T) {
	type want struct {
		damaged    map[digest.Digest]DamageReason
		incomplete map[string][]digest.Digest // ref -> missing
		sparse     []string
		strays     int
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, f *fixture) want
	}{
		{"clean", func(t *testing.T, f *fixture) want { return want{} }},
		{"flipped byte in a layer", func(t *testing.T, f *fixture) want {
			rewrite(t, f.blobFile(f.layer), func(b []byte) []byte { b[100] ^= 0x40; return b })
			return want{
				damaged:    map[digest.Digest]DamageReason{f.layer.Digest: DamageWrongHash},
				incomplete: map[string][]digest.Digest{"app:v1": {f.layer.Digest}},
			}
		}},
		{"truncated config", func(t *testing.T, f *fixture) want {
			rewrite(t, f.blobFile(f.cfg), func(b []byte) []byte { return b[:10] })
			return want{
				damaged:    map[digest.Digest]DamageReason{f.cfg.Digest: DamageWrongSize},
				incomplete: map[string][]digest.Digest{"app:v1": {f.cfg.Digest}},
			}
		}},
		{"deleted layer", func(t *testing.T, f *fixture) want {
			os.Remove(f.blobFile(f.layer))
			return want{incomplete: map[string][]digest.Digest{"app:v1": {f.layer.Digest}}}
		}},
		{"deleted tagged manifest", func(t *testing.T, f *fixture) want {
			os.Remove(f.blobFile(f.app))
			return want{incomplete: map[string][]digest.Digest{"app:v1": {f.app.Digest}}}
		}},
		{"directory in place of a blob", func(t *testing.T, f *fixture) want {
			p := f.blobFile(f.layer)
			os.Remove(p)
			os.Mkdir(p, 0o755)
			return want{
				damaged:    map[digest.Digest]DamageReason{f.layer.Digest: DamageNotRegular},
				incomplete: map[string][]digest.Digest{"app:v1": {f.layer.Digest}},
			}
		}},
		{"unreadable blob", func(t *testing.T, f *fixture) want {
			p := f.blobFile(f.layer)
			os.Chmod(p, 0)
			if fh, err := os.Open(p); err == nil { // root reads anyway
				fh.Close()
				t.Skip("running as a user whom file modes do not stop")
			}
			return want{
				damaged:    map[digest.Digest]DamageReason{f.layer.Digest: DamageUnreadable},
				incomplete: map[string][]digest.Digest{"app:v1": {f.layer.Digest}},
			}
		}},
		{"link to a file outside in place of a blob", func(t *testing.T, f *fixture) want {
			p := f.blobFile(f.layer)
			outside := filepath.Join(t.TempDir(), "outside")
			os.WriteFile(outside, []byte("not the layer"), 0o644)
			os.Remove(p)
			os.Symlink(outside, p)
			t.Cleanup(func() { // repair moved the link aside, never its target
				if b, err := os.ReadFile(outside); err != nil || string(b) != "not the layer" {
					t.Errorf("the file a planted link pointed at was touched: %q, %v", b, err)
				}
			})
			return want{
				damaged:    map[digest.Digest]DamageReason{f.layer.Digest: DamageNotRegular},
				incomplete: map[string][]digest.Digest{"app:v1": {f.layer.Digest}},
			}
		}},
		{"platform absent: sparse index", func(t *testing.T, f *fixture) want {
			os.Remove(f.blobFile(f.plat2))
			return want{sparse: []string{"multi:v1"}}
		}},
		{"layer of a present platform absent", func(t *testing.T, f *fixture) want {
			os.Remove(f.blobFile(f.plat2Layer))
			return want{incomplete: map[string][]digest.Digest{"multi:v1": {f.plat2Layer.Digest}}}
		}},
		{"all platforms absent", func(t *testing.T, f *fixture) want {
			os.Remove(f.blobFile(f.plat1))
			os.Remove(f.blobFile(f.plat2))
			return want{incomplete: map[string][]digest.Digest{"multi:v1": sortedDigests(f.plat1.Digest, f.plat2.Digest)}}
		}},
		{"stray file under blobs", func(t *testing.T, f *fixture) want {
			os.WriteFile(filepath.Join(f.s.Dir(), "blobs", "sha256", "notahash"), []byte("x"), 0o644)
			return want{damaged: map[digest.Digest]DamageReason{"sha256:notahash": DamageBadName}}
		}},
		{"stray temp file", func(t *testing.T, f *fixture) want {
			os.WriteFile(filepath.Join(f.s.Dir(), ".gantry", "ingest", "leftover-123"), []byte("x"), 0o644)
			return want{strays: 1}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := tc.damage(t, f)
			rep, err := f.s.Fsck(t.Context(), FsckOptions{})
			if err != nil {
				t.Fatalf("Fsck: %v", err)
			}
			if rep.BlobsChecked < 8 || rep.BytesHashed == 0 {
				t.Errorf("checked %d blobs, %d bytes", rep.BlobsChecked, rep.BytesHashed)
			}
			gotDamaged := map[digest.Digest]DamageReason{}
			for _, d := range rep.Damaged {
				gotDamaged[d.Digest] = d.Reason
			}
			if !mapsEqual(gotDamaged, w.damaged) {
				t.Errorf("damaged = %v, want %v", gotDamaged, w.damaged)
			}
			gotInc := map[string][]digest.Digest{}
			for _, i := range rep.Incomplete {
				gotInc[i.Ref] = i.Missing
			}
			if len(gotInc) != len(w.incomplete) {
				t.Errorf("incomplete = %v, want %v", gotInc, w.incomplete)
			}
			for ref, missing := range w.incomplete {
				if !slices.Equal(gotInc[ref], missing) {
					t.Errorf("incomplete %s missing %v, want %v", ref, gotInc[ref], missing)
				}
			}
			var gotSparse []string
			for _, s := range rep.Sparse {
				gotSparse = append(gotSparse, s.Ref)
			}
			if !slices.Equal(gotSparse, w.sparse) {
				t.Errorf("sparse = %v, want %v", gotSparse, w.sparse)
			}
			if len(rep.StrayTempsRemoved) != w.strays {
				t.Errorf("stray temps removed = %v, want %d", rep.StrayTempsRemoved, w.strays)
			}
			wantClean := len(w.damaged) == 0 && len(w.incomplete) == 0
			if rep.Clean() != wantClean {
				t.Errorf("Clean() = %v, want %v", rep.Clean(), wantClean)
			}
			if len(rep.Actions) != 0 {
				t.Errorf("Fsck without Repair acted: %v", rep.Actions)
			}

			// Repair, then check again: nothing remains.
			rep, err = f.s.Fsck(t.Context(), FsckOptions{Repair: true, Concurrency: 1})
			if err != nil {
				t.Fatalf("Fsck(Repair): %v", err)
			}
			if !rep.Clean() {
				t.Fatalf("after Repair, damage remains: %+v", rep)
			}
			for _, d := range rep.Damaged {
				if _, err := os.Stat(d.Quarantined); err != nil {
					t.Errorf("quarantined blob %s: %v", d.Digest, err)
				}
			}
			for ref := range w.incomplete {
				repo, tag, _ := splitRefName(ref)
				r, _ := f.s.Repository(t.Context(), repo)
				if _, err := r.Resolve(t.Context(), tag); err == nil {
					t.Errorf("tag %s of an incomplete image survived Repair", ref)
				}
				if slices.Contains(refNames(readIndex(t, f.s.Dir())), ref) {
					t.Errorf("index.json still names %s after Repair", ref)
				}
			}
			rep, err = f.s.Fsck(t.Context(), FsckOptions{})
			if err != nil || len(rep.Damaged)+len(rep.Incomplete) != 0 {
				t.Fatalf("second Fsck after Repair: %+v, %v", rep, err)
			}
		})
	}
}

func sortedDigests(ds ...digest.Digest) []digest.Digest {
	slices.Sort(ds)
	return ds
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
