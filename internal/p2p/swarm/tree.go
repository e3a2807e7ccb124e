package swarm

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
)

// Small blobs go down trees.
//
// A small blob's pull is over in a second or two, too short for the
// swarm's requests to find their shape: each new piece reaches one node,
// every other node asks that one for it at once, and it goes out as a star
// from its first holder, a quarter of its uplink to each (BENCHMARKS.md,
// the nineteenth session). A blob of up to Options.TreeBlobs (by default
// under 16 MiB, every blob too small for a layout's head) instead goes
// down treeStripes trees, one per stripe of its pieces (piece i is in
// stripe i mod treeStripes). The members, the fetcher first and the others
// in the order they joined the swarm, are dealt into treeStripes groups;
// stripe s's tree is a heap of treeStripes children a node, group s's
// nodes first, under the fetcher. So each node passes on the stripe its
// group leads, to up to treeStripes children, and is a leaf of the others:
// its uplink carries about one copy of the blob, its downlink takes each
// stripe from its parent there, and a piece is as many hops from the
// fetcher as the tree is deep (4 at 16 nodes, 5 at 32), each the time of
// one of its blocks. Its pieces are a thirty-second of it (treeLayout).
//
// A node asks its parent in each tree for the stripe's pieces in order,
// treeAhead bytes ahead of what landed, two pieces at least (the one on
// its way and the next); the parent holds such a request until the piece
// is there or on its way (blocks pass on as they come), and serves each
// child's requests one at a time. The fetcher, whose
// pieces go to the trees' two roots, does not super-seed such a blob. A
// node in the trees has its parents for neighbours, and no others. A
// request down a tree that fails (the parent gone, busy or slow, a
// corrupt piece) ends the trees for the node: its pieces then come from
// the swarm's requests and neighbours as for any blob, and its children's
// requests from whatever it holds.
//
// In same-run pairs (BENCHMARKS.md, the twenty-fourth and twenty-fifth
// sessions) the trees took a 1 MiB blob to the median node in 1.41x the
// time its bytes take on a link, against 1.67x by the swarm's requests, at
// 8 nodes on 10 Mbit/s. At 32 nodes, ordering the members by join and
// reading no have streams but the parents' took it from 2.58x to 1.92x;
// then a 4 MiB blob down trees took 1.21x against 1.33x by the requests
// at 8 nodes and 1.41x against 1.73x at 32. (Trees for blobs up to 16 MiB
// did worse at 32 nodes before those two changes.)
const (
	treeBlobs   = 4*headPieces*minPieceSize/headCut - 1 // Options.TreeBlobs' default: too small for a head (ChooseLayout)
	treeStripes = 2
	treeAhead   = 64 << 10
	treePieces  = 32 // what treeLayout aims at
)

// treeHeader marks a request down a tree: the node holds it until it has
// the piece, rather than answering 404.
const treeHeader = "Gantry-Tree"

// trees is a transfer's place in its blob's trees. The transfer's mu
// guards it.
type trees struct {
	root     string                 // the fetcher when the trees began
	order    []string               // treeOrder's answer, nil once the members changed
	off      bool                   // left, or never taken: the swarm brings the pieces
	parents  [treeStripes]string    // each stripe's parent, as last worked out
	heard    [treeStripes]bool      // that parent answered a request: it may be asked ahead
	asked    [treeStripes]int64     // bytes asked of each parent, not yet landed
	children map[string]*sync.Mutex // one request at a time for each child
	then     func()                 // starts the swarm's requesters, once off
}

// treeParent is the parent of node me in stripe s's tree over order, the
// root first: "" if me is the root or not in order. Stripe s's tree is a
// heap of treeStripes children a node over the others, group s's first
// (the others at positions s, s+treeStripes, ...), then the rest, each in
// order; it is worked out, not built.
func treeParent(order []string, me string, s int) string {
	k := slices.Index(order, me)
	if k <= 0 {
		return ""
	}
	// Of the m others (the members but the root) me is the j-th;
	// inGroup(j) is how many of the first j are in group s, whose lead
	// nodes come first in the heap; pos is me's place in it.
	const n = treeStripes
	j, m := k-1, len(order)-1
	inGroup := func(j int) int { return max(0, j-s+n-1) / n }
	lead := inGroup(m)
	pos := lead + j - inGroup(j)
	if j%n == s {
		pos = j / n
	}
	if pos == 0 {
		return order[0]
	}
	p := (pos - 1) / n // the parent's place in the heap
	if p < lead {
		return order[1+p*n+s]
	}
	r := p - lead // the r-th of the others not in group s
	off := r % (n - 1)
	if off >= s {
		off++
	}
	return order[1+r/(n-1)*n+off]
}

