package bundle

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
)

func TestBadInput(t *testing.T) {
	_, images, fl := fleet(t, 3, 1, 60000, 20000)
	layer := fl[1].Layers[1].Desc // app1's own layer
	good, rep := create(t, images, CreateOptions{})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, b []byte) string {
		p := t.TempDir() + "/bad.tar"
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("Truncated", func(t *testing.T) {
		r := open(t, write(t, data[:len(data)*2/3]))
		v := verify(t, r)
		if v.OK() {
			t.Fatal("a truncated bundle verifies")
		}
		p := v.Problems[0]
		if p.Kind != ProblemTruncated || len(p.Images) == 0 || !strings.Contains(p.Detail, "copy the volume again") {
			t.Fatalf("first problem %s", p)
		}
		t.Log(p)
	})
	t.Run("TruncatedHead", func(t *testing.T) {
		_, err := Open(write(t, data[:700]))
		if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("Open: %v", err)
		}
		t.Log(err)
	})
	t.Run("FlippedByte", func(t *testing.T) {
		r := open(t, good)
		e := r.vols[0].entries[blobPath(layer.Digest)]
		bad := append([]byte(nil), data...)
		bad[e.offset+e.size/2] ^= 0x01
		r = open(t, write(t, bad))
		v := verify(t, r)
		if len(v.Problems) != 1 {
			t.Fatalf("problems %v", v.Problems)
		}
		p := v.Problems[0]
		if p.Kind != ProblemDamaged || p.Digest != layer.Digest || len(p.Images) != 1 || p.Images[0] != images[1].Name {
			t.Fatalf("problem %s", p)
		}
		if v.Images[0].Complete != true || v.Images[1].Complete {
			t.Fatalf("images %+v", v.Images)
		}
		t.Log(p)
	})
	t.Run("GarbageManifest", func(t *testing.T) {
		r := open(t, good)
		e := r.vols[0].entries[ManifestName]
		bad := append([]byte(nil), data...)
		copy(bad[e.offset:], "{garbage")
		_, err := Open(write(t, bad))
		if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), ManifestName) {
			t.Fatalf("Open: %v", err)
		}
		t.Log(err)
	})
	t.Run("DamagedIndex", func(t *testing.T) {
		r := open(t, good)
		e := r.vols[0].entries["index.json"]
		bad := append([]byte(nil), data...)
		i := e.offset + int64(strings.Index(string(data[e.offset:e.offset+e.size]), "sha256:")) + 10
		bad[i] ^= 0x01
		v := verify(t, open(t, write(t, bad)))
		if len(v.Problems) != 1 || v.Problems[0].Kind != ProblemDamaged || !strings.Contains(v.Problems[0].Detail, "index.json") {
			t.Fatalf("problems %v", v.Problems)
		}
		t.Log(v.Problems[0])
	})
	t.Run("NotABundle", func(t *testing.T) {
		_, err := Open(write(t, []byte("hello")))
		if err == nil {
			t.Fatal("Open accepted garbage")
		}
		t.Log(err)
	})
	t.Run("MixedBundles", func(t *testing.T) {
		other, _ := create(t, images[:1], CreateOptions{})
		_, err := Open(good, other)
		if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), "one bundle") {
			t.Fatalf("Open: %v", err)
		}
		_, err = Open(good, good)
		if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("Open twice: %v", err)
		}
	})
	t.Run("FailedCreateLeavesNothing", func(t *testing.T) {
		dir := t.TempDir()
		broken := images[2]
		broken.Reference = "nope"
		_, err := Create(t.Context(), dir+"/x.tar", []Image{images[0], broken}, CreateOptions{})
		if !errors.Is(err, cas.ErrNotFound) {
			t.Fatalf("Create: %v", err)
		}
		// A source that serves wrong bytes fails the copy half-way.
		_, err = Create(t.Context(), dir+"/x.tar", []Image{{Name: "a:1", Source: liar{images[1].Source}, Reference: "v1"}}, CreateOptions{})
		if !errors.Is(err, cas.ErrDigestMismatch) {
			t.Fatalf("Create from a lying source: %v", err)
		}
		if !strings.Contains(err.Error(), "image a:1: ") || strings.Contains(err.Error(), "index ") {
			t.Errorf("error does not name the image plainly: %v", err)
		}
		t.Log(err)
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("a failed create left %v", ents)
		}
	})
	_ = rep
}
