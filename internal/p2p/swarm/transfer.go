package swarm

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// Piece sizes a node chooses from (PieceSize).
const (
	minPieceSize = 256 << 10
	maxPieceSize = 8 << 20
)

// minPieces is the least number of pieces PieceSize aims at, whatever the
// swarm's size: the fetcher chooses the layout as it joins, before the
// rest of a cold herd has, so the swarm it sees is often itself alone.
const minPieces = 512

// PieceSize is the piece size for a blob of size bytes in a swarm of
// peers: about 4 pieces a peer (so that each has something to give early),
// at least minPieces, a power of two between 256 KiB and 8 MiB.
func PieceSize(size int64, peers int) int64 {
	want := size / int64(max(4*peers, minPieces))
	p := int64(minPieceSize)
	for p < want && p < maxPieceSize {
		p *= 2
	}
	return p
}

// A layout begins with headPieces pieces headCut times smaller than the
// rest (tracker.Layout), if they take at most a quarter of the blob. A
// blob of at most tailBlobs bytes ends with a tail of pieces tailCut times
// smaller than the rest, tailBytes of them at most and a quarter of the
// blob, if that makes at least tailCut pieces.
const (
	headPieces = 64
	headCut    = 4
	tailBlobs  = 2 << 20
	tailBytes  = 256 << 10
	tailCut    = 4
)

// ChooseLayout cuts a blob of size bytes for a swarm of peers: pieces of
// PieceSize, after a head of smaller ones. At 32 nodes on 10 Mbit/s, 64
// KiB pieces for the first 4 MiB of a 64 MiB blob brought each node's
// first byte in 0.5 s instead of 2 s, and kept the nodes about 1 MiB
// nearer the fetcher's stream; 64 KiB or 128 KiB pieces over the whole
// blob cost more in requests and CPU than they gained. A blob too small
// for a head (under 16 MiB) is all head: pieces of a quarter of
// PieceSize (64 KiB), at most 256 of them. At 32 nodes, 16 pieces of 64
// KiB took a 1 MiB blob to the median node 20% sooner than 4 of 256 KiB,
// which kept the nodes waiting on each other's upload slots; so did a 4
// MiB.
//
// A blob of up to 2 MiB ends with a tail of 16 KiB pieces over its last
// 256 KiB, or over its last quarter if that is less. A node's pull ends
// with the last pieces the fetcher streams, each of which its first
// holder sends to every node that asks: with 64 KiB pieces at 8 nodes on
// 10 Mbit/s, the last took 0.3 s to reach them all after the fetcher had
// it. The tail brought a 1 MiB blob to the median node 12% sooner at 8
// nodes, 7% at 16, and 11% at 32 on 2 Mbit/s, and a 2 MiB blob 9% sooner
// at 8 nodes (BENCHMARKS.md). What it saves is about one piece's spread,
// the same time whatever the blob's size: at 4 MiB it saved 2% at 8 nodes
// and nothing at 32 on 2 Mbit/s, for 8-15% more CPU. 16 KiB pieces all
// through did a little better than the tail at 8 nodes, but cost half as
// much CPU again. (Those figures are of the swarm's requests: a blob that
// goes down trees, every blob of up to 64 MiB by default, is cut by
// treeLayout instead.)
func ChooseLayout(size int64, peers int) tracker.Layout {
	l := tracker.Layout{Size: size, PieceSize: PieceSize(size, peers)}
	hs := l.PieceSize / headCut
	if 4*headPieces*hs <= size {
		l.HeadPieceSize, l.HeadPieces = hs, headPieces
	} else {
		l.PieceSize = hs
		ts := hs / tailCut // minPieceSize/headCut/tailCut is tracker.MinPieceSize
		if n := min(tailBytes, size/4) / ts; size <= tailBlobs && n >= tailCut {
			l.TailPieceSize, l.TailPieces = ts, int(n)
		}
	}
	l.PieceBlocks = pieceBlocks
	return l
}

// pieceBlocks is how many blocks (tracker.Layout.PieceBlocks) a piece is
// cut into: a piece passes on at every hop once its first block came, not
// once all of it did. (BENCHMARKS.md, the fifteenth session: at 64 MiB and
// 32 nodes the median node ended 0.117 of S/B after the fetcher, against
// 0.128 with whole pieces; smaller blocks were no faster.)
const pieceBlocks = 4

// pieceState is what a node knows of one piece.
type pieceState uint8

const (
	missing  pieceState = iota
	landed              // bytes from the origin, no published hash to check yet
	verified            // bytes that match the published hash
)

