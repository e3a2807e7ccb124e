package tracker_test

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
)

// bounds is a piece a layout is to cut: its index, offset and length.
type bounds struct {
	i         int
	off, size int64
}

// checkLayout checks that l is valid, cut in pieces pieces, and that
// Bounds and Index agree with want.
func checkLayout(t *testing.T, l tracker.Layout, pieces int, want []bounds) {
	t.Helper()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := l.Pieces(); got != pieces {
		t.Fatalf("%+v: %d pieces, want %d", l, got, pieces)
	}
	for _, w := range want {
		off, size := l.Bounds(w.i)
		if off != w.off || size != w.size {
			t.Errorf("%+v: Bounds(%d) = %d, %d; want %d, %d", l, w.i, off, size, w.off, w.size)
		}
		if i, j := l.Index(off), l.Index(off+size-1); i != w.i || j != w.i {
			t.Errorf("%+v: Index(%d) = %d, Index(%d) = %d; want %d", l, off, i, off+size-1, j, w.i)
		}
	}
}

// A layout with a head cuts the blob into its small pieces, then its
// large ones, the last cut short.
func TestLayoutHead(t *testing.T) {
	checkLayout(t, tracker.Layout{Size: 10<<20 + 5, PieceSize: 1 << 20, HeadPieceSize: 64 << 10, HeadPieces: 32}, 32+9, []bounds{
		{0, 0, 64 << 10},
		{31, 31 << 16, 64 << 10},
		{32, 2 << 20, 1 << 20},
		{40, 10 << 20, 5},
	})
}

// A layout with a tail cuts the blob into its large pieces, the last of
// them cut short, then its small ones to the blob's last byte.
func TestLayoutTail(t *testing.T) {
	tail := int64(1<<20 + 5 - 256<<10)
	checkLayout(t, tracker.Layout{Size: 1<<20 + 5, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: 16}, 13+16, []bounds{
		{0, 0, 64 << 10},
		{11, 11 << 16, 64 << 10},
		{12, 12 << 16, 5},
		{13, tail, 16 << 10},
		{28, tail + 15<<14, 16 << 10},
	})
	// A head and a tail with nothing between them.
	checkLayout(t, tracker.Layout{Size: 1 << 20, PieceSize: 256 << 10, HeadPieceSize: 64 << 10, HeadPieces: 12, TailPieceSize: 16 << 10, TailPieces: 16}, 12+16, []bounds{
		{11, 11 << 16, 64 << 10},
		{12, 12 << 16, 16 << 10},
		{27, 1<<20 - 16<<10, 16 << 10},
	})
}

