package tracker

import (
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Paths of the tracker's HTTP API.
const (
	StreamPath   = "/p2p/v1/stream"
	AnnouncePath = "/p2p/v1/announce"
)

// Event types, the Type of an Event.
const (
	// EventHello is the first line of every stream; it carries nothing.
	EventHello = "hello"
	// EventPeer says a member joined a swarm, or that it now holds the
	// blob whole (Peer.Complete). A member that joins is told of itself
	// first (its Peer.Seq), then of the others in the order they joined.
	EventPeer = "peer"
	// EventGone says a member left a swarm (Peer.ID).
	EventGone = "gone"
	// EventFetcher names the swarm's fetcher (Fetcher, Lease); an empty
	// Fetcher means the swarm needs none (a member holds the blob whole).
	EventFetcher = "fetcher"
	// EventLayout gives the blob's size and piece size.
	EventLayout = "layout"
	// EventPiece gives the hashes of pieces.
	EventPiece = "piece"
	// EventPing carries nothing: the tracker sends it on a stream that has
	// been idle for Options.PingInterval, so that a peer whose tracker
	// vanished without closing the connection notices (Client.IdleTimeout).
	EventPing = "ping"
)

// Peer is a member of a swarm.
type Peer struct {
	// ID names the peer; it is stable across the peer's restarts.
	ID string `json:"id"`
	// Addr is where the peer serves pieces (host:port).
	Addr string `json:"addr,omitempty"`
	// Complete is true once the peer holds the whole blob, verified.
	Complete bool `json:"complete,omitempty"`
	// Seq is the peer's place in the order the swarm's members joined:
	// the tracker counts each swarm's joins from 1, so that every member
	// sees the same order, and one that joins later comes after every
	// member it was told of. Leaves and the others are counted apart, so
	// that a member told of a gap in either count (a member that left)
	// knows whose place it was. 0 from a tracker that does not count.
	Seq uint64 `json:"seq,omitempty"`
	// Leaf is true for a peer that takes a small blob's trees as a leaf
	// only, passing on no stripe (its agent's --leaf): a node on a lesser
	// or busy link, which inside a tree would hold every node below it to
	// its pace. It holds for every swarm of the peer's stream.
	Leaf bool `json:"leaf,omitempty"`
}

// SeqKind is the count of joins a member's Peer.Seq is in, 0 or 1: the
// tracker counts leaves and the others apart.
func SeqKind(leaf bool) int {
	if leaf {
		return 1
	}
	return 0
}

// Layout is how a blob is cut into pieces: every piece is PieceSize bytes
// but the last, except that the first HeadPieces pieces may be smaller,
// HeadPieceSize bytes each, and so may the last TailPieces pieces,
// TailPieceSize bytes each (the last piece before them is then the one
// cut short). A swarm's start is an exponential fill, each round of
// copies as long as a piece takes on the wire: small pieces at the head
// let every node have something to give sooner, without the cost per
// piece of small pieces over the whole blob. Its end is the last pieces
// the fetcher streams, each sent to every other node from the one or few
// that have it: small pieces at the tail spread those last bytes over
// many nodes' uplinks.
type Layout struct {
	Size          int64 `json:"size"`
	PieceSize     int64 `json:"pieceSize"`
	HeadPieceSize int64 `json:"headPieceSize,omitempty"`
	HeadPieces    int   `json:"headPieces,omitempty"`
	TailPieceSize int64 `json:"tailPieceSize,omitempty"`
	TailPieces    int   `json:"tailPieces,omitempty"`
	// PieceBlocks, if set, cuts every piece into blocks, this many of the
	// same size but the last (BlockSize), and a piece's published hash is
	// then the SHA-256 of its blocks' SHA-256 digests, in order. A node
	// that serves such a piece sends the block digests ahead of its
	// bytes, so that its reader checks each block as it comes and may
	// pass it on at once, before the piece is whole. Zero: a piece's hash
	// is the SHA-256 of its bytes, checked once the piece is whole.
	PieceBlocks int `json:"pieceBlocks,omitempty"`
}

// BlockSize returns the size of the blocks of piece i (PieceBlocks): 0
// without blocks.
func (l Layout) BlockSize(i int) int64 {
	_, n := l.Bounds(i)
	return l.BlockSizeFor(n)
}

// BlockSizeFor returns the size of the blocks of a piece of n bytes: 0
// without blocks.
func (l Layout) BlockSizeFor(n int64) int64 {
	if l.PieceBlocks <= 0 {
		return 0
	}
	return max(1, (n+int64(l.PieceBlocks)-1)/int64(l.PieceBlocks))
}

// BlockCount returns the number of blocks of n bytes cut in blocks of bs
// bytes (the last may be shorter): 1 for an empty or uncut piece.
func BlockCount(n, bs int64) int {
	if bs <= 0 || n <= 0 {
		return 1
	}
	return int((n + bs - 1) / bs)
}

// smallest returns the size of the layout's smallest full piece.
func (l Layout) smallest() int64 {
	s := l.PieceSize
	if l.HeadPieces > 0 {
		s = min(s, l.HeadPieceSize)
	}
	if l.TailPieces > 0 {
		s = min(s, l.TailPieceSize)
	}
	return s
}

// head is the length of the head's pieces together.
func (l Layout) head() int64 {
	return int64(l.HeadPieces) * l.HeadPieceSize
}

// tail is the length of the tail's pieces together.
func (l Layout) tail() int64 {
	return int64(l.TailPieces) * l.TailPieceSize
}

// middle is the number of pieces between the head and the tail.
func (l Layout) middle() int {
	return int((l.Size - l.head() - l.tail() + l.PieceSize - 1) / l.PieceSize)
}

// Pieces returns the number of pieces of the blob.
func (l Layout) Pieces() int {
	if l.Size == 0 {
		return 1 // one empty piece: a zero-length blob is still verified
	}
	return l.HeadPieces + l.middle() + l.TailPieces
}

// Bounds returns the offset and length of piece i.
func (l Layout) Bounds(i int) (off, n int64) {
	if i < l.HeadPieces {
		return int64(i) * l.HeadPieceSize, l.HeadPieceSize
	}
	i -= l.HeadPieces
	if m := l.middle(); l.TailPieces > 0 && i >= m {
		return l.Size - l.tail() + int64(i-m)*l.TailPieceSize, l.TailPieceSize
	}
	off = l.head() + int64(i)*l.PieceSize
	return off, min(l.PieceSize, l.Size-l.tail()-off)
}

// Index returns the piece that holds byte off of the blob.
func (l Layout) Index(off int64) int {
	if t := l.Size - l.tail(); l.TailPieces > 0 && off >= t {
		return l.HeadPieces + l.middle() + int((off-t)/l.TailPieceSize)
	}
	if h := l.head(); off >= h {
		return l.HeadPieces + int((off-h)/l.PieceSize)
	}
	return int(off / l.HeadPieceSize)
}

// Limits of a layout the tracker accepts: pieces between MinPieceSize and
// MaxPieceSize bytes, and at most MaxPieces of them.
const (
	MinPieceSize = 16 << 10
	MaxPieceSize = 64 << 20
	MaxPieces    = 1 << 17
	// A layout's blocks (PieceBlocks) are at least MinBlockSize bytes in
	// its smallest full piece, and a piece has at most MaxBlocks of them.
	MinBlockSize = 4 << 10
	MaxBlocks    = 256
)

// Validate checks that l is a layout a peer may be asked to follow.
func (l Layout) Validate() error {
	switch {
	case l.Size < 0:
		return fmt.Errorf("layout: negative size %d", l.Size)
	case l.PieceSize < MinPieceSize || l.PieceSize > MaxPieceSize:
		return fmt.Errorf("layout: piece size %d out of [%d, %d]", l.PieceSize, MinPieceSize, MaxPieceSize)
	}
	if err := l.validEnd("head", l.HeadPieces, l.HeadPieceSize); err != nil {
		return err
	}
	if err := l.validEnd("tail", l.TailPieces, l.TailPieceSize); err != nil {
		return err
	}
	switch {
	case l.head()+l.tail() > l.Size:
		return fmt.Errorf("layout: head and tail of %d bytes longer than the blob's %d", l.head()+l.tail(), l.Size)
	case l.Pieces() > MaxPieces:
		return fmt.Errorf("layout: %d pieces, at most %d", l.Pieces(), MaxPieces)
	case l.PieceBlocks < 0 || l.PieceBlocks > MaxBlocks:
		return fmt.Errorf("layout: %d blocks a piece, out of [0, %d]", l.PieceBlocks, MaxBlocks)
	case l.PieceBlocks > 0 && l.BlockSizeFor(l.smallest()) < MinBlockSize:
		return fmt.Errorf("layout: blocks of %d bytes, at least %d", l.BlockSizeFor(l.smallest()), MinBlockSize)
	}
	return nil
}

// validEnd checks the head or the tail of a layout (which): n pieces of
// size bytes, smaller than the others, or none.
func (l Layout) validEnd(which string, n int, size int64) error {
	switch {
	case n < 0 || n > MaxPieces:
		return fmt.Errorf("layout: %d %s pieces out of [0, %d]", n, which, MaxPieces)
	case n == 0 && size != 0:
		return fmt.Errorf("layout: %s piece size %d for no %s pieces", which, size, which)
	case n > 0 && (size < MinPieceSize || size >= l.PieceSize):
		return fmt.Errorf("layout: %s piece size %d out of [%d, %d)", which, size, MinPieceSize, l.PieceSize)
	}
	return nil
}

// PieceHash is the hash of one piece of a blob.
type PieceHash struct {
	Index int           `json:"index"`
	Hash  digest.Digest `json:"hash"`
}

// Event is one line of a peer's stream: a change in one swarm.
type Event struct {
	Type   string        `json:"type"`
	Digest digest.Digest `json:"digest,omitempty"`
	// Peer is set for EventPeer and EventGone.
	Peer *Peer `json:"peer,omitempty"`
	// Fetcher and Lease are set for EventFetcher.
	Fetcher string `json:"fetcher,omitempty"`
	Lease   uint64 `json:"lease,omitempty"`
	// Layout is set for EventLayout.
	Layout *Layout `json:"layout,omitempty"`
	// Pieces is set for EventPiece: hashes published, in any order.
	Pieces []PieceHash `json:"pieces,omitempty"`
}

// Join asks the tracker for a place in a blob's swarm.
type Join struct {
	Digest digest.Digest `json:"digest"`
	// Complete says the peer holds the blob whole; it then gives the
	// blob's Layout and all its piece hashes, which the tracker takes if
	// the swarm has none (after the tracker restarted, say).
	Complete bool        `json:"complete,omitempty"`
	Layout   *Layout     `json:"layout,omitempty"`
	Pieces   []PieceHash `json:"pieces,omitempty"`
}

// Publish is what a fetcher learnt from the origin: the layout of the blob
// and the hashes of the pieces that landed. It is taken only under the
// swarm's current lease.
type Publish struct {
	Digest digest.Digest `json:"digest"`
	Lease  uint64        `json:"lease"`
	Layout *Layout       `json:"layout,omitempty"`
	Pieces []PieceHash   `json:"pieces,omitempty"`
}

// Announce is what one POST tells the tracker: the swarms a peer joins,
// leaves and completes, and what it publishes as a fetcher. The peer must
// have its stream open.
type Announce struct {
	Peer     string          `json:"peer"`
	Join     []Join          `json:"join,omitempty"`
	Leave    []digest.Digest `json:"leave,omitempty"`
	Complete []digest.Digest `json:"complete,omitempty"`
	Publish  []Publish       `json:"publish,omitempty"`
}