// transfer is the node's state for one blob: the pieces it holds, the
// swarm's members, its neighbours and its readers.
type transfer struct {
	n     *Node
	d     digest.Digest
	size  int64
	file  *os.File
	token string // names this transfer on the have streams (transferHeader)

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	logged   chan struct{} // closed and replaced when log, complete or failed change
	logSeen  int           // len(log) when logged was last closed
	logEnd   bool          // complete or failed, then
	layout   *tracker.Layout
	ownPlan  bool // layout chosen here, in a fallback without the swarm's
	liedTo   bool // the swarm's hashes did not make the blob: its own plan for good
	hashes   []digest.Digest
	state    []pieceState
	inflight []uint8
	// heard marks the hashes the tracker sent on the node's current
	// stream: with all of them, the tracker needs none from the node's
	// complete announce (finish).
	heard []bool
	// taking cancels the requests in flight for a piece, by neighbour:
	// once the piece lands the other copies on their way are dropped.
	taking  map[int]map[*neighbour]context.CancelFunc
	active  int      // piece requests out to neighbours
	extra   int      // those of them beyond Options.Requests, to the fetcher
	avail   []uint16 // neighbours holding each piece, for rarest first
	nLanded int
	log     []int // verified pieces in the order they were verified, and arrivals told
	// Pieces on their way from a neighbour whose blocks are kept as they
	// come (blocks.go), those of them told to the neighbours before they
	// were verified, the block lists of pieces held, and a channel closed
	// and replaced as an arrival grows.
	arriving map[int]*arrival
	told     map[int]bool
	lists    map[int][]byte
	grew     chan struct{}
	seed     *seeding // non-nil while the fetcher's origin stream runs (seed.go)
	seedSeen int      // 1+len(seed.log) when logged was last closed, 0 without
	trees    trees    // its place in a small blob's trees (tree.go)

	members    map[string]tracker.Peer
	neighbours map[string]*neighbour
	away       map[string]away // peers dropped, not taken again until then
	picked     time.Time       // when pickNeighbours last looked at the members
	followers  []string        // peers that began to read the node's have stream, for pickNeighbours
	watchers   map[string]int  // have streams of the node open, by named peer
	fetcher    string
	lease      uint64
	seq        uint64             // the node's tracker.Peer.Seq in the swarm
	leaf       bool               // the node's tracker.Peer.Leaf there
	originStop context.CancelFunc // non-nil while the origin is streaming
	asFetcher  bool               // the origin run is the fetcher's
	fetchLease uint64             // the lease the fetcher's origin stream publishes under, while it runs
	origin     Origin
	retryAt    time.Time // no origin stream before, after one failed
	progress   time.Time
	checking   bool // the whole blob's digest matched; it is being kept
	verified   bool // the whole blob matched its digest
	gen        int  // counts the times the whole blob failed its digest
	complete   bool
	failed     error

	bytesAt     atomic.Int64 // when a byte last came from a neighbour (unix ns)
	readers     int          // readers open
	used        time.Time    // when a reader last asked for the blob
	originBytes int64        // bytes of the blob from the origin
	peerBytes   int64        // bytes of the blob from peers
	fellBack    bool         // the origin was asked because the swarm stalled
}

// trace logs, at debug level, a step of a piece's way through the node
// (the seeding's offers, the hashes as they come, the pieces as they
// land), for following a swarm's pieces in its nodes' logs.
func (t *transfer) trace(msg string, args ...any) {
	if t.n.debug {
		t.n.log.Debug(msg, append([]any{"digest", t.d.Encoded()[:12]}, args...)...)
	}
}

func (t *transfer) lastUsed() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// errEvicted ends the readers and have streams of a blob dropped from the
// cache.
var errEvicted = errors.New("blob dropped from the cache")

// drop forgets the blob: it is removed from disk and its have streams end.
// The node's lock is held.
func (t *transfer) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = errEvicted
	t.signal()
	_ = t.file.Close()
	_ = os.Remove(t.n.blobPath(t.d))
	_ = os.Remove(t.n.metaPath(t.d))
}

func (n *Node) newTransfer(d digest.Digest, size int64) (*transfer, error) {
	f, err := os.OpenFile(n.partialPath(d), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("swarm: blob %s: %w", d, err)
	}
	return &transfer{
		n: n, d: d, size: size, file: f, token: rand.Text(),
		changed:    make(chan struct{}),
		logged:     make(chan struct{}),
		members:    map[string]tracker.Peer{},
		neighbours: map[string]*neighbour{},
		progress:   time.Now(),
	}, nil
}