// treeLayout cuts a blob that goes down trees: pieces of a thirty-second
// of it, a power of two from tracker.MinPieceSize (16 KiB) up to
// ChooseLayout's small pieces (64 KiB), each in pieceBlocks blocks.
//
// The fetcher passes a piece on only once the piece came whole from the
// origin and its hash is known, and its uplink carries the blob at about
// the rate its downlink takes it: the time a piece takes on the link is a
// lag that every node keeps to its pull's end. (A tail of smaller pieces,
// which spreads a swarm's last pieces over more uplinks, does nothing in
// a tree.) At 8 nodes on 10 Mbit/s the fetcher sent nothing for the first
// 80 ms of a 1 MiB blob cut in 64 KiB pieces; cut in 32 KiB pieces the
// blob reached the median node in 1.29x the time its bytes take on a link
// against 1.48x, and at 32 nodes on 2 Mbit/s 1.41x against 1.69x. Pieces
// of 16 KiB did less well than 32 KiB at 8 nodes and cost 40% more CPU,
// and worse at 32 nodes on 10 Mbit/s, where the bench's two cores bind
// (BENCHMARKS.md, the twenty-sixth session).
func treeLayout(size int64) tracker.Layout {
	p := int64(tracker.MinPieceSize)
	for p < size/treePieces && p < minPieceSize/headCut {
		p *= 2
	}
	return tracker.Layout{Size: size, PieceSize: p, PieceBlocks: pieceBlocks}
}

// treeBlob reports whether the blob is one to go down trees
// (Options.TreeBlobs).
func (t *transfer) treeBlob() bool { return t.size <= t.n.opts.TreeBlobs }

// usesTrees reports whether the node takes the blob down its trees now.
// t.mu is held.
func (t *transfer) usesTrees() bool {
	return t.treeBlob() && !t.trees.off
}

// leaveTrees ends the trees for the node midway, and counts it. t.mu is
// held.
func (t *transfer) leaveTrees(why string, args ...any) {
	if t.usesTrees() {
		t.n.treesLeft.Add(1)
		t.n.log.Info("leaving a small blob's trees for the swarm", append([]any{"digest", t.d, "reason", why}, args...)...)
		t.skipTrees()
	}
}

// skipTrees has the node take the blob from the swarm's requests, not
// down trees: they start now. t.mu is held.
func (t *transfer) skipTrees() {
	if !t.trees.off {
		t.trees.off = true
		if t.trees.then != nil {
			t.trees.then()
			t.trees.then = nil
		}
		t.signal()
	}
}

// treeOrder is the members, the trees' root first and the others in the
// order they joined the swarm (tracker.Peer.Seq), then by ID. A node told
// of fewer members than another has been told of the first ones: the
// nodes it places place themselves alike, and the trees they work out
// have no cycle (TestTreesWithoutCycles). It is worked out again only
// once the members changed. t.mu is held.
func (t *transfer) treeOrder() []string {
	if t.trees.order != nil && t.trees.order[0] == t.trees.root {
		return t.trees.order
	}
	type place struct {
		seq uint64
		id  string
	}
	ps := make([]place, 0, len(t.members)+1)
	for id, m := range t.members {
		if id != t.trees.root {
			ps = append(ps, place{m.Seq, id})
		}
	}
	if me := t.n.opts.ID; me != t.trees.root {
		ps = append(ps, place{t.seq, me})
	}
	slices.SortFunc(ps, func(a, b place) int { return cmp.Or(cmp.Compare(a.seq, b.seq), strings.Compare(a.id, b.id)) })
	order := make([]string, 0, len(ps)+1)
	order = append(order, t.trees.root)
	for _, p := range ps {
		order = append(order, p.id)
	}
	t.trees.order = order
	return order
}

// heldWhole reports whether a member holds the blob whole. t.mu is held.
func (t *transfer) heldWhole() bool {
	for _, m := range t.members {
		if m.Complete {
			return true
		}
	}
	return false
}

