package archive_test

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/archive"
)

// TestConformance runs the read-only part of the store suite against a
// tarball laid out as docker save writes it.
func TestConformance(t *testing.T) {
	castest.RunReadOnly(t, castest.ReadOnlyConfig{
		New: func(t *testing.T, images []castest.Image) cas.ReadOnlyStore {
			s, err := archive.Open(writeDockerSave(t, images))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		// docker save keeps no manifest: the store makes one.
		MakesManifests: true,
	})
}

// writeDockerSave writes images as docker save (before docker 25) lays
// them out: manifest.json, "<hex>.json" configs and "<hex>/layer.tar"
// layers, each file once.
func writeDockerSave(t *testing.T, images []castest.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	written := map[string]bool{}
	add := func(name string, data []byte) {
		if written[name] {
			return
		}
		written[name] = true
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	type saved struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []saved
	for _, img := range images {
		s := saved{Config: img.Config.Desc.Digest.Encoded() + ".json", RepoTags: []string{img.Repository + ":" + img.Tag}}
		add(s.Config, img.Config.Data)
		for _, l := range img.Layers {
			name := l.Desc.Digest.Encoded() + "/layer.tar"
			add(name, l.Data)
			s.Layers = append(s.Layers, name)
		}
		manifest = append(manifest, s)
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	add("manifest.json", b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