// completeTransfer is the transfer of a blob held whole from an earlier run.
func (n *Node) completeTransfer(d digest.Digest, m meta) (*transfer, error) {
	f, err := os.Open(n.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("swarm: blob %s: %w", d, err)
	}
	t := &transfer{
		n: n, d: d, size: m.Size, file: f, token: rand.Text(),
		changed:    make(chan struct{}),
		logged:     make(chan struct{}),
		layout:     &m.Layout,
		members:    map[string]tracker.Peer{},
		neighbours: map[string]*neighbour{},
		complete:   true,
		verified:   true,
	}
	t.hashes = make([]digest.Digest, m.Layout.Pieces())
	t.heard = make([]bool, len(t.hashes))
	t.state = make([]pieceState, len(t.hashes))
	for _, p := range m.Hashes {
		t.hashes[p.Index] = p.Hash
	}
	for i := range t.state {
		t.state[i] = verified
		t.log = append(t.log, i)
	}
	t.nLanded = len(t.state)
	return t, nil
}

// signal wakes whoever waits for a change, and the have streams if the
// pieces verified or the blob's end changed (most changes are neighbours'
// news and requests coming and going, which a have stream has nothing to
// say about). t.mu is held.
func (t *transfer) signal() {
	close(t.changed)
	t.changed = make(chan struct{})
	seedLen := 0
	if t.seed != nil {
		seedLen = 1 + len(t.seed.log)
	}
	if end := t.complete || t.failed != nil; len(t.log) != t.logSeen || end != t.logEnd || seedLen != t.seedSeen {
		t.logSeen, t.logEnd, t.seedSeen = len(t.log), end, seedLen
		close(t.logged)
		t.logged = make(chan struct{})
	}
}

// join is the transfer's join announce.
func (t *transfer) join() tracker.Join {
	t.mu.Lock()
	defer t.mu.Unlock()
	j := tracker.Join{Digest: t.d}
	if t.complete {
		j.Complete = true
		j.Layout = new(*t.layout)
		for i, h := range t.hashes {
			j.Pieces = append(j.Pieces, tracker.PieceHash{Index: i, Hash: h})
		}
	}
	return j
}

// republish is what the fetcher publishes again on a new tracker stream:
// while its origin stream runs, the layout and every piece hash it holds,
// under its lease (the publications made while no stream was open were
// dropped). Its lease stays its own across the reconnection; under a
// lease since lost, the tracker ignores it. Nil if it is not fetching.
func (t *transfer) republish() *tracker.Publish {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.originStop == nil || !t.asFetcher || t.fetchLease == 0 || t.layout == nil {
		return nil
	}
	p := &tracker.Publish{Digest: t.d, Lease: t.fetchLease, Layout: new(*t.layout)}
	for i, h := range t.hashes {
		if h != "" {
			p.Pieces = append(p.Pieces, tracker.PieceHash{Index: i, Hash: h})
		}
	}
	return p
}

func (t *transfer) isComplete() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.complete
}

func (t *transfer) setOrigin(o Origin) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o != nil {
		t.origin = o
	}
}

// trackerLost is called when the tracker stream ends: the swarm as it was
// known is forgotten until the node announces again.
func (t *transfer) trackerLost() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fetcher, t.lease = "", 0
	clear(t.heard)
	t.signal()
}

// setLayout takes l as the blob's layout. t.mu is held.
func (t *transfer) setLayout(l tracker.Layout) {
	t.layout = &l
	k := l.Pieces()
	t.hashes = make([]digest.Digest, k)
	t.heard = make([]bool, k)
	t.state = make([]pieceState, k)
	t.inflight = make([]uint8, k)
	t.avail = make([]uint16, k)
	for _, nb := range t.neighbours {
		nb.has = make([]bool, k)
		nb.refused = make([]bool, k)
	}
}

// event takes a tracker event about the transfer's swarm.
func (t *transfer) event(ev tracker.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	me := t.n.opts.ID
	switch ev.Type {
	case tracker.EventPeer:
		if ev.Peer != nil {
			k := tracker.SeqKind(ev.Peer.Leaf)
			t.trees.last[k] = max(t.trees.last[k], ev.Peer.Seq)
		}
		switch {
		case ev.Peer == nil:
		case ev.Peer.ID != me:
			t.members[ev.Peer.ID] = *ev.Peer
		default:
			t.seq, t.leaf = ev.Peer.Seq, ev.Peer.Leaf // the node's own place (tree.go)
		}
		t.trees.order = nil
	case tracker.EventGone:
		if ev.Peer != nil {
			delete(t.members, ev.Peer.ID)
			t.trees.order = nil
			if nb := t.neighbours[ev.Peer.ID]; nb != nil {
				t.dropLocked(nb)
			}
		}
	case tracker.EventFetcher:
		t.fetcher, t.lease = ev.Fetcher, ev.Lease
		if t.originStop != nil && t.asFetcher && ev.Fetcher != me {
			t.originStop() // the swarm needs this node's origin stream no more
		}
	case tracker.EventLayout:
		if ev.Layout == nil || ev.Layout.Validate() != nil || ev.Layout.Size != t.size {
			t.n.log.Warn("ignoring a layout that does not fit the blob", "digest", t.d)
			return
		}
		switch {
		case t.layout == nil:
			t.setLayout(*ev.Layout)
		case t.ownPlan && !t.liedTo && *ev.Layout == *t.layout:
			// This node fell back before the swarm had a layout, and the
			// swarm's is the same (ChooseLayout chose both): it joins the
			// swarm, leaving the origin for its neighbours. Its pieces from
			// the origin are checked as their hashes come.
			t.ownPlan = false
			if t.originStop != nil && !t.asFetcher {
				t.originStop()
			}
		}
	case tracker.EventPiece:
		if t.layout == nil || t.ownPlan {
			return
		}
		for _, p := range ev.Pieces {
			if p.Index < 0 || p.Index >= len(t.hashes) || t.hashes[p.Index] != "" && t.hashes[p.Index] != p.Hash {
				continue
			}
			t.heard[p.Index] = true
			if t.hashes[p.Index] != "" {
				continue
			}
			t.hashes[p.Index] = p.Hash
			t.trace("piece hash", "piece", p.Index)
			t.progress = time.Now() // the swarm moves
			if t.state[p.Index] == landed {
				i := p.Index
				t.n.spawn(func() { t.checkLanded(i) })
			}
		}
	}
	t.signal()
}