// climb takes stripe s's pieces in order from the node's parent in its
// tree, until the blob is whole or the node leaves the trees. It waits for
// the swarm's layout and fetcher, and for the first piece's hash (the
// fetcher's stream has begun); a swarm with no fetcher, since a member
// holds the blob whole, has no trees. A parent is asked for one piece
// until it answers that, and then for treeAhead bytes or two pieces,
// whichever is more: a peer that fails every request is asked once. Each
// request asked ahead is held at the parent, a goroutine woken at every
// change there: at 32 nodes on 10 Mbit/s, where the two cores bind,
// asking 64 KiB ahead rather than 128 KiB (two pieces of a 1 MiB blob
// rather than four) brought it to the median node in 1.78x S/B rather
// than 2.02x (BENCHMARKS.md, the twenty-sixth session).
func (t *transfer) climb(ctx context.Context, s int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.layout == nil || t.fetcher == "" || t.hashes[0] == "" {
		if t.complete || t.failed != nil || ctx.Err() != nil || !t.usesTrees() {
			return
		}
		if t.fetcher == "" && t.heldWhole() {
			t.skipTrees()
			return
		}
		t.wait(ctx)
	}
	if t.ownPlan || t.fetcher == t.n.opts.ID {
		t.skipTrees() // the blob comes from the origin
		return
	}
	if t.trees.root == "" {
		t.trees.root = t.fetcher
	}
	for i := s; i < len(t.state); i += treeStripes {
		for t.state[i] == missing && t.inflight[i] == 0 {
			if t.complete || t.failed != nil || ctx.Err() != nil || !t.usesTrees() {
				return
			}
			if p := treeParent(t.treeOrder(), t.n.opts.ID, s); p != t.trees.parents[s] {
				m, ok := t.members[p]
				if t.neighbours[p] == nil && (!ok || !t.takeable(p)) {
					t.leaveTrees("parent not to be asked", "stripe", s, "parent", p)
					return
				}
				if t.neighbours[p] == nil {
					t.addNeighbour(ctx, m)
				}
				t.trees.parents[s], t.trees.heard[s] = p, false
				t.trace("tree parent", "stripe", s, "parent", p)
			}
			nb := t.neighbours[t.trees.parents[s]]
			if nb == nil || nb.dropped {
				t.leaveTrees("parent dropped", "stripe", s)
				return
			}
			_, size := t.layout.Bounds(i)
			if t.trees.asked[s] == 0 || t.trees.heard[s] && t.trees.asked[s]+size <= max(treeAhead, 2*t.layout.PieceSize) {
				t.trees.asked[s] += size
				c := choice{piece: i, nb: nb, extra: true, tree: true}
				t.inFlight(c, time.Now())
				t.trace("piece asked", "piece", i, "peer", nb.id, "tree", s)
				t.n.spawn(func() {
					t.request(c)
					t.mu.Lock()
					defer t.mu.Unlock()
					t.trees.asked[s] -= size
					t.signal()
					if t.state[c.piece] == missing {
						t.leaveTrees("a piece did not come", "piece", c.piece, "peer", c.nb.id)
					}
				})
				break
			}
			t.wait(ctx)
		}
	}
}

// treeHold is how long a node holds a child's request for a piece it does
// not have yet, and how long the request waits for an upload slot: half
// the stall timeout, so that a child whose parent is stuck leaves the
// trees, and the swarm has the other half before the child asks its
// origin; and at most 5 s, well within the time a client waits for an
// answer's head (10 s by default).
func (t *transfer) treeHold() time.Duration { return min(t.n.opts.StallTimeout/2, 5*time.Second) }

// holdForChild holds a child's request for the piece at off until the node
// knows the layout and holds the piece or is taking it, for at most
// treeHold. (The node holds them whether it takes the blob down the trees
// itself or no longer: the fetcher never does.)
func (t *transfer) holdForChild(ctx context.Context, off int64) {
	deadline := time.Now().Add(t.treeHold())
	t.mu.Lock()
	defer t.mu.Unlock()
	for time.Now().Before(deadline) && ctx.Err() == nil && !t.complete && t.failed == nil {
		if t.layout != nil {
			if i := t.layout.Index(off); t.state[i] == verified || t.told[i] && t.arriving[i] != nil {
				return
			}
		}
		t.waitUntil(ctx, deadline)
	}
}

// parentAnswered records that the parent of piece i's stripe answered a
// request for it. t.mu is held.
func (t *transfer) parentAnswered(nb *neighbour, i int) {
	if s := i % treeStripes; t.trees.parents[s] == nb.id && !t.trees.heard[s] {
		t.trees.heard[s] = true
		t.signal()
	}
}

// childTurn returns the lock that serves peer's requests down a tree one
// at a time.
func (t *transfer) childTurn(peer string) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trees.children == nil {
		t.trees.children = map[string]*sync.Mutex{}
	}
	m := t.trees.children[peer]
	if m == nil {
		m = &sync.Mutex{}
		t.trees.children[peer] = m
	}
	return m
}

// awaitHash returns piece i's hash, waiting for it to be published (a
// request down a tree may be answered before it is) for at most the stall
// timeout. t.mu is held.
func (t *transfer) awaitHash(ctx context.Context, i int) string {
	deadline := time.Now().Add(t.n.opts.StallTimeout)
	for t.hashes[i] == "" && time.Now().Before(deadline) && ctx.Err() == nil && !t.complete && t.failed == nil {
		t.waitUntil(ctx, deadline)
	}
	return string(t.hashes[i])
}
