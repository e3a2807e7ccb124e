package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// FuzzParseRange checks that the Range parser of the peer API never
// accepts a range that is empty or starts before 0.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=5-10", "bytes=-5", "bytes=10-5", "bytes=0-", "bytes=9223372036854775807-9223372036854775807", "items=0-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		off, end, ok := parseRange(s)
		if ok && (off < 0 || end < off) {
			t.Fatalf("parseRange(%q) = %d, %d, true", s, off, end)
		}
	})
}

// FuzzParseStripe checks that the stripe parser of the peer API
// (stripeHeader) accepts only a stripe that starts at a piece, steps
// forward and names a piece size, and reads back what stripeAsk writes.
func FuzzParseStripe(f *testing.F) {
	for _, s := range []string{"0/2/32768", "31/2/65536", "4/0/1", "-1/2/3", "1/2", "1/2/3/4", "a/b/c", "9223372036854775807/1/1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, step, size, ok := parseStripe(s)
		if !ok {
			return
		}
		if first < 0 || step < 1 || size < 1 {
			t.Fatalf("parseStripe(%q) = %d, %d, %d, true", s, first, step, size)
		}
		if a, b, c, ok := parseStripe(stripeAsk(first, step, size)); !ok || a != first || b != step || c != size {
			t.Fatalf("parseStripe(stripeAsk(%d, %d, %d)) = %d, %d, %d, %v", first, step, size, a, b, c, ok)
		}
	})
}

// FuzzHave feeds have-stream lines from a hostile neighbour to a transfer:
// the availability counts stay those of the pieces the neighbour holds.
func FuzzHave(f *testing.F) {
	for _, s := range []string{`{"pieces":[0,1,2]}`, `{"complete":true}`, `{"pieces":[-1,99,3]}`, `{"pieces":[1,1,1]}`, `[]`, `{`, `{"pieces":[0],"complete":true}`} {
		f.Add([]byte(s), []byte(`{"pieces":[2]}`))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		n := &Node{}
		tr := &transfer{n: n, changed: make(chan struct{}), neighbours: map[string]*neighbour{}}
		tr.setLayout(tracker.Layout{Size: 8 << 20, PieceSize: 1 << 20})
		_, stop := context.WithCancel(context.Background())
		nb := &neighbour{id: "x", has: make([]bool, 8), refused: make([]bool, 8), stop: stop, requesting: map[int]time.Time{}}
		tr.neighbours["x"] = nb
		tr.have(nb, first)
		tr.have(nb, second)
		for i, a := range tr.avail {
			want := uint16(0)
			if nb.has[i] || nb.complete {
				want = 1
			}
			if a != want {
				t.Fatalf("piece %d: availability %d, neighbour holds it: %v", i, a, nb.has[i] || nb.complete)
			}
		}
		tr.dropLocked(nb)
		for i, a := range tr.avail {
			if a != 0 {
				t.Fatalf("piece %d: availability %d after the neighbour was dropped", i, a)
			}
		}
	})
}

// FuzzBlockHeaders feeds a peer's block list and a requester's block size
// to their parsers: a list is taken only if it hashes to the published
// hash and holds one digest a block, and a block size only within the
// layouts' limits.
func FuzzBlockHeaders(f *testing.F) {
	l := tracker.Layout{Size: 1 << 20, PieceSize: 256 << 10, PieceBlocks: 4}
	piece := make([]byte, 256<<10)
	want, list := pieceHash(l, piece)
	f.Add(base64.StdEncoding.EncodeToString(list), "65536", int64(256<<10))
	f.Add("", "", int64(0))
	f.Add("AAAA", "4096", int64(1<<20))
	f.Add("!!", "-1", int64(64<<10))
	f.Add(base64.StdEncoding.EncodeToString(list[:32]), "9223372036854775807", int64(1))
	f.Fuzz(func(t *testing.T, h, size string, n int64) {
		if got, err := readBlockList(h, l, 0, want); err == nil && (len(got) != l.PieceBlocks*sha256.Size || digest.FromBytes(got) != want) {
			t.Fatalf("readBlockList(%q) took a list of %d bytes", h, len(got))
		} else if err != nil && !errors.As(err, new(errCorrupt)) {
			t.Fatalf("readBlockList(%q): %v, not a corrupt piece", h, err)
		}
		if n < 1 || n > tracker.MaxPieceSize {
			return
		}
		bs, err := blockSizeOf(size, n)
		if err == nil && bs != 0 && (bs < 1 || tracker.BlockCount(n, bs) > tracker.MaxBlocks) {
			t.Fatalf("blockSizeOf(%q, %d) = %d", size, n, bs)
		}
	})
}