// checkLanded compares a piece that came from the origin before its hash
// was published with the hash.
func (t *transfer) checkLanded(i int) {
	t.mu.Lock()
	l := *t.layout
	off, size := l.Bounds(i)
	want := t.hashes[i]
	t.mu.Unlock()
	buf := make([]byte, size)
	if _, err := t.file.ReadAt(buf, off); err != nil {
		return
	}
	h, list := pieceHash(l, buf)
	ok := h == want
	if ok {
		t.keepList(i, list)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state[i] != landed {
		return
	}
	if ok {
		t.state[i] = verified
		t.logVerified(i)
	} else {
		t.n.log.Warn("the origin's bytes differ from the piece hash the swarm published", "digest", t.d, "piece", i)
		t.state[i] = missing
		t.nLanded--
	}
	t.signal()
}

// land records piece i, whose bytes are written: verified if they matched
// the published hash, landed if there was none to check. t.mu is held.
func (t *transfer) land(i int, st pieceState) {
	if t.state[i] != missing {
		if st == verified && t.state[i] == landed {
			t.state[i] = verified
			t.logVerified(i)
		}
		return
	}
	t.state[i] = st
	t.nLanded++
	if t.usesTrees() {
		t.stripeLanded(i)
	}
	t.trace("piece landed", "piece", i, "verified", st == verified)
	for _, cancel := range t.taking[i] {
		cancel() // a copy from another neighbour, no longer wanted
	}
	if st == verified {
		t.logVerified(i)
	}
	t.progress = time.Now()
	t.signal()
}

// logVerified adds piece i to the pieces verified. While the fetcher
// super-seeds, a piece its origin stream did not bring is told to every
// neighbour. t.mu is held.
func (t *transfer) logVerified(i int) {
	if t.told[i] {
		delete(t.told, i) // told as it arrived
		return
	}
	t.log = append(t.log, i)
	if t.seed != nil && !t.seed.pieces[i].own {
		t.seed.revealAll(i)
	}
}

// hash feeds the pieces to the whole blob's hash in order, as they land,
// so that the digest is known a piece's hash after the last piece lands
// (no second read of the blob at the end), then keeps the blob (finish).
// A blob that fails its digest has its unverified pieces fetched again
// and is hashed anew.
func (t *transfer) hash(ctx context.Context) {
	for {
		t.mu.Lock()
		for t.layout == nil && t.failed == nil && ctx.Err() == nil {
			t.wait(ctx)
		}
		if t.layout == nil || t.failed != nil || t.complete {
			t.mu.Unlock()
			return
		}
		l := *t.layout
		t.mu.Unlock()
		whole := sha256.New()
		own := make([]digest.Digest, l.Pieces())
		buf := make([]byte, l.PieceSize)
		for i := range own {
			t.mu.Lock()
			for t.state[i] == missing && t.failed == nil && ctx.Err() == nil {
				t.wait(ctx)
			}
			failed, known := t.failed != nil || ctx.Err() != nil, t.hashes[i] != ""
			t.mu.Unlock()
			if failed {
				return
			}
			off, size := l.Bounds(i)
			if _, err := t.file.ReadAt(buf[:size], off); err != nil {
				t.fail(err)
				return
			}
			whole.Write(buf[:size])
			if !known {
				own[i], _ = pieceHash(l, buf[:size]) // announced after a restart
			}
		}
		if t.finish(l, digest.NewDigest(digest.SHA256, whole), own) {
			return
		}
	}
}

// wait waits for a change of the transfer, or for ctx. t.mu is held, and
// is held again on return.
func (t *transfer) wait(ctx context.Context) {
	ch := t.changed
	t.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	t.mu.Lock()
}

// distrust forgets the swarm's layout, hashes and pieces, and has the
// origin stream the blob (manage starts it at once). t.mu is held.
func (t *transfer) distrust() {
	for _, nb := range t.neighbours {
		t.dropLocked(nb)
	}
	if t.originStop != nil {
		t.originStop()
	}
	l := *t.layout
	t.setLayout(l)
	t.ownPlan, t.liedTo = true, true
	t.nLanded = 0
	t.log = nil
	t.arriving, t.told, t.lists = nil, nil, nil
	t.progress = time.Time{} // stalled since ever: the origin now
	t.bytesAt.Store(0)
}

// fail ends the transfer for good.
func (t *transfer) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed == nil {
		t.failed = fmt.Errorf("swarm: blob %s: %w", t.d, err)
	}
	t.signal()
}

