package swarm

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// A piece's hash over blocks is the hash of its blocks' digests in order;
// without blocks it is the hash of its bytes. A piece that does not divide
// evenly has a shorter last block (and a tiny one, fewer blocks).
func TestPieceHashBlocks(t *testing.T) {
	b := make([]byte, 40<<10+2)
	_, _ = rand.Read(b)
	flat, list := pieceHash(tracker.Layout{}, b)
	if flat != digest.FromBytes(b) || list != nil {
		t.Fatalf("without blocks: %s, a list of %d bytes", flat, len(list))
	}
	for _, tc := range []struct {
		piece  []byte
		blocks [][]byte
	}{
		{b, [][]byte{b[:10241], b[10241:20482], b[20482:30723], b[30723:]}},
		{b[:2], [][]byte{b[:1], b[1:2]}},
		{b[:0], [][]byte{b[:0]}},
	} {
		var want []byte
		for _, blk := range tc.blocks {
			s := sha256.Sum256(blk)
			want = append(want, s[:]...)
		}
		h, list := pieceHash(tracker.Layout{PieceBlocks: 4}, tc.piece)
		if !bytes.Equal(list, want) || h != digest.FromBytes(want) {
			t.Errorf("%d bytes in 4 blocks: %s and a list of %d bytes, want %s and %d", len(tc.piece), h, len(list), digest.FromBytes(want), len(want))
		}
	}
}

// A block list is taken only if it is the piece's: the right number of
// digests, hashing to the published hash. Anything else is corrupt.
func TestReadBlockList(t *testing.T) {
	l := tracker.Layout{Size: 1 << 20, PieceSize: 256 << 10, PieceBlocks: 4}
	b := make([]byte, 256<<10)
	_, _ = rand.Read(b)
	want, list := pieceHash(l, b)
	enc := base64.StdEncoding.EncodeToString
	if got, err := readBlockList(enc(list), l, 1, want); err != nil || !bytes.Equal(got, list) {
		t.Fatalf("the piece's own list: %v", err)
	}
	bad := bytes.Clone(list)
	bad[0] ^= 1
	for name, h := range map[string]string{
		"none":        "",
		"one short":   enc(list[:len(list)-sha256.Size]),
		"one more":    enc(append(bytes.Clone(list), list[:sha256.Size]...)),
		"changed":     enc(bad),
		"not base64":  "!" + enc(list)[1:],
		"far too big": enc(make([]byte, (tracker.MaxBlocks+1)*sha256.Size)),
	} {
		if _, err := readBlockList(h, l, 1, want); !errors.As(err, new(errCorrupt)) {
			t.Errorf("%s: %v, want a corrupt piece", name, err)
		}
	}
}

