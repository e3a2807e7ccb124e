package image

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// countingTarget counts the layer blobs fetched from it, and can change
// the bytes of one layer on their way (a corrupt registry).
type countingTarget struct {
	cas.ReadOnlyTarget
	layers atomic.Int64
	tamper digest.Digest
}

func (c *countingTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if strings.Contains(desc.MediaType, "layer") {
		c.layers.Add(1)
	}
	rc, err := c.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || desc.Digest != c.tamper {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[len(b)-1] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}

// scanFleet pushes n images over two shared bases to a memory repository:
// image i has the base of its parity, a middle layer shared with one other
// image, and a layer of its own, some with a secret and /etc/passwd.
func scanFleet(t *testing.T, n int) (cas.ReadOnlyTarget, map[string][]digest.Digest) {
	t.Helper()
	bases := [][]testimage.Layer{
		{imagetest.Layer(imagetest.Gzip, imagetest.Sized("usr/lib/libbig.so", 40_000), imagetest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), imagetest.Dir("var/cache"))},
		{imagetest.Layer(imagetest.Zstd, imagetest.Sized("usr/lib/jvm/lib/modules", 60_000), imagetest.Symlink("usr/bin/java", "../lib/jvm/bin/java")),
			imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("var/cache"), imagetest.Opaque("tmp"))},
	}
	repo, err := memory.New().Repository(t.Context(), "fleet")
	if err != nil {
		t.Fatal(err)
	}
	layersOf := map[string][]digest.Digest{}
	for i := range n {
		layers := append([]testimage.Layer{}, bases[i%2]...)
		layers = append(layers,
			imagetest.Layer(imagetest.Gzip, imagetest.Sized(fmt.Sprintf("opt/mid%d/lib.jar", i/2), 5_000)),
			imagetest.Layer(imagetest.Gzip, imagetest.File(fmt.Sprintf("app/%d/main", i), strings.Repeat("x", i+1)),
				imagetest.File("root/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
				imagetest.Entry{Name: fmt.Sprintf("app/%d/link", i), Type: '1', Link: fmt.Sprintf("app/%d/main", i)},
				imagetest.Entry{Name: "usr/local/bin/start.sh", Type: '0', Mode: 0o755, Data: []byte("#!/bin/sh\nnginx &\nphp-fpm &\nwait\n")}))
		img := imagetest.Image(layers, imagetest.Config{Entrypoint: []string{"/usr/local/bin/start.sh"}})
		tag := fmt.Sprintf("app%d", i)
		if err := img.Push(t.Context(), repo, tag); err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			layersOf[tag] = append(layersOf[tag], l.Desc.Digest)
		}
	}
	return repo, layersOf
}

// summary is what the tests compare between analyses.
func summary(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "size %d stored %d wasted %d dive %d\n", r.Size, r.Stored, r.Wasted, r.DiveWasted)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s %s %d %s\n", f.Rule, f.Severity, f.Bytes, f.Message)
	}
	return b.String()
}