// Layouts a peer could be sent, and why each is refused.
func TestLayoutValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    tracker.Layout
		ok   bool
	}{
		{"no head", tracker.Layout{Size: 3 << 20, PieceSize: 1 << 20}, true},
		{"head to the end", tracker.Layout{Size: 1 << 20, PieceSize: 1 << 20, HeadPieceSize: 64 << 10, HeadPieces: 16}, true},
		{"empty blob", tracker.Layout{Size: 0, PieceSize: 64 << 10}, true},
		{"head past the end", tracker.Layout{Size: 1 << 20, PieceSize: 1 << 20, HeadPieceSize: 64 << 10, HeadPieces: 17}, false},
		{"head pieces as large", tracker.Layout{Size: 4 << 20, PieceSize: 1 << 20, HeadPieceSize: 1 << 20, HeadPieces: 1}, false},
		{"head pieces too small", tracker.Layout{Size: 4 << 20, PieceSize: 1 << 20, HeadPieceSize: 4 << 10, HeadPieces: 1}, false},
		{"head size alone", tracker.Layout{Size: 4 << 20, PieceSize: 1 << 20, HeadPieceSize: 64 << 10}, false},
		{"negative head", tracker.Layout{Size: 4 << 20, PieceSize: 1 << 20, HeadPieceSize: 64 << 10, HeadPieces: -1}, false},
		{"head overflows", tracker.Layout{Size: 1 << 40, PieceSize: 1 << 20, HeadPieceSize: 1 << 19, HeadPieces: 1 << 30}, false},
		{"too many pieces", tracker.Layout{Size: 1 << 40, PieceSize: 64 << 10}, false},
		{"blocks", tracker.Layout{Size: 64 << 20, PieceSize: 256 << 10, HeadPieceSize: 64 << 10, HeadPieces: 64, PieceBlocks: 4}, true},
		{"blocks too small in a head piece", tracker.Layout{Size: 64 << 20, PieceSize: 256 << 10, HeadPieceSize: 64 << 10, HeadPieces: 64, PieceBlocks: 32}, false},
		{"too many blocks a piece", tracker.Layout{Size: 64 << 20, PieceSize: 8 << 20, PieceBlocks: tracker.MaxBlocks + 1}, false},
		{"negative blocks", tracker.Layout{Size: 4 << 20, PieceSize: 256 << 10, PieceBlocks: -4}, false},
		{"tail", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: 16, PieceBlocks: 4}, true},
		{"tail from the start", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: 64}, true},
		{"tail past the start", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: 65}, false},
		{"head and tail overlap", tracker.Layout{Size: 1 << 20, PieceSize: 256 << 10, HeadPieceSize: 64 << 10, HeadPieces: 13, TailPieceSize: 16 << 10, TailPieces: 16}, false},
		{"tail pieces as large", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 64 << 10, TailPieces: 1}, false},
		{"tail pieces too small", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 4 << 10, TailPieces: 4}, false},
		{"tail size alone", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10}, false},
		{"negative tail", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: -1}, false},
		{"tail overflows", tracker.Layout{Size: 1 << 40, PieceSize: 1 << 20, TailPieceSize: 1 << 19, TailPieces: 1 << 30}, false},
		{"blocks too small in a tail piece", tracker.Layout{Size: 1 << 20, PieceSize: 64 << 10, TailPieceSize: 16 << 10, TailPieces: 16, PieceBlocks: 8}, false},
	} {
		if err := tc.l.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

// FuzzLayout checks that a layout Validate takes cuts the blob into
// pieces that follow each other from its first byte to its last, each
// within the limits, and that Index finds each piece from its bytes.
func FuzzLayout(f *testing.F) {
	f.Add(int64(10<<20+5), int64(1<<20), int64(64<<10), 32, int64(0), 0, 4)
	f.Add(int64(3<<20), int64(1<<20), int64(0), 0, int64(0), 0, 0)
	f.Add(int64(0), int64(64<<10), int64(0), 0, int64(0), 0, 16)
	f.Add(int64(1<<20+5), int64(64<<10), int64(0), 0, int64(16<<10), 16, 4)
	f.Add(int64(1<<20), int64(256<<10), int64(64<<10), 12, int64(16<<10), 16, 4)
	f.Fuzz(func(t *testing.T, size, pieceSize, headPieceSize int64, headPieces int, tailPieceSize int64, tailPieces, pieceBlocks int) {
		l := tracker.Layout{Size: size, PieceSize: pieceSize, HeadPieceSize: headPieceSize, HeadPieces: headPieces, TailPieceSize: tailPieceSize, TailPieces: tailPieces, PieceBlocks: pieceBlocks}
		if l.Validate() != nil {
			return
		}
		var next int64
		for i := range l.Pieces() {
			off, n := l.Bounds(i)
			if off != next || n < 0 || n > l.PieceSize || (n == 0 && size != 0) {
				t.Fatalf("%+v: piece %d at %d, %d bytes; want it at %d", l, i, off, n, next)
			}
			if n > 0 && (l.Index(off) != i || l.Index(off+n-1) != i) {
				t.Fatalf("%+v: Index of piece %d's bytes is %d and %d", l, i, l.Index(off), l.Index(off+n-1))
			}
			if bs := l.BlockSize(i); pieceBlocks > 0 && (bs < 1 || tracker.BlockCount(n, bs) > pieceBlocks || int64(tracker.BlockCount(n, bs))*bs < n) {
				t.Fatalf("%+v: piece %d of %d bytes in %d blocks of %d", l, i, n, tracker.BlockCount(n, bs), bs)
			}
			next = off + n
		}
		if next != size {
			t.Fatalf("%+v: pieces end at %d", l, next)
		}
	})
}
