package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/testimage"
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
		fs := newFS(2, true, len(entries)+DefaultMaxImpliedDirs)
		fs.apply(0, entries)
		fs.apply(1, entries)
		if du(&fs.root) < 0 {
			t.Fatal("negative size")
		}
		fs.resolve("bin/sh")
	})
}

// FuzzLayerPaths feeds tar entries of any names (one a line; a trailing /
// makes a directory) to the layer walker, the stacking, dive's accounting
// the final walk and the findings' walk: no panic, every file stacked can be found again,
// dive's leaves agree with their plain definition, the implied directories
// stay within their bound and no node is made twice, so the work stays
// linear in the bytes of the names (a 2,000-deep path once cost its depth
// squared, and 1,000 of them under their own chains millions of nodes).
// Seeds: testdata/fuzz/FuzzLayerPaths.
func FuzzLayerPaths(f *testing.F) {
	f.Add("a/b/c\na/b/\na/.wh.b\nd/.wh..wh..opq\nd/e\n")
	f.Add(strings.Repeat("a/", 1000) + "f\n" + strings.Repeat("a/", 999) + ".wh.a\n")
	f.Fuzz(func(t *testing.T, names string) {
		var es []imagetest.Entry
		for n := range strings.Lines(names) {
			n = strings.TrimSuffix(n, "\n")
			if n == "" || n == "/" {
				continue
			}
			if strings.HasSuffix(n, "/") {
				es = append(es, imagetest.Dir(strings.TrimSuffix(n, "/")))
			} else {
				es = append(es, imagetest.File(n, "x"))
			}
		}
		var raw []byte
		func() {
			defer func() {
				if recover() != nil {
					raw = nil // a name archive/tar cannot write
				}
			}()
			raw = imagetest.Tar(es)
		}()
		if raw == nil {
			return
		}
		var entries []Entry
		err := WalkLayer(t.Context(), bytes.NewReader(raw), Limits{}, func(e *Entry, _ io.Reader) error {
			entries = append(entries, *e)
			return nil
		})
		if err != nil {
			return
		}
		// parents agrees with the plain definition: a path that is a
		// directory above another entry's path.
		above := map[string]bool{}
		for _, e := range entries {
			for d := e.Path; ; {
				i := strings.LastIndexByte(d, '/')
				if i <= 0 {
					break
				}
				d = d[:i]
				above[d] = true
			}
		}
		for j, p := range parents(entries) {
			if p != above[entries[j].Path] {
				t.Fatalf("parents says %q is above another entry: %v, want %v", entries[j].Path, p, !p)
			}
		}
		// A small bound on implied directories, so that the fuzzer reaches
		// the entries left out as well.
		maxImplied := len(entries) + 64
		fs := newFS(2, true, maxImplied)
		fs.apply(0, entries)
		fs.apply(1, entries)
		diveWaste([]*layerScan{{entries: entries}, {entries: entries}}, maxImplied)
		if fs.implied > maxImplied {
			t.Fatalf("%d implied directories made, over the bound of %d", fs.implied, maxImplied)
		}
		nodes := 0
		fs.walk(func(p []byte, depth int, n *node) {
			nodes++
			if got := bytes.Count(p, []byte("/")) + 1; got != depth {
				t.Fatalf("%q walked at depth %d", p, depth)
			}
		})
		// Each node is an entry's or an implied directory: none is made
		// for a path twice.
		if nodes > len(entries)+fs.implied {
			t.Fatalf("%d nodes from %d entries and %d implied directories", nodes, len(entries), fs.implied)
		}
		// The findings' walk of the same filesystem.
		(&finder{r: &Result{fs: fs, Layers: make([]LayerInfo, 2)}}).walkFS()
		if fs.unstacked[0]+fs.unstacked[1] > 0 {
			return
		}
		for _, e := range entries {
			if e.Kind == KindFile && len(e.Path) > 0 {
				if n := fs.lookup(e.Path); n == nil {
					// A later entry may have replaced a parent with a
					// file, or a whiteout removed it: only check the
					// last entry's path, which nothing follows.
					if e == entries[len(entries)-1] {
						t.Fatalf("%q stacked but not found", e.Path)
					}
				}
			}
		}
	})
}

// FuzzEntrypointScripts feeds any shell script, as the image's entrypoint
// and as the script it may exec, to the layer scan and the entrypoint
// analysis: no panic, at most one GC020, located to the image. Seeds:
// testdata/fuzz/FuzzEntrypointScripts.
func FuzzEntrypointScripts(f *testing.F) {
	f.Add([]byte("#!/bin/sh\nexec /usr/local/bin/next \"$@\"\n"), "/sbin/init")
	f.Add([]byte("#!/bin/bash\nnginx &\nphp-fpm &\nwait\n"), "")
	f.Add([]byte("#!/bin/sh\nexec sh /entry.sh \"$@\" \"$@\"\n"), "x")
	f.Fuzz(func(t *testing.T, body []byte, arg string) {
		layer := imagetest.Layer(imagetest.Gzip,
			imagetest.Entry{Name: "entry.sh", Type: tar.TypeReg, Mode: 0o755, Data: body},
			imagetest.Entry{Name: "usr/local/bin/next", Type: tar.TypeReg, Mode: 0o755, Data: body},
			imagetest.Symlink("sbin/init", "/entry.sh"), imagetest.Symlink("usr/bin/loop", "/usr/bin/loop"))
		r, err := analyze(t, []testimage.Layer{layer}, imagetest.Config{Entrypoint: []string{"/entry.sh"}, Cmd: []string{arg}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fs := find(r.Findings, RuleProcessManager); len(fs) > 1 || len(fs) == 1 && (fs[0].Layer != "" || fs[0].Message == "") {
			t.Fatalf("GC020 findings: %s", dump(fs))
		}
	})
}
