package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// Blocks (tracker.Layout.BlockSize) let a piece move on while it arrives.
// A node that serves a piece sends its block list ahead of its bytes, in
// the blocksHeader of the answer: the SHA-256 digests of its blocks,
// back to back, in base64. The piece's published hash is the SHA-256 of
// that list, so the reader checks the list first, then each block as it
// comes; it keeps and serves a block only once it matched. A node taking
// a piece tells its neighbours of it at its first block, and serves it to
// them as its blocks come (cut-through below the piece).
const blocksHeader = "Gantry-Blocks"

// blockList returns the block list of piece for blocks of bs bytes: nil
// if bs is 0.
func blockList(bs int64, piece []byte) []byte {
	if bs == 0 {
		return nil
	}
	list := make([]byte, 0, sha256.Size*tracker.BlockCount(int64(len(piece)), bs))
	for b := piece; ; {
		n := min(int64(len(b)), bs)
		sum := sha256.Sum256(b[:n])
		list = append(list, sum[:]...)
		if b = b[n:]; len(b) == 0 {
			return list
		}
	}
}

// blockListFrom returns the block list of the size bytes of r, for blocks
// of bs bytes, reading them a little at a time.
func blockListFrom(r io.Reader, size, bs int64) ([]byte, error) {
	list := make([]byte, 0, sha256.Size*tracker.BlockCount(size, bs))
	h := sha256.New()
	for o := int64(0); ; {
		n := min(bs, size-o)
		h.Reset()
		if _, err := io.CopyN(h, r, n); err != nil {
			return nil, err
		}
		list = h.Sum(list)
		if o += n; o >= size {
			return list, nil
		}
	}
}

// pieceHash returns the hash the fetcher publishes for piece, a piece of
// layout l, and its block list (nil without blocks).
func pieceHash(l tracker.Layout, piece []byte) (digest.Digest, []byte) {
	list := blockList(l.BlockSizeFor(int64(len(piece))), piece)
	if list == nil {
		return digest.FromBytes(piece), nil
	}
	return digest.FromBytes(list), list
}

// readBlockList parses the block list of a blocksHeader for piece i of l,
// and checks it against the piece's published hash want
// (checkBlockList). Any fault is errCorrupt: a peer asked for the list
// that sends none, or a wrong one, is banned as one that sends a corrupt
// piece is.
func readBlockList(h string, l tracker.Layout, i int, want digest.Digest) ([]byte, error) {
	if len(h) > base64.StdEncoding.EncodedLen(tracker.MaxBlocks*sha256.Size) {
		return nil, errCorrupt{piece: i, why: fmt.Sprintf("a block list of %d bytes", len(h))}
	}
	list, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil, errCorrupt{piece: i, why: "block list: " + err.Error()}
	}
	if err := checkBlockList(list, l, i, want); err != nil {
		return nil, err
	}
	return list, nil
}

// listSize is the size of the block list of piece i of l: 0 if the layout
// has no blocks.
func listSize(l tracker.Layout, i int) int64 {
	bs := l.BlockSize(i)
	if bs == 0 {
		return 0
	}
	_, n := l.Bounds(i)
	return int64(tracker.BlockCount(n, bs) * sha256.Size)
}

// checkBlockList checks list, the block list a peer sent for piece i of
// l, against the piece's published hash want.
func checkBlockList(list []byte, l tracker.Layout, i int, want digest.Digest) error {
	if n := listSize(l, i); int64(len(list)) != n {
		return errCorrupt{piece: i, why: fmt.Sprintf("a block list of %d bytes, want %d digests", len(list), n/sha256.Size)}
	}
	if digest.FromBytes(list) != want {
		return errCorrupt{piece: i, why: "the block list does not match the published hash"}
	}
	return nil
}

// blockOK reports whether b is block k of the block list list.
func blockOK(list []byte, k int, b []byte) bool {
	sum := sha256.Sum256(b)
	return bytes.Equal(sum[:], list[k*sha256.Size:(k+1)*sha256.Size])
}

// blockSizeHeader, on a piece request, asks for the piece's block list
// (blocksHeader) for blocks of this many bytes.
const blockSizeHeader = "Gantry-Block-Size"

// blockSizeOf parses the blockSizeHeader of a request for size bytes: 0
// if there is none. A block list is for one piece: at most
// tracker.MaxPieceSize bytes in at most tracker.MaxBlocks blocks, which
// bounds what a request makes its node read and hash.
func blockSizeOf(h string, size int64) (int64, error) {
	if h == "" {
		return 0, nil
	}
	bs, err := strconv.ParseInt(h, 10, 64)
	if err != nil || bs < 1 || bs > tracker.MaxPieceSize || size > tracker.MaxPieceSize || tracker.BlockCount(size, bs) > tracker.MaxBlocks {
		return 0, fmt.Errorf("a block size of %q for %d bytes: block lists are for a piece of at most %d bytes in at most %d blocks", h, size, int64(tracker.MaxPieceSize), tracker.MaxBlocks)
	}
	return bs, nil
}