// A node passes a piece on while it arrives: a peer asking for it once its
// first block came gets that block before the rest has come, and then the
// rest. A block that fails its digest is not passed on: the answer ends
// there. An arrival lost in the middle ends its answers early, and the
// node says it is busy until the piece comes again.
func TestArrivalPassedOn(t *testing.T) {
	const bs = 16 << 10
	l := tracker.Layout{Size: 1 << 20, PieceSize: 256 << 10, PieceBlocks: 16}
	blob := make([]byte, l.Size)
	_, _ = rand.Read(blob)
	d := digest.FromBytes(blob)
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, srv := servedTransfer(t, d, f, l)
	lists := make([][]byte, l.Pieces())
	for i := range l.Pieces() {
		off, size := l.Bounds(i)
		tr.hashes[i], lists[i] = pieceHash(l, blob[off:off+size])
	}

	ask := func(i int) *http.Response {
		t.Helper()
		off, size := l.Bounds(i)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+blobsPath+d.String(), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+size-1))
		req.Header.Set(blockSizeHeader, strconv.Itoa(bs))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	// take starts node's copy of piece i, whose blocks the test writes to
	// the pipe; the copy's end comes on the channel.
	take := func(i int) (*io.PipeWriter, chan error) {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, size := l.Bounds(i)
			a, err := tr.takeBlocks(&neighbour{id: "up"}, l, i, lists[i], make([]byte, size), pr)
			if err == nil {
				tr.mu.Lock()
				delete(tr.arriving, i)
				tr.land(i, verified)
				tr.mu.Unlock()
			}
			if err == nil && a == nil {
				err = errors.New("the copy was not an arrival")
			}
			done <- err
		}()
		return pw, done
	}
	block := func(i, k int) []byte {
		off, _ := l.Bounds(i)
		return blob[off+int64(k*bs) : off+int64((k+1)*bs)]
	}
	readN := func(r io.Reader, n int) []byte {
		t.Helper()
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Piece 1 passes on block by block.
	pw, done := take(1)
	if resp := ask(1); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("piece 1 asked before it arrives: %s, want 404", resp.Status)
	}
	_, _ = pw.Write(block(1, 0))
	waitUntil(t, "piece 1's first block kept", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.arriving[1] != nil && tr.arriving[1].done == bs
	})
	resp := ask(1)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get(blocksHeader) != base64.StdEncoding.EncodeToString(lists[1]) {
		t.Fatalf("piece 1 on its way: %s, block list %q", resp.Status, resp.Header.Get(blocksHeader))
	}
	if got := readN(resp.Body, bs); !bytes.Equal(got, block(1, 0)) {
		t.Fatal("the first block passed on differs")
	}
	for k := 1; k < 16; k++ {
		_, _ = pw.Write(block(1, k))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	off, size := l.Bounds(1)
	if err != nil || !bytes.Equal(rest, blob[off+bs:off+size]) {
		t.Fatalf("the rest of piece 1: %d bytes, %v", len(rest), err)
	}

	// Piece 2's second block is corrupt: only the first is passed on.
	pw, done = take(2)
	_, _ = pw.Write(block(2, 0))
	waitUntil(t, "piece 2's first block kept", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.arriving[2] != nil && tr.arriving[2].done == bs
	})
	resp = ask(2)
	bad := bytes.Clone(block(2, 1))
	bad[100] ^= 1
	_, _ = pw.Write(bad)
	if err := <-done; !errors.As(err, new(errCorrupt)) {
		t.Fatalf("a corrupt block: %v", err)
	}
	lostAt := time.Now()
	got, err := io.ReadAll(resp.Body)
	if err == nil || !bytes.Equal(got, block(2, 0)) {
		t.Fatalf("piece 2 passed on: %d bytes (%v), want its first block and an early end", len(got), err)
	}
	if took := time.Since(lostAt); took > time.Second {
		t.Errorf("the answer ended %v after the arrival was lost, want at once (the asker goes to another peer)", took)
	}
	if resp := ask(2); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("piece 2 asked after its arrival was lost: %s, want 503", resp.Status)
	}

	// Piece 2 comes again, whole: it is served.
	pw, done = take(2)
	for k := range 16 {
		_, _ = pw.Write(block(2, k))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	resp = ask(2)
	off, size = l.Bounds(2)
	if got, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(got, blob[off:off+size]) {
		t.Fatalf("piece 2 once it came: %s, %d bytes, %v", resp.Status, len(got), err)
	}
	tr.mu.Lock()
	told := tr.log
	tr.mu.Unlock()
	if fmt.Sprint(told) != "[1 2]" {
		t.Errorf("pieces told %v, want [1 2]: each once, at its first block", told)
	}
}

// servedTransfer returns a transfer of blob d in f, laid out as l, with no
// piece held yet, and a server of its node's peer handler.
func servedTransfer(t *testing.T, d digest.Digest, f *os.File, l tracker.Layout) (*transfer, *httptest.Server) {
	n := &Node{
		opts:      Options{UploadSlots: 4, StallTimeout: 5 * time.Second}, // New's defaults
		log:       slog.New(slog.DiscardHandler),
		slots:     make(chan struct{}, 4),
		transfers: map[digest.Digest]*transfer{},
	}
	tr := &transfer{n: n, d: d, size: l.Size, file: f, changed: make(chan struct{}), logged: make(chan struct{}), neighbours: map[string]*neighbour{}}
	tr.setLayout(l)
	n.transfers[d] = tr
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	return tr, srv
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// A block list is made for one piece at most: a node holding a blob whole
// serves any range, but lists the blocks only of a range no longer than a
// piece may be, so a request cannot make it read and hash more than that.
// The list it makes for a range that is not one of its own pieces (a node
// that planned its own layout, asked by one that follows the swarm's) is
// the piece's.
func TestBlockListBounded(t *testing.T) {
	size := int64(tracker.MaxPieceSize + 16<<20)
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil { // sparse: zeros
		t.Fatal(err)
	}
	piece := make([]byte, 300<<10)
	_, _ = rand.Read(piece)
	const off = 5 << 20
	if _, err := f.WriteAt(piece, off); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("a blob held whole")
	tr, srv := servedTransfer(t, d, f, tracker.Layout{Size: size, PieceSize: 8 << 20, PieceBlocks: 4})
	tr.complete = true
	ask := func(from, to, bs int64) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+blobsPath+d.String(), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
		req.Header.Set(blockSizeHeader, strconv.FormatInt(bs, 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp
	}
	if resp := ask(0, size-1, 1<<20); resp.StatusCode != http.StatusBadRequest || resp.Header.Get(blocksHeader) != "" {
		t.Errorf("a block list of the whole %d-byte blob: %s, want 400 and no list", size, resp.Status)
	}
	resp := ask(off, off+int64(len(piece))-1, 100<<10)
	if want := base64.StdEncoding.EncodeToString(blockList(100<<10, piece)); resp.StatusCode != http.StatusPartialContent || resp.Header.Get(blocksHeader) != want {
		t.Errorf("a piece of another layout: %s, block list %q, want %q", resp.Status, resp.Header.Get(blocksHeader), want)
	}
}