// finish takes the whole blob's digest once every piece landed. If it
// matches, the blob is one the node holds whole: it moves among the whole
// blobs, with the piece hashes (own holds those no hash was published
// for), and the tracker is told. If not, the pieces no published hash
// vouched for are fetched again, and finish returns false (hash starts
// over); with none such, the blob failed for good.
func (t *transfer) finish(l tracker.Layout, got digest.Digest, own []digest.Digest) bool {
	if got != t.d {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.gen++
		err := fmt.Errorf("swarm: blob %s: the pieces put together have digest %s", t.d, got)
		t.n.log.Warn("blob failed its final check; fetching again what no piece hash vouched for", "digest", t.d, "err", err)
		again := 0
		for i, st := range t.state {
			if st == landed {
				t.state[i] = missing
				t.nLanded--
				again++
			}
		}
		switch {
		case again > 0:
		case t.ownPlan:
			t.failed = err // the origin's own bytes do not match
		default:
			// Every piece matched a published hash, and the whole does not
			// match: the swarm's hashes are lies (a hostile peer's layout).
			// Take the blob from the origin alone, on this node's layout.
			t.n.log.Warn("the swarm's piece hashes do not make the blob; fetching it from the origin alone", "digest", t.d)
			t.distrust()
		}
		t.signal()
		return t.failed != nil
	}
	t.mu.Lock()
	t.verified, t.checking = true, true
	hashes := make([]digest.Digest, len(own))
	for i := range own {
		hashes[i] = cmp.Or(t.hashes[i], own[i])
	}
	t.signal() // readers waiting for the verdict before the last byte
	t.mu.Unlock()

	err := t.keep(l, hashes)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.checking = false
	if err != nil {
		t.failed = fmt.Errorf("swarm: blob %s: %w", t.d, err)
		t.signal()
		return true
	}
	t.complete = true
	copy(t.hashes, hashes)
	for i := range t.state {
		if t.state[i] != verified {
			t.state[i] = verified
			t.log = append(t.log, i)
		}
	}
	if t.originStop != nil {
		t.originStop()
	}
	for _, nb := range t.neighbours {
		t.dropLocked(nb)
	}
	t.signal()
	// Announced as a complete join, with the layout and every hash: a swarm
	// that lacks them (its fetcher's publications lost, its tracker
	// replaced since, or this node's own layout from a fallback) gets them
	// from here. A node that heard every hash from the tracker on the
	// stream it has sends none: the tracker holds them.
	j := tracker.Join{Digest: t.d, Complete: true}
	if t.ownPlan || slices.Contains(t.heard, false) {
		j.Layout, j.Pieces = new(l), pieceHashes(hashes)
	}
	t.n.announce(tracker.Announce{Join: []tracker.Join{j}})
	t.n.spawn(t.n.evict)
	return true
}

func pieceHashes(hs []digest.Digest) []tracker.PieceHash {
	ps := make([]tracker.PieceHash, len(hs))
	for i, h := range hs {
		ps[i] = tracker.PieceHash{Index: i, Hash: h}
	}
	return ps
}

// keep moves the verified blob among the node's whole blobs, with its
// layout and piece hashes beside it.
func (t *transfer) keep(l tracker.Layout, hashes []digest.Digest) error {
	if err := t.file.Sync(); err != nil {
		return err
	}
	if err := os.Rename(t.n.partialPath(t.d), t.n.blobPath(t.d)); err != nil {
		return err
	}
	b, err := json.Marshal(meta{Size: t.size, Layout: l, Hashes: pieceHashes(hashes)})
	if err != nil {
		return err
	}
	return atomicfile.Write(t.n.metaPath(t.d), b, atomicfile.Options{})
}

