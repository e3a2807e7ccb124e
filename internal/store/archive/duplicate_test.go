package archive_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/archive"
)

// tarEntry is one entry of a tar, header and data.
type tarEntry struct {
	h    *tar.Header
	data []byte
}

// rewrite copies testdata/skopeo-small.tar into a new file, replacing each
// entry by what fn returns for it.
func rewrite(t *testing.T, fn func(e tarEntry) []tarEntry) string {
	t.Helper()
	in, err := os.Open(filepath.Join("testdata", "skopeo-small.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range fn(tarEntry{h, data}) {
			h := *e.h
			h.Size = int64(len(e.data))
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dup.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A docker-archive holding two entries of one name is refused at Open,
// naming the entry: the index kept the last, so a damaged layer or config
// followed by a good one of its name was read as good.
func TestArchiveDuplicateEntries(t *testing.T) {
	const (
		layer = "52a10a9f1ffc40eaa7f7421d235296735bda6b47b18726ecb52fd4ec86f0da1f.tar"
		link  = "f1ceebcd71f544be55d6a80f312c640cc84bcc4ab30ba37d17ee5c55c00c6ca1/layer.tar"
	)
	damaged := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0xff
		return b
	}
	tests := []struct {
		name, entry string
		fn          func(e tarEntry) []tarEntry
	}{
		{"damaged then good layer", layer, func(e tarEntry) []tarEntry {
			if e.h.Name == layer {
				return []tarEntry{{e.h, damaged(e.data)}, e}
			}
			return []tarEntry{e}
		}},
		{"manifest.json twice", "manifest.json", func(e tarEntry) []tarEntry {
			if e.h.Name == "manifest.json" {
				return []tarEntry{e, e}
			}
			return []tarEntry{e}
		}},
		{"link twice", link, func(e tarEntry) []tarEntry {
			if e.h.Name == link {
				return []tarEntry{e, e}
			}
			return []tarEntry{e}
		}},
		{"file shadowed by a link spelt with ./", link, func(e tarEntry) []tarEntry {
			if e.h.Name == link {
				file := &tar.Header{Name: link, Typeflag: tar.TypeReg, Mode: 0o444}
				h := *e.h
				h.Name = "./" + link
				return []tarEntry{{file, []byte("not a layer")}, {&h, nil}}
			}
			return []tarEntry{e}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := archive.Open(rewrite(t, tc.fn))
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), tc.entry) || !strings.Contains(err.Error(), "twice") {
				t.Fatalf("Open: %v; want an error naming %s twice", err, tc.entry)
			}
			t.Log(err)
		})
	}
	t.Run("unchanged", func(t *testing.T) {
		s, err := archive.Open(rewrite(t, func(e tarEntry) []tarEntry { return []tarEntry{e} }))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
}

// TestWriteFuzzSeeds writes testdata/fuzz/FuzzOpen/duplicate-layer, the
// seed of a damaged layer shadowed by a good one of its name.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GANTRY_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set GANTRY_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzOpen")
	}
	const layer = "52a10a9f1ffc40eaa7f7421d235296735bda6b47b18726ecb52fd4ec86f0da1f.tar"
	p := rewrite(t, func(e tarEntry) []tarEntry {
		if e.h.Name == layer {
			bad := bytes.Clone(e.data)
			bad[len(bad)/2] ^= 0xff
			return []tarEntry{{e.h, bad}, e}
		}
		return []tarEntry{e}
	})
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "duplicate-layer"), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
		t.Fatal(err)
	}
}