// checkFleet analyzes tags as one gantry check process does: one
// ScanCache over the directory.
func checkFleet(t *testing.T, src cas.ReadOnlyTarget, dir string, tags []string, opts ScanDirOptions) (*ScanCache, map[string]string) {
	t.Helper()
	d, err := OpenScanDir(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewScanCache(0).WithDir(d)
	out := map[string]string{}
	for _, tag := range tags {
		r, err := Analyze(t.Context(), src, tag, tag, Options{Scans: cache})
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		out[tag] = summary(r)
	}
	return cache, out
}

// TestScanDirFleetRecheck: a fleet checked again, one image new, reads
// only the layers nobody read before, and its results are those of
// analyses without any cache.
func TestScanDirFleetRecheck(t *testing.T) {
	repo, layersOf := scanFleet(t, 10)
	var tags []string
	for i := range 10 {
		tags = append(tags, fmt.Sprintf("app%d", i))
	}
	want := map[string]string{}
	for _, tag := range tags {
		r, err := Analyze(t.Context(), repo, tag, tag, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want[tag] = summary(r)
	}
	if !strings.Contains(want["app0"], "GC020") {
		t.Fatalf("no GC020 for the entrypoint script: the test needs a finding from a kept script:\n%s", want["app0"])
	}
	dir := t.TempDir()
	src := &countingTarget{ReadOnlyTarget: repo}
	cache, got := checkFleet(t, src, dir, tags[:9], ScanDirOptions{Version: "test"})
	seen := map[digest.Digest]bool{}
	for _, tag := range tags[:9] {
		for _, d := range layersOf[tag] {
			seen[d] = true
		}
	}
	if n := src.layers.Load(); n != int64(len(seen)) || cache.Scanned() != int64(len(seen)) {
		t.Errorf("cold: %d layer fetches, %d scans, want %d (each distinct layer once)", n, cache.Scanned(), len(seen))
	}
	var fresh int64
	for _, d := range layersOf["app9"] {
		if !seen[d] {
			fresh++
		}
	}
	if fresh == 0 || fresh == int64(len(layersOf["app9"])) {
		t.Fatalf("the new image has %d new layers of %d: the test needs some shared, some new", fresh, len(layersOf["app9"]))
	}
	src.layers.Store(0)
	cache, got2 := checkFleet(t, src, dir, tags, ScanDirOptions{Version: "test"})
	if n := src.layers.Load(); n != fresh || cache.Scanned() != fresh {
		t.Errorf("re-check with one new image: %d layer fetches, %d scans, want %d (its new layers)", n, cache.Scanned(), fresh)
	}
	for d := range seen {
		fi, err := os.Stat(cache.Dir().path(d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("entry %s: mode %v, want 0600 (a scan holds the image's /etc/shadow)", d, fi.Mode())
		}
	}
	if s := cache.Dir().Stats(); s.Hits != int64(len(seen)) || s.Writes != fresh {
		t.Errorf("re-check: %+v, want %d hits and %d writes", s, len(seen), fresh)
	}
	for k, v := range got2 {
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("analyses through the cache differ from plain ones (-want +got):\n%s", diff)
	}

	// Another version of gantry ignores the entries, and replaces them.
	src.layers.Store(0)
	checkFleet(t, src, dir, tags[:1], ScanDirOptions{Version: "next"})
	if n := src.layers.Load(); n != int64(len(layersOf["app0"])) {
		t.Errorf("another version: %d layer fetches, want %d", n, len(layersOf["app0"]))
	}
	src.layers.Store(0)
	checkFleet(t, src, dir, tags[:1], ScanDirOptions{Version: "next"})
	if n := src.layers.Load(); n != 0 {
		t.Errorf("another version, second run: %d layer fetches, want 0", n)
	}
}

// TestScanDirCorrupt: entries truncated, altered, emptied or replaced by
// another layer's are ignored, the layers read again, the results right,
// and the entries rewritten whole.
func TestScanDirCorrupt(t *testing.T) {
	repo, layersOf := scanFleet(t, 2)
	dir := t.TempDir()
	_, want := checkFleet(t, repo, dir, []string{"app1"}, ScanDirOptions{})
	ls := layersOf["app1"]
	d, _ := OpenScanDir(dir, ScanDirOptions{})
	files := make([]string, len(ls))
	for i, l := range ls {
		files[i] = d.path(l)
		if _, err := os.Stat(files[i]); err != nil {
			t.Fatalf("layer %d: no entry: %v", i, err)
		}
	}
	if len(ls) < 4 {
		t.Fatalf("%d layers, the test needs 4", len(ls))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(files[2])
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	for i, b := range [][]byte{data[:len(data)-7], flipped, nil, other} {
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := &countingTarget{ReadOnlyTarget: repo}
	cache, got := checkFleet(t, src, dir, []string{"app1"}, ScanDirOptions{})
	if n := src.layers.Load(); n != 4 || cache.Scanned() != 4 {
		t.Errorf("%d layer fetches, %d scans, want 4 (the damaged entries)", n, cache.Scanned())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results differ (-want +got):\n%s", diff)
	}
	for i, l := range ls {
		b, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeScan(b, l); err != nil {
			t.Errorf("layer %d: entry not rewritten: %v", i, err)
		}
	}
}

// TestScanDirVerified: a layer whose bytes do not match its digest fails
// the analysis and leaves no entry; an entry is never trusted for a scan
// that was not verified.
func TestScanDirVerified(t *testing.T) {
	repo, layersOf := scanFleet(t, 1)
	dir := t.TempDir()
	bad := layersOf["app0"][1]
	src := &countingTarget{ReadOnlyTarget: repo, tamper: bad}
	d, err := OpenScanDir(dir, ScanDirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Analyze(t.Context(), src, "app0", "app0", Options{Scans: NewScanCache(0).WithDir(d), Concurrency: 1}); err == nil {
		t.Fatal("a layer not matching its digest was analyzed")
	}
	if _, err := os.Stat(d.path(bad)); !os.IsNotExist(err) {
		t.Errorf("entry of the corrupt layer: %v, want none", err)
	}
	d.store(bad, &layerScan{entries: []Entry{{Path: "x", Kind: KindDir}}})
	if _, err := os.Stat(d.path(bad)); !os.IsNotExist(err) {
		t.Errorf("an unverified scan was written: %v", err)
	}
}

// TestScanDirLimits: an entry made under looser limits is not used under
// tighter ones: the layer is read and fails as it would without a cache.
func TestScanDirLimits(t *testing.T) {
	repo, _ := scanFleet(t, 1)
	dir := t.TempDir()
	checkFleet(t, repo, dir, []string{"app0"}, ScanDirOptions{})
	d, _ := OpenScanDir(dir, ScanDirOptions{})
	for _, lim := range []Limits{{MaxLayerBytes: 20_000}, {MaxEntries: 2}} {
		_, err := Analyze(t.Context(), repo, "app0", "app0", Options{Scans: NewScanCache(0).WithDir(d), Limits: lim})
		if err == nil || !strings.Contains(err.Error(), ErrLimit.Error()) {
			t.Errorf("%+v: %v, want ErrLimit", lim, err)
		}
	}
}

// TestScanDirEvict: the directory stays within its bound, keeping the
// most recently used entries.
func TestScanDirEvict(t *testing.T) {
	dir := t.TempDir()
	s := &layerScan{verified: true, entries: []Entry{{Path: "usr/share/" + strings.Repeat("d", 900), Kind: KindFile, Size: 1}}}
	entry := int64(len(encodeScan(s, digest.FromString("0"), "")))
	// Another program's file, and an entry of an older format.
	foreign := filepath.Join(dir, "notes.txt")
	old := filepath.Join(dir, "v0", "sha256", digest.FromString("old").Encoded())
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{foreign, old} {
		if err := os.WriteFile(p, make([]byte, entry), 0o644); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-48 * time.Hour)
		os.Chtimes(p, past, past)
	}
	d, err := OpenScanDir(dir, ScanDirOptions{MaxBytes: 10 * entry})
	if err != nil {
		t.Fatal(err)
	}
	var ds []digest.Digest
	for i := range 30 {
		dg := digest.FromString(fmt.Sprint(i))
		ds = append(ds, dg)
		d.store(dg, s)
		if i == 5 {
			// Entry 0, read now, is more recent than 1 to 5.
			past := time.Now().Add(-time.Hour)
			for _, p := range ds {
				os.Chtimes(d.path(p), past, past)
			}
			if _, ok := d.load(ds[0], Limits{}.withDefaults()); !ok {
				t.Fatal("entry 0 not read back")
			}
		}
	}
	var total int64
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && p != foreign {
			fi, _ := e.Info()
			total += fi.Size()
		}
		return nil
	})
	if total > 10*entry {
		t.Errorf("%d bytes kept, bound %d", total, 10*entry)
	}
	lim := Limits{}.withDefaults()
	if _, ok := d.load(ds[29], lim); !ok {
		t.Error("the last entry written was evicted")
	}
	if _, ok := d.load(ds[1], lim); ok {
		t.Error("an old entry survived")
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the entry of an older format: %v, want it evicted", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("another program's file: %v", err)
	}
}

// TestScanDirConcurrent: two checks sharing a directory at once (as two
// gantry check processes do) get right results and leave whole entries.
func TestScanDirConcurrent(t *testing.T) {
	repo, layersOf := scanFleet(t, 4)
	tags := []string{"app0", "app1", "app2", "app3"}
	dir := t.TempDir()
	want := map[string]string{}
	for _, tag := range tags {
		r, err := Analyze(t.Context(), repo, tag, tag, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want[tag] = summary(r)
	}
	var wg sync.WaitGroup
	results := make([]map[string]string, 4)
	for i := range results {
		wg.Go(func() {
			// Small enough to evict while the others write.
			_, results[i] = checkFleet(t, repo, dir, tags, ScanDirOptions{MaxBytes: 4 << 10})
		})
	}
	wg.Wait()
	for i, got := range results {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("check %d (-want +got):\n%s", i, diff)
		}
	}
	d, _ := OpenScanDir(dir, ScanDirOptions{})
	for _, ls := range layersOf {
		for _, l := range ls {
			if b, err := os.ReadFile(d.path(l)); err == nil {
				if _, _, err := decodeScan(b, l); err != nil {
					t.Errorf("%s: %v", l, err)
				}
			}
		}
	}
}

// TestScanEncoding: a scan read back is the scan written.
func TestScanEncoding(t *testing.T) {
	s := &layerScan{
		entries: []Entry{
			{Path: "etc", Kind: KindDir, Mode: 0o755},
			{Path: "etc/passwd", Kind: KindFile, Size: 12, Mode: 0o644},
			{Path: "etc/pam.d", Kind: KindDir, Mode: 0o755, UID: 1000, GID: 65534},
			{Path: "bin/sh", Kind: KindSymlink, Link: "/bin/busybox"},
			{Path: "bin/ls", Kind: KindHardlink, Link: "bin/sh"},
			{Path: "var/cache", Kind: KindWhiteout},
			{Path: "", Kind: KindOpaque},
			{Path: "dev/null", Kind: KindOther, Mode: 0o4777},
		},
		files:   map[string][]byte{"etc/passwd": []byte("root:x:0:0\n"), "etc/group": {}},
		secrets: []secretFile{{path: "root/.ssh/id_rsa", why: "a private key", size: 40}},
		scripts: map[string][]byte{"entrypoint.sh": []byte("#!/bin/sh\nexec \"$@\"\n"), "usr/local/bin/run": []byte("#!/bin/bash\nnginx &\nwait\n")},
		bytes:   12, raw: 4096, verified: true,
	}
	for _, d := range s.scripts {
		s.scriptBytes += int64(len(d))
	}
	dg := digest.FromString("layer")
	b := encodeScan(s, dg, "v1.2.3 abc")
	got, version, err := decodeScan(b, dg)
	if err != nil {
		t.Fatal(err)
	}
	if version != "v1.2.3 abc" {
		t.Errorf("version %q", version)
	}
	if diff := cmp.Diff(s, got, cmp.AllowUnexported(layerScan{}, secretFile{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, _, err := decodeScan(b, digest.FromString("other")); err == nil {
		t.Error("an entry was read for another digest")
	}
	for n := range len(b) {
		if _, _, err := decodeScan(b[:n], dg); err == nil {
			t.Fatalf("truncated to %d of %d bytes: read", n, len(b))
		}
	}
}

// TestScanEncodingCoversScan: a field added to layerScan is a field a warm
// check would lose unless the entry file carries it. This test names the
// fields encodeScan knows; a new one must be encoded, decoded, and
// scanFormat changed, before it is added here.
func TestScanEncodingCoversScan(t *testing.T) {
	// head is scratch of the scan, not kept; scriptBytes is recomputed.
	known := []string{"entries", "files", "secrets", "bytes", "raw", "verified", "scripts", "scriptBytes", "head"}
	var got []string
	for f := range reflect.TypeFor[layerScan]().Fields() {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff(known, got); diff != "" {
		t.Errorf("layerScan's fields changed: encode the new ones in encodeScan and decodeScan and change scanFormat (-known +now):\n%s", diff)
	}
	known = []string{"path", "why", "size", "layer"}
	got = nil
	for f := range reflect.TypeFor[secretFile]().Fields() {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff(known, got); diff != "" {
		t.Errorf("secretFile's fields changed: encode the new ones (layer is set per image, not kept) and change scanFormat (-known +now):\n%s", diff)
	}
	known = []string{"Path", "Kind", "Size", "Mode", "UID", "GID", "Link"}
	got = nil
	for f := range reflect.TypeFor[Entry]().Fields() {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff(known, got); diff != "" {
		t.Errorf("Entry's fields changed: encode the new ones and change scanFormat (-known +now):\n%s", diff)
	}
}

// FuzzScanEntry feeds arbitrary bytes to the entry decoder: no panic, and
// what it accepts holds only entries walkLayer could return and encodes
// back to the same bytes. Seeds: testdata/fuzz/FuzzScanEntry.
func FuzzScanEntry(f *testing.F) {
	dg := digest.FromString("layer")
	f.Add(encodeScan(&layerScan{entries: []Entry{{Path: "a/b", Kind: KindFile, Size: 3}, {Path: "a/c", Kind: KindSymlink, Link: "b"}},
		files: map[string][]byte{"etc/passwd": []byte("x")}, secrets: []secretFile{{path: "k.pem", why: "key", size: 1}}}, dg, "v"))
	f.Add([]byte(scanMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Without the checksum the fuzzer would see only checksum
		// failures: it is recomputed, so the fields themselves are tried.
		if len(data) >= 4 {
			data = binary32(data[:len(data)-4])
		}
		s, version, err := decodeScan(data, dg)
		if err != nil {
			return
		}
		var n int64
		for i := range s.entries {
			if !validEntry(&s.entries[i]) {
				t.Fatalf("entry %+v accepted", s.entries[i])
			}
			if s.entries[i].Kind == KindFile {
				n += s.entries[i].Size
			}
		}
		if n != s.bytes || s.raw < 0 {
			t.Fatalf("bytes %d, files sum to %d; raw %d", s.bytes, n, s.raw)
		}
		again, _, err := decodeScan(encodeScan(s, dg, version), dg)
		if err != nil {
			t.Fatalf("re-encoded entry refused: %v", err)
		}
		if diff := cmp.Diff(s, again, cmp.AllowUnexported(layerScan{}, secretFile{})); diff != "" {
			t.Fatalf("re-encoded entry differs:\n%s", diff)
		}
	})
}

// binary32 appends the checksum decodeScan wants to b.
func binary32(b []byte) []byte {
	c := crc32.Checksum(b, crcTable)
	return append(bytes.Clone(b), byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

// BenchmarkScanEntry encodes and decodes the scan of a layer of 100,000
// entries in a tree of a typical shape (usr/lib/python3/dist-packages/...):
// what a warm check pays per layer instead of inflating it.
func BenchmarkScanEntry(b *testing.B) {
	s := &layerScan{verified: true, raw: 1 << 30, files: map[string][]byte{"etc/passwd": []byte("root:x:0:0::/root:/bin/sh\n")}}
	for i := range 100_000 {
		p := fmt.Sprintf("usr/lib/python3/dist-packages/pkg%03d/mod%02d/file%03d.py", i/1000, i/100%10, i%100)
		s.entries = append(s.entries, Entry{Path: p, Kind: KindFile, Size: int64(i), Mode: 0o644})
		s.bytes += int64(i)
	}
	dg := digest.FromString("layer")
	data := encodeScan(s, dg, "v")
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			encodeScan(s, dg, "v")
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, err := decodeScan(data, dg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data))/float64(len(s.entries)), "file-B/entry")
	})
}

// blockingTarget holds every layer fetch until release is closed or the
// fetch's context ends.
type blockingTarget struct {
	cas.ReadOnlyTarget
	release chan struct{}
	started chan struct{} // gets a value as a layer fetch starts
}

func (b *blockingTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if strings.Contains(desc.MediaType, "layer") {
		b.started <- struct{}{}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.ReadOnlyTarget.Fetch(ctx, desc)
}

// TestScanCacheOwnerCanceled: an analysis waiting for a layer another
// analysis is reading does not fail when that other analysis is canceled:
// it reads the layer itself.
func TestScanCacheOwnerCanceled(t *testing.T) {
	base := imagetest.Layer(imagetest.Gzip, imagetest.Sized("usr/lib/big.so", 1000))
	repo, err := memory.New().Repository(t.Context(), "cancel")
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.Image([]testimage.Layer{base}, imagetest.Config{}).Push(t.Context(), repo, "a"); err != nil {
		t.Fatal(err)
	}
	src := &blockingTarget{ReadOnlyTarget: repo, release: make(chan struct{}), started: make(chan struct{}, 4)}
	cache := NewScanCache(0)
	ownerCtx, cancel := context.WithCancel(t.Context())
	ownerDone := make(chan error, 1)
	go func() {
		_, err := Analyze(ownerCtx, src, "a", "a", Options{Scans: cache})
		ownerDone <- err
	}()
	<-src.started // the owner reads the layer
	waiterDone := make(chan error, 1)
	go func() {
		_, err := Analyze(t.Context(), src, "a", "a", Options{Scans: cache})
		waiterDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // the waiter waits for the owner's read
	cancel()
	if err := <-ownerDone; err == nil {
		t.Fatal("the canceled analysis succeeded")
	}
	select {
	case <-src.started: // the waiter reads the layer itself
	case err := <-waiterDone:
		t.Fatalf("the waiting analysis ended without reading the layer: %v", err)
	}
	close(src.release)
	if err := <-waiterDone; err != nil {
		t.Errorf("the waiting analysis failed with the other's cancellation: %v", err)
	}
}