// run looks after the transfer until the blob is whole: it keeps the
// neighbours the node takes pieces from, starts the origin stream when
// this node is the fetcher, and falls back to the origin when the swarm
// stalls.
func (t *transfer) run(ctx context.Context) {
	t.n.spawn(func() { t.hash(ctx) })
	requesters := func() {
		for range t.n.opts.Requests {
			t.n.spawn(func() { t.requester(ctx, false) })
		}
		if t.treeBlob() {
			return // its fetcher feeds the trees' roots (spares)
		}
		for range t.n.opts.Pipeline {
			t.n.spawn(func() { t.requester(ctx, true) })
		}
	}
	if t.treeBlob() {
		t.mu.Lock()
		t.trees.then = requesters // if the node leaves the trees
		t.mu.Unlock()
		for s := range treeStripes {
			t.n.spawn(func() { t.climb(ctx, s) })
		}
	} else {
		requesters()
	}
	tick := time.NewTicker(t.n.opts.StallTimeout / 4)
	defer tick.Stop()
	for {
		t.mu.Lock()
		if t.complete || t.failed != nil {
			t.mu.Unlock()
			return
		}
		ch := t.changed
		t.manage(ctx)
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			t.mu.Lock()
			if t.originStop != nil {
				t.originStop()
			}
			if !t.complete && t.failed == nil {
				t.failed = fmt.Errorf("swarm: blob %s: the node stopped", t.d)
				t.signal()
			}
			t.mu.Unlock()
			return
		case <-ch:
		case <-tick.C:
		}
	}
}

// manage is one round of run. t.mu is held.
func (t *transfer) manage(ctx context.Context) {
	me := t.n.opts.ID
	if t.usesTrees() {
		t.checkStripes(time.Now())
	}
	if t.originStop != nil && !t.asFetcher && t.ownPlan && !t.liedTo && t.fetcher == me && t.lease > 0 {
		// Named the fetcher while streaming on its own layout (it fell back
		// before the swarm had one, the tracker out of reach): the stream
		// stops, and starts again as the fetcher's (startOrigin publishes
		// the layout), so that the swarm has a source.
		t.originStop()
	}
	if t.originStop == nil && t.origin != nil && !t.checking && time.Now().After(t.retryAt) {
		switch {
		case t.fetcher == me && t.lease > 0:
			t.startOrigin(ctx, true)
		case t.stalled() && !t.awaitFetcher():
			t.n.fallbacks.Add(1)
			t.fellBack = true
			t.leaveTrees("stalled")
			if t.layout != nil && !t.ownPlan {
				t.n.log.Warn("swarm stalled; fetching from the origin the pieces no neighbour brings", "digest", t.d)
				t.startFallback(ctx)
			} else {
				t.n.log.Warn("swarm stalled before it had a layout; fetching the blob from the origin", "digest", t.d)
				t.startOrigin(ctx, false)
			}
		}
	}
	// A node down a small blob's trees asks its parents only (tree.go),
	// and they are its neighbours: the have streams of others, a line for
	// each piece from each, would cost it CPU for nothing (at 32 nodes on
	// two cores, an eighth of the agents' CPU). It picks them when it
	// leaves the trees. The trees' fetcher picks none: every piece comes
	// to it from the origin, and each have stream it read would cost its
	// downlink, which carries the origin's stream, a packet a line, and
	// its uplink, which carries the trees', the acknowledgements.
	if t.layout != nil && !t.ownPlan && t.requests() && !t.feedsTrees() {
		t.pickNeighbours(ctx)
	}
}

// feedsTrees reports whether the node is a small blob's fetcher that
// streams it from the origin, or did and holds every piece (its digest
// not yet checked). t.mu is held.
func (t *transfer) feedsTrees() bool {
	return t.treeBlob() && t.asFetcher && (t.originStop != nil || t.nLanded == len(t.state))
}

// stalled reports whether the blob has made no progress for the stall
// timeout: no piece landed, no byte came from a neighbour, and the swarm
// published no piece hash. t.mu is held.
func (t *transfer) stalled() bool {
	last := t.progress
	if b := time.Unix(0, t.bytesAt.Load()); b.After(last) {
		last = b
	}
	return time.Since(last) > t.n.opts.StallTimeout
}

// awaitFetcher reports whether another node holds the swarm's lease to
// fetch the blob and has not published every piece yet: a node then
// leaves the origin to it, however slowly pieces come, since its own
// requests would take the origin's bandwidth from the fetcher (a fetcher
// that publishes nothing loses its lease at the tracker, and the next
// one takes over). t.mu is held.
func (t *transfer) awaitFetcher() bool {
	if t.fetcher == "" || t.fetcher == t.n.opts.ID || t.lease == 0 {
		return false
	}
	for _, h := range t.hashes {
		if h == "" {
			return true
		}
	}
	return t.layout == nil
}