// arrival is a piece on its way from a neighbour whose blocks are kept as
// they match, and served on as they are kept. The transfer's lock
// guards done.
type arrival struct {
	list []byte // its block list, checked against its published hash
	done int64  // bytes kept so far, from its first
}

// takeBlocks reads piece i of layout l into buf from src, a neighbour's
// answer that came with the block list list (checked against the piece's
// hash), checking each block against the list. Unless the piece is held
// or on its way in another copy, the copy is an arrival (returned): each
// block is kept as it matches, and the piece is told to the neighbours at
// its first. The caller ends the arrival as the piece lands; if it fails,
// takeBlocks ends it.
func (t *transfer) takeBlocks(nb *neighbour, l tracker.Layout, i int, list, buf []byte, src io.Reader) (*arrival, error) {
	off, size := l.Bounds(i)
	bs := l.BlockSize(i)
	t.mu.Lock()
	var a *arrival
	if t.state[i] == missing && t.arriving[i] == nil {
		a = &arrival{list: list}
		if t.arriving == nil {
			t.arriving = map[int]*arrival{}
		}
		t.arriving[i] = a
	}
	t.mu.Unlock()
	fail := func(err error) (*arrival, error) {
		if a != nil {
			t.mu.Lock()
			if t.arriving[i] == a {
				delete(t.arriving, i)
				t.grow()
			}
			t.mu.Unlock()
		}
		return nil, err
	}
	for k, o := 0, int64(0); o < size; k++ {
		b := buf[o:min(o+bs, size)]
		if _, err := io.ReadFull(src, b); err != nil {
			return fail(fmt.Errorf("piece %d: %w: %w", i, errCut, err))
		}
		if !blockOK(list, k, b) {
			return fail(errCorrupt{piece: i, why: fmt.Sprintf("block %d does not match its digest", k)})
		}
		o += int64(len(b))
		if a == nil {
			continue
		}
		if _, err := t.file.WriteAt(b, off+o-int64(len(b))); err != nil {
			return fail(err)
		}
		t.mu.Lock()
		a.done = o
		if k == 0 && t.state[i] == missing && !t.told[i] {
			if t.told == nil {
				t.told = map[int]bool{}
			}
			t.told[i] = true
			t.log = append(t.log, i) // the have streams tell it
			t.signal()
		}
		t.grow()
		t.mu.Unlock()
	}
	t.keepList(i, list)
	return a, nil
}

// grow wakes the answers that pass arrivals on (serveArriving). t.mu is
// held.
func (t *transfer) grow() {
	if t.grew != nil {
		close(t.grew)
	}
	t.grew = make(chan struct{})
}

// serveArriving writes the arrival a, piece i at off, size bytes, to w as
// its blocks are kept, and returns the bytes written. The answer ends
// early if the arrival is lost before the piece landed; unless again,
// for a child's stripe, where it is waited for again, for treeHold
// (holdForChild), and the answer goes on where it was: the piece's bytes
// are the same from any peer, each block checked against its published
// hash. (Ended there, the answer cut each child below a dead node's
// child off in turn, and they left the trees. A request for the piece
// alone is better asked of another peer at once.)
func (t *transfer) serveArriving(ctx context.Context, w http.ResponseWriter, i int, a *arrival, off, size int64, again bool) int64 {
	rc := http.NewResponseController(w)
	var sent int64
	for sent < size {
		t.mu.Lock()
		avail, lost := a.done, t.arriving[i] != a
		if t.state[i] == verified || t.complete {
			avail, lost = size, false
		}
		if t.grew == nil {
			t.grow()
		}
		grew := t.grew
		t.mu.Unlock()
		if lost {
			if !again || !t.holdForChild(ctx, i) {
				return sent
			}
			t.mu.Lock()
			if next := t.arriving[i]; next != nil {
				a = next
			}
			t.mu.Unlock()
			continue
		}
		if avail <= sent {
			select {
			case <-grew:
				continue
			case <-ctx.Done():
				return sent
			}
		}
		n, err := io.Copy(w, limit(ctx, io.NewSectionReader(t.file, off+sent, avail-sent), t.n.upRate))
		sent += n
		if err != nil || rc.Flush() != nil {
			return sent
		}
	}
	return sent
}

// blockListOf returns the block list, for blocks of bs bytes, of the size
// bytes at off, which the node holds: i is the piece of the layout those
// bytes are, or -1 if they are none (a layout, once set, keeps its
// bounds). A piece's list is kept from when it landed if its blocks are
// the layout's; any other is read and hashed now.
func (t *transfer) blockListOf(i int, off, size, bs int64) ([]byte, error) {
	t.mu.Lock()
	ours := i >= 0 && bs == t.layout.BlockSize(i)
	list := t.lists[i]
	t.mu.Unlock()
	if ours && list != nil {
		return list, nil
	}
	list, err := blockListFrom(io.NewSectionReader(t.file, off, size), size, bs)
	if err != nil {
		return nil, err
	}
	if ours {
		t.keepList(i, list)
	}
	return list, nil
}

// keepList keeps the block list of piece i, which the node holds.
func (t *transfer) keepList(i int, list []byte) {
	if list == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lists == nil {
		t.lists = map[int][]byte{}
	}
	t.lists[i] = list
}
