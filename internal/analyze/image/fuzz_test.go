package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
)

// FuzzWalkLayer feeds arbitrary bytes to the layer walker and the stacking
// of what it returns: no panic, limits respected. Seeds are in
// testdata/fuzz/FuzzWalkLayer.
func FuzzWalkLayer(f *testing.F) {
	f.Add(imagetest.Layer(imagetest.Gzip, imagetest.Sized("a/b", 10), imagetest.Whiteout("a/c"), imagetest.Opaque("d")).Data)
	f.Add(imagetest.Layer(imagetest.Zstd, imagetest.Symlink("x", "../../y"), imagetest.Entry{Name: "h", Type: tar.TypeLink, Link: "x"}).Data)
	f.Add(imagetest.Tar([]imagetest.Entry{imagetest.File("../escape", "x")}))
	lim := Limits{MaxLayerBytes: 4 << 20, MaxTotalBytes: 4 << 20, MaxEntries: 10000}
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []Entry
		var read int64
		err := WalkLayer(t.Context(), bytes.NewReader(data), lim, func(e *Entry, content io.Reader) error {
			entries = append(entries, *e)
			n, err := io.Copy(io.Discard, content)
			read += n
			return err
		})
		if read > lim.MaxLayerBytes {
			t.Fatalf("read %d bytes past the %d limit", read, lim.MaxLayerBytes)
		}
		if err != nil && errors.Is(err, ErrLimit) && len(entries) > lim.MaxEntries {
			t.Fatalf("%d entries kept past the limit", len(entries))
		}
		fs := newFS(2, true)
		fs.apply(0, entries)
		fs.apply(1, entries)
		if du(&fs.root) < 0 {
			t.Fatal("negative size")
		}
		fs.resolve("bin/sh")
	})
}