// startFallback fetches from the origin, one ranged request at a time,
// the pieces missing that no request is out for, those no neighbour holds
// first, until none is left or the neighbours bring bytes again. t.mu is
// held.
func (t *transfer) startFallback(ctx context.Context) {
	origin, start := t.origin, time.Now()
	t.fromOrigin(ctx, false, "origin fetch", func(ctx context.Context) error {
		return t.fallback(ctx, origin, start)
	})
}

// fromOrigin runs fetch, the transfer's one request to the origin, on a
// goroutine of its own that t.originStop ends. When fetch returns the
// swarm gets its time again before another fallback, and a failure is
// logged and retried a second later. t.mu is held.
func (t *transfer) fromOrigin(ctx context.Context, asFetcher bool, what string, fetch func(context.Context) error) {
	octx, stop := context.WithCancel(ctx)
	t.originStop, t.asFetcher = stop, asFetcher
	t.n.spawn(func() {
		err := fetch(octx)
		stop()
		t.mu.Lock()
		defer t.mu.Unlock()
		t.originStop, t.fetchLease = nil, 0
		switch {
		case asFetcher && err == nil:
			t.endSeeding()
		case asFetcher:
			t.stopSeeding()
		}
		t.progress = time.Now()
		if err != nil && octx.Err() == nil {
			t.n.log.Warn(what+" failed", "digest", t.d, "err", err)
			t.retryAt = time.Now().Add(time.Second)
		}
		t.signal()
	})
}

// fallback is startFallback's loop.
func (t *transfer) fallback(ctx context.Context, origin Origin, start time.Time) error {
	for {
		t.mu.Lock()
		if t.complete || t.failed != nil || time.Unix(0, t.bytesAt.Load()).After(start) || t.awaitFetcher() {
			t.mu.Unlock()
			return nil // done, the neighbours deliver again, or a fetcher does
		}
		best := -1
		for i, st := range t.state {
			if st == missing && t.inflight[i] == 0 && (best < 0 || t.avail[i] < t.avail[best]) {
				best = i
			}
		}
		if best < 0 {
			t.mu.Unlock()
			return nil
		}
		t.inflight[best]++
		l, want := *t.layout, t.hashes[best]
		t.mu.Unlock()
		err := t.originPiece(ctx, origin, l, best, want)
		t.mu.Lock()
		t.inflight[best]--
		t.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// originPiece fetches piece i from the origin and keeps it.
func (t *transfer) originPiece(ctx context.Context, origin Origin, l tracker.Layout, i int, want digest.Digest) error {
	off, size := l.Bounds(i)
	t.n.originFetches.Add(1)
	rc, err := origin(ctx, off)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := getBuf(size)
	defer putBuf(buf)
	if _, err := io.ReadFull(limit(ctx, rc, t.n.downRate), buf); err != nil {
		return fmt.Errorf("piece %d: %w", i, err)
	}
	t.n.originBytes.Add(size)
	h, list := pieceHash(l, buf)
	if want != "" && h != want {
		return fmt.Errorf("piece %d: the origin's bytes differ from the published hash", i)
	}
	t.keepList(i, list)
	t.mu.Lock()
	st := t.state[i]
	t.originBytes += size
	t.mu.Unlock()
	if st == missing {
		if _, err := t.file.WriteAt(buf, off); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if want != "" {
		t.land(i, verified)
	} else {
		t.land(i, landed)
	}
	return nil
}

// startOrigin streams the blob from the origin, from the first piece this
// node lacks, as the swarm's fetcher (publishing each piece's hash) or in
// a fallback. t.mu is held.
func (t *transfer) startOrigin(ctx context.Context, asFetcher bool) {
	if t.layout == nil {
		var l tracker.Layout
		if t.treeBlob() {
			l = treeLayout(t.size)
		} else {
			l = ChooseLayout(t.size, len(t.members)+1)
		}
		t.setLayout(l)
		if !asFetcher {
			t.ownPlan = true
		} else {
			t.n.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: t.d, Lease: t.lease, Layout: new(l)}}})
		}
	} else if asFetcher && t.ownPlan && !t.liedTo {
		// The layout of a fallback becomes the swarm's.
		t.ownPlan = false
		t.n.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: t.d, Lease: t.lease, Layout: new(*t.layout)}}})
	}
	first := 0
	for first < len(t.state) && t.state[first] != missing && (!asFetcher || t.hashes[first] != "") {
		first++
	}
	if first == len(t.state) {
		return
	}
	lease, origin := t.lease, t.origin
	t.fromOrigin(ctx, asFetcher, "origin stream", func(ctx context.Context) error {
		return t.stream(ctx, first, asFetcher, lease, origin)
	})
	if asFetcher {
		t.fetchLease = lease
		if !t.treeBlob() { // a small blob's pieces go down its trees (tree.go)
			t.startSeeding(ctx)
		}
	}
}

// stream reads the origin from piece first to the end.
func (t *transfer) stream(ctx context.Context, first int, asFetcher bool, lease uint64, origin Origin) error {
	t.mu.Lock()
	l := *t.layout
	t.mu.Unlock()
	off, _ := l.Bounds(first)
	t.n.originFetches.Add(1)
	rc, err := origin(ctx, off)
	if err != nil {
		return err
	}
	defer rc.Close()
	body := limit(ctx, rc, t.n.downRate)
	buf := make([]byte, l.PieceSize)
	for i := first; i < l.Pieces(); i++ {
		off, size := l.Bounds(i)
		if _, err := io.ReadFull(body, buf[:size]); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		t.n.originBytes.Add(size)
		h, list := pieceHash(l, buf[:size])
		t.keepList(i, list)
		t.mu.Lock()
		t.originBytes += size
		want, st := t.hashes[i], t.state[i]
		t.mu.Unlock()
		if want != "" && want != h {
			return fmt.Errorf("piece %d: the origin's bytes differ from the published hash", i)
		}
		if st == missing {
			if _, err := t.file.WriteAt(buf[:size], off); err != nil {
				return err
			}
		}
		t.mu.Lock()
		switch {
		case want != "":
			t.land(i, verified)
		case asFetcher:
			t.hashes[i] = h
			if t.seed != nil {
				t.seed.pieces[i].own = true // offered below, not told to all
			}
			t.land(i, verified)
			if t.seed != nil {
				t.seed.push(i, time.Now())
				t.signal()
			}
			t.n.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: t.d, Lease: lease, Pieces: []tracker.PieceHash{{Index: i, Hash: h}}}}})
		default:
			t.land(i, landed)
		}
		t.mu.Unlock()
	}
	return nil
}

// errFailed is returned by readers of a blob that failed for good.
var errFailed = errors.New("blob failed")

// reader returns a reader of the blob, in order, as its pieces land.
func (t *transfer) reader(ctx context.Context) io.ReadCloser {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.readers++
	t.used = time.Now()
	return &reader{t: t, ctx: ctx, gen: t.gen, start: time.Now()}
}

// reader reads a blob as it lands; see transfer.reader.
type reader struct {
	t         *transfer
	ctx       context.Context
	pos       int64
	gen       int // the transfer's gen when the reader began
	start     time.Time
	firstByte time.Duration
	ended     bool
}

func (r *reader) Read(p []byte) (n int, err error) {
	n, err = r.read(p)
	if n > 0 && r.firstByte == 0 {
		r.firstByte = max(time.Since(r.start), 1)
	}
	if err != nil {
		r.end(err)
	}
	return n, err
}

// end counts the reader out of the blob's readers and reports the pull,
// once.
func (r *reader) end(err error) {
	if r.ended {
		return
	}
	r.ended = true
	t := r.t
	t.mu.Lock()
	t.readers--
	rec := PullRecord{
		Digest: t.d, Size: t.size, Start: r.start, FirstByte: r.firstByte, Took: time.Since(r.start),
		OriginBytes: t.originBytes, PeerBytes: t.peerBytes, Fallback: t.fellBack,
	}
	t.mu.Unlock()
	if !errors.Is(err, io.EOF) {
		rec.Err = err
	}
	if f := t.n.opts.OnPull; f != nil {
		f(rec)
	}
}

func (r *reader) read(p []byte) (int, error) {
	t := r.t
	if r.pos >= t.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	var end int64
	for {
		t.mu.Lock()
		if t.failed != nil {
			err := t.failed
			t.mu.Unlock()
			return 0, err
		}
		if t.layout != nil {
			i := t.layout.Index(r.pos)
			if t.state[i] != missing {
				off, size := t.layout.Bounds(i)
				end = off + size
				t.mu.Unlock()
				break
			}
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	n, err := t.file.ReadAt(p[:min(int64(len(p)), end-r.pos)], r.pos)
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		return 0, fmt.Errorf("swarm: blob %s: %w", t.d, err)
	}
	if r.pos+int64(n) == t.size {
		// The last byte goes only once the whole blob matched its digest.
		if err := r.verdict(); err != nil {
			return 0, err
		}
	}
	r.pos += int64(n)
	return n, nil
}

// verdict waits until the whole blob has matched its digest (nil), or
// failed it since the reader began.
func (r *reader) verdict() error {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		switch {
		case t.gen != r.gen:
			return fmt.Errorf("swarm: blob %s: %w: its bytes did not match the digest", t.d, errFailed)
		case t.verified:
			return nil
		case t.failed != nil:
			return t.failed
		case r.ctx.Err() != nil:
			return r.ctx.Err()
		}
		t.wait(r.ctx)
	}
}

func (r *reader) Close() error {
	if r.pos < r.t.size {
		r.end(errors.New("closed before the end"))
	} else {
		r.end(io.EOF)
	}
	return nil
}
