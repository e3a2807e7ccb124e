package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// Blobs of up to 64 MiB go down trees.
//
// A small blob's pull is over in a second or two, too short for the
// swarm's requests to find their shape: each new piece reaches one node,
// every other node asks that one for it at once, and it goes out as a star
// from its first holder, a quarter of its uplink to each (BENCHMARKS.md,
// the nineteenth session). A blob of up to Options.TreeBlobs (by default
// 64 MiB) instead goes down treeStripes trees, one per stripe of its
// pieces (piece i is in stripe i mod treeStripes). The members, the
// fetcher first and the others in the order they joined the swarm (a
// member that left keeps its place, empty: treeOrder), are dealt into
// treeStripes groups; stripe s's tree is a heap of
// treeStripes children a node, group s's nodes first, under the fetcher.
// So each node passes on the stripe its group leads, to up to
// treeStripes children, and is a leaf of the others: its uplink carries
// about one copy of the blob, its downlink takes each stripe from its
// parent there, and a piece is as many hops from the fetcher as the tree
// is deep (4 at 16 nodes, 5 at 32), each the time of one of its blocks.
// Its pieces are a sixty-fourth of it, from 16 KiB up to 64 KiB
// (treeLayout).
//
// A node asks its parent in each tree for the stripe once, and the
// parent sends it the stripe's pieces in order in one answer, each as it
// comes (blocks pass on as they come): stripeHeader. The fetcher, whose
// pieces go to the trees' two roots, does not super-seed such a blob. A
// node in the trees has its parents for neighbours, and no others, and
// reads no have stream, not even theirs: what they hold comes in their
// answers (it reads their streams if it leaves the trees). Nor does the
// fetcher, whose pieces come from the origin. A parent that leaves the
// swarm leaves its place empty, and its children take its own parents
// (treeHeap.parent). A stripe that fails otherwise (the parent busy or
// stuck, a corrupt piece) or falls behind the other
// (stripeLanded) goes to the swarm's requests alone (leaveStripe): its
// pieces then come from the swarm's requests and neighbours as for any
// blob, and its children's stripe from whatever the node holds; the other
// stripe keeps to its tree. A node told it is slow (Options.Leaf) is
// a leaf of every tree, no node's parent (leafParent).
//
// In same-run pairs (BENCHMARKS.md, the twenty-fourth and twenty-fifth
// sessions) the trees took a 1 MiB blob to the median node in 1.41x the
// time its bytes take on a link, against 1.67x by the swarm's requests, at
// 8 nodes on 10 Mbit/s. At 32 nodes, ordering the members by join and
// reading no have streams but the parents' took it from 2.58x to 1.92x;
// then a 4 MiB blob down trees took 1.21x against 1.33x by the requests
// at 8 nodes and 1.41x against 1.73x at 32. (Trees for blobs up to 16 MiB
// did worse at 32 nodes before those two changes.) Then larger blobs:
// at 32 nodes on 10 Mbit/s, 16, 32 and 64 MiB down trees took 1.13x,
// 1.10x and 1.10x against 1.32x, 1.23x and 1.18x by the requests, for
// half the CPU, and 16 MiB on 2 Mbit/s 1.11x against 1.34x
// (BENCHMARKS.md, the thirty-second session). Larger ones keep to the
// requests, which meet the targets there and, over a pull that
// long, let a node take what a slow neighbour holds back from others:
// down a tree, a slow node slows every node below it.
const (
	treeBlobs   = 64 << 20 // Options.TreeBlobs' default
	treeStripes = 2
	treePieces  = 64              // treeLayout cuts a blob in at least this many pieces, fewer only where they would be under 16 KiB
	treeBehind  = 2 * time.Second // Options.TreeBehind's default: how far a stripe may fall behind another, and a third of the pull so far (stripeLanded)
	treePlaces  = 1 << 16         // the places in a swarm's order beyond which a member that left leaves no empty place (placed)
)

// trees is a transfer's place in its blob's trees. The transfer's mu
// guards it.
type trees struct {
	root    string              // the fetcher when the trees began
	order   []string            // treeOrder's answer, nil once the members changed
	leaves  int                 // how many of order's last places are leaves' (treeParent)
	last    [2]uint64           // the last tracker.Peer.Seq heard of, of the others and of the leaves (tracker.SeqKind)
	rootSeq uint64              // the root's tracker.Peer.Seq, once known
	rootLf  bool                // and whether it is a leaf
	off     bool                // left, or never taken: the swarm brings the pieces
	left    [treeStripes]bool   // stripes left for the swarm's requests (leaveStripe)
	stop    [treeStripes]func() // ends each stripe's answer being read (takeStripe)
	parents [treeStripes]string // each stripe's parent, as last worked out
	then    func()              // starts the swarm's requesters, once off or a stripe left
	landed  []time.Time         // when each piece landed down the trees (stripeLanded)
	first   time.Time           // when the first did
	next    [treeStripes]int    // the row of each stripe's first piece missing, or past it
}

// treeParent is the parent of node me in stripe s's tree over order, the
// root first and the last leaves places leaves' (tracker.Peer.Leaf): ""
// if me is the root or not in order. Stripe s's tree is a heap of
// treeStripes children a node over the others but the leaves, group s's
// first (those others at positions s, s+treeStripes, ...), then the rest,
// each in order; it is worked out, not built (treeHeap). The leaves hang
// below it (leafParent).
func treeParent(order []string, leaves int, me string, s int) string {
	k := slices.Index(order, me)
	if k <= 0 {
		return ""
	}
	others := order[:len(order)-leaves]
	if k >= len(others) {
		return leafParent(others, k-len(others), s)
	}
	return others[treeHeap{others, s}.parent(k)]
}

// treeHeap is stripe s's tree over order, the root and the others, no
// leaf: a heap of treeStripes children a node, group s's nodes first,
// under the root. A place may be empty, "": a member that left.
type treeHeap struct {
	order []string
	s     int
}

// inGroup is how many of the first j others are in group s, whose lead
// nodes come first in the heap.
func (h treeHeap) inGroup(j int) int { return max(0, j-h.s+treeStripes-1) / treeStripes }

// lead is how many of the others are in group s.
func (h treeHeap) lead() int { return h.inGroup(len(h.order) - 1) }

// pos is the place in the heap of order[k], k from 1.
func (h treeHeap) pos(k int) int {
	j := k - 1 // the j-th of the others
	if j%treeStripes == h.s {
		return j / treeStripes
	}
	return h.lead() + j - h.inGroup(j)
}

// index is the place in order of the heap's place p.
func (h treeHeap) index(p int) int {
	const n = treeStripes
	lead := h.lead()
	if p < lead {
		return 1 + p*n + h.s
	}
	r := p - lead // the r-th of the others not in group s
	off := r % (n - 1)
	if off >= h.s {
		off++
	}
	return 1 + r/(n-1)*n + off
}

// parent returns the place in order of order[k]'s parent in the heap.
// Where the parent's place is empty (a member that left), its children
// take the room its leaving made in its parents' uplinks, at once: the
// first child takes its parent in this stripe, or the first member
// further up; a later child that is a leaf of this tree (of another
// group) takes its parent in another stripe, which passed it that
// stripe, unless that one joined before the child, and goes up as the
// first otherwise. Every node keeps its parents but the children of a
// member that left (TestDepartureKeepsParents), and those keep to the
// trees, asking for the rest of their stripe at once of a node that
// holds it. (Taking that stripe from the swarm's requests, the nodes
// below them had it late, and left the trees in turn; taking the
// parent's parent alone, three children there, the nodes below fell
// behind.)
//
// No view of the members makes a cycle: the members above a group s
// node are in group s, at places in the heap no later member moves, and
// a node of another group takes one of group s, or one of its own group
// that joined after it.
func (h treeHeap) parent(k int) int {
	me := h.pos(k)
	for pos := me; pos > 0; {
		up := (pos - 1) / treeStripes
		at := h.index(up)
		if h.order[at] != "" {
			return at
		}
		if c := (pos - 1) % treeStripes; c > 0 && pos == me && me >= h.lead() {
			o := treeHeap{h.order, (h.s + c) % treeStripes}
			if x := o.up(o.pos(at)); x > k {
				return x
			}
		}
		pos = up
	}
	return 0
}

// up returns the place in order of the first member above the heap's
// place pos, 0 for the root.
func (h treeHeap) up(pos int) int {
	for pos > 0 {
		pos = (pos - 1) / treeStripes
		if at := h.index(pos); h.order[at] != "" {
			return at
		}
	}
	return 0
}

// leafParent is the parent in stripe s's tree over order (the root and the
// others, no leaf) of the i-th leaf: the others from the last back, one
// for each leaf and stripe, then round again. The last others in the
// order sit lowest in the tree of the stripe their group leads, with a
// child or none, and are leaves of the other: their uplinks have room. A
// leaf is no node's parent, so that a node on a lesser or busy link holds
// no other to its pace, and a node's way up has leaves in no view of the
// members: the trees have no cycle whoever knows which leaves. An empty
// place (a member that left) is passed over, to the one before it.
func leafParent(order []string, i, s int) string {
	m := len(order) - 1
	if m == 0 {
		return order[0]
	}
	k := m - (i*treeStripes+s)%m
	for range m {
		if order[k] != "" {
			return order[k]
		}
		if k--; k == 0 {
			k = m
		}
	}
	return order[0]
}

// treeLayout cuts a blob that goes down trees in pieces of pieceBlocks
// blocks: pieces of a sixty-fourth of it, rounded down to a power of two,
// from tracker.MinPieceSize (16 KiB) to ChooseLayout's small pieces (64
// KiB).
//
// The fetcher passes a piece on only once the piece came whole from the
// origin and its hash is known, and each node below passes a block on once
// it came whole: a node at the fifth level of a tree takes each piece at
// least a piece and four blocks at half a link after the fetcher, a lag it
// keeps to its pull's end. In pieces of four blocks that is four pieces at
// the link's rate, at most a sixteenth of the pull from 1 MiB on. (A tail
// of smaller pieces, which spreads a swarm's last pieces over more
// uplinks, does nothing in a tree.) Smaller pieces cost CPU, per piece and
// per block, and gain where the links rather than the cores set the pace.
// A 2 MiB blob in 32 KiB pieces rather than 64 KiB reached the median of
// 32 nodes in 1.21x the time its bytes take on a link against 1.28x on 2
// Mbit/s, for 17-62% more CPU; a 1 MiB blob in 16 KiB pieces rather than
// 32 KiB in 1.24x against 1.28x there, 1.19x against 1.26x at 8 nodes on
// 10 Mbit/s, for a quarter more CPU, and lost only where the bench's two
// cores bind, at 32 nodes on 10 Mbit/s: 1.52x against 1.46x
// (BENCHMARKS.md, the twenty-sixth to thirtieth sessions).
func treeLayout(size int64) tracker.Layout {
	p := int64(tracker.MinPieceSize)
	for 2*p <= size/treePieces && p < minPieceSize/headCut {
		p *= 2
	}
	return tracker.Layout{Size: size, PieceSize: p, PieceBlocks: pieceBlocks}
}

// treeBlob reports whether the blob is one to go down trees
// (Options.TreeBlobs).
func (t *transfer) treeBlob() bool { return t.size <= t.n.opts.TreeBlobs }

// usesTrees reports whether the node takes the blob, or a stripe of it,
// down its trees now. t.mu is held.
func (t *transfer) usesTrees() bool {
	return t.treeBlob() && !t.trees.off
}

// downTree reports whether the node takes stripe s down its tree now.
// t.mu is held.
func (t *transfer) downTree(s int) bool {
	return t.usesTrees() && !t.trees.left[s]
}

// requests reports whether the swarm's requests bring the node pieces:
// of a blob not down trees, or of a stripe that left its tree. t.mu is
// held.
func (t *transfer) requests() bool {
	return !t.usesTrees() || slices.Contains(t.trees.left[:], true)
}

// leaveTrees ends the trees for the node midway, and counts it. t.mu is
// held.
func (t *transfer) leaveTrees(why string, args ...any) {
	if t.usesTrees() {
		t.leftTrees(why, args...)
		t.skipTrees()
	}
}

// leftTrees counts and logs a blob whose trees the node left, wholly or
// a stripe (leaveStripe), the first time. t.mu is held.
func (t *transfer) leftTrees(why string, args ...any) {
	if !t.requests() {
		t.n.treesLeft.Add(1)
	}
	t.n.log.Info("leaving a small blob's trees for the swarm", append([]any{"digest", t.d, "reason", why}, args...)...)
}

// leaveStripe has the swarm's requests bring stripe s's pieces, not its
// tree, and the other stripes keep to theirs: what the node passes on in
// them comes as fast as before, so its children there keep to the trees
// too. A stripe is left so when it falls behind (stripeLanded) and when
// its parent fails (is dropped, refuses or ends its answer, and does not
// leave the swarm: climb).
// (A node that left both trees for one stripe that fell behind passed on
// the other stripe's pieces as the requests brought them, out of order:
// its children there fell behind in turn, and in the bench all 31 nodes
// but the fetcher left the trees for a slow one.) t.mu is held.
func (t *transfer) leaveStripe(s int, why string, args ...any) {
	if !t.downTree(s) {
		return
	}
	t.leftTrees(why, args...)
	t.trees.left[s] = true
	if stop := t.trees.stop[s]; stop != nil {
		stop() // its piece on the way, which a peer that trickles would never end
	}
	if !slices.Contains(t.trees.left[:], false) {
		t.skipTrees()
		return
	}
	t.openRequests()
}

// skipTrees has the node take the blob from the swarm's requests, not
// down trees. t.mu is held.
func (t *transfer) skipTrees() {
	if !t.trees.off {
		t.trees.off = true
		t.openRequests()
	}
}

// openRequests starts the swarm's requests, once, and the node reads the
// have streams of the parents it had. t.mu is held.
func (t *transfer) openRequests() {
	if t.trees.then != nil {
		t.trees.then()
		t.trees.then = nil
	}
	for _, nb := range t.neighbours {
		t.readHaves(nb)
	}
	t.signal()
}

// treeOrder is the members, the trees' root first and the others in the
// order they joined the swarm (tracker.Peer.Seq), the leaves
// (tracker.Peer.Leaf) after the rest: it sets t.trees.leaves. A member
// that left keeps its place, empty (placed): the others keep their
// parents, and only its children look elsewhere. A node told of fewer
// members than another has been told of the first ones: the nodes it
// places place themselves alike, and the trees they work out have no
// cycle (TestTreesWithoutCycles). It is worked out again only once the
// members changed. t.mu is held.
func (t *transfer) treeOrder() []string {
	if t.trees.order != nil && t.trees.order[0] == t.trees.root {
		return t.trees.order
	}
	ps := make([]place, 0, len(t.members)+1)
	for id, m := range t.members {
		switch {
		case id != t.trees.root:
			ps = append(ps, place{m.Leaf, m.Seq, id})
		case t.trees.rootSeq == 0:
			t.trees.rootSeq, t.trees.rootLf = m.Seq, m.Leaf
		}
	}
	if me := t.n.opts.ID; me != t.trees.root {
		ps = append(ps, place{t.leaf, t.seq, me})
	}
	order, leaves, ok := t.placed(ps)
	if !ok {
		order, leaves = t.packed(ps)
	}
	t.trees.order, t.trees.leaves = order, leaves
	return order
}

// place is a member's place in a swarm's order (tracker.Peer).
type place struct {
	leaf bool
	seq  uint64
	id   string
}

// placed orders ps by their places in the tracker's counts of joins, the
// root's taken out, with each place of a member that left (a number in
// either count no member holds) left empty, "": a departure moves no
// member, where taken out of the order it would move every one after it
// to the other group, half of them under new parents. Up to the last
// place the node heard of, so that every node that heard of the same
// members works out the same trees, whichever of them it heard left. It
// reports false where the places do not say: a tracker that does not
// number (Seq 0), two members in one place, or more places than
// treePlaces. t.mu is held.
func (t *transfer) placed(ps []place) (order []string, leaves int, ok bool) {
	root, rootKind := t.trees.rootSeq, tracker.SeqKind(t.trees.rootLf)
	if root == 0 {
		return nil, 0, false
	}
	// slot is a place's number in its count, the root's taken out.
	slot := func(seq uint64, kind int) int {
		if kind == rootKind && seq > root {
			seq--
		}
		return int(seq)
	}
	var n [2]int
	for k := range n {
		if t.trees.last[k] > treePlaces {
			return nil, 0, false
		}
		n[k] = slot(t.trees.last[k]+1, k) - 1
	}
	order = make([]string, 1+n[0]+n[1])
	order[0] = t.trees.root
	for _, p := range ps {
		k := tracker.SeqKind(p.leaf)
		i := slot(p.seq, k)
		if p.seq == 0 || k == rootKind && p.seq == root || i > n[k] {
			return nil, 0, false
		}
		if k == 1 {
			i += n[0]
		}
		if order[i] != "" {
			return nil, 0, false
		}
		order[i] = p.id
	}
	return order, n[1], true
}

// packed orders ps as they joined, then by ID, the leaves after the
// rest, with no empty place: from a tracker that does not number its
// members, or for a root whose place the node never heard of.
func (t *transfer) packed(ps []place) (order []string, leaves int) {
	slices.SortFunc(ps, func(a, b place) int {
		return cmp.Or(compareBool(a.leaf, b.leaf), cmp.Compare(a.seq, b.seq), strings.Compare(a.id, b.id))
	})
	order = make([]string, 0, len(ps)+1)
	order = append(order, t.trees.root)
	for _, p := range ps {
		order = append(order, p.id)
		if p.leaf {
			leaves++
		}
	}
	return order, leaves
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// parent is the node's parent in stripe s's tree (treeParent). t.mu is
// held.
func (t *transfer) parent(s int) string {
	order := t.treeOrder()
	return treeParent(order, t.trees.leaves, t.n.opts.ID, s)
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

// climb takes stripe s's pieces from the node's parent in its tree, in
// one answer (takeStripe), until the blob is whole or the node leaves the
// trees; a parent that moves (members that joined later) is asked for the
// rest. It waits for the swarm's layout and fetcher, and for the first
// piece's hash (the fetcher's stream has begun); a swarm with no fetcher,
// since a member holds the blob whole, has no trees.
func (t *transfer) climb(ctx context.Context, s int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.layout == nil || t.fetcher == "" || t.hashes[0] == "" {
		if t.complete || t.failed != nil || ctx.Err() != nil || !t.downTree(s) {
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
	for {
		first := t.stripeNext(s)
		if first < 0 || t.complete || t.failed != nil || ctx.Err() != nil || !t.downTree(s) {
			return
		}
		p := t.parent(s)
		m, ok := t.members[p]
		if t.neighbours[p] == nil && (!ok || !t.takeable(p)) {
			t.leaveStripe(s, "parent not to be asked", "stripe", s, "parent", p)
			return
		}
		if t.neighbours[p] == nil {
			t.addNeighbour(ctx, m)
		}
		nb := t.neighbours[p]
		if nb == nil || nb.dropped {
			t.leaveStripe(s, "parent dropped", "stripe", s, "parent", p)
			return
		}
		if p != t.trees.parents[s] {
			t.trees.parents[s] = p
			t.trace("tree parent", "stripe", s, "parent", p)
		}
		t.trace("stripe asked", "stripe", s, "from", first, "peer", p)
		t.mu.Unlock()
		err := t.takeStripe(nb, s, first)
		t.mu.Lock()
		if err != nil {
			if !errors.As(err, new(errCorrupt)) && t.leftSwarm(ctx, p) {
				continue // its place is empty: the stripe comes from the member above it
			}
			// Not cut short by leaveStripe already (a stripe behind).
			t.leaveStripe(s, "its stripe did not come", "stripe", s, "parent", p, "err", err)
			return
		}
	}
}

// treeGone is how long a node whose stripe's answer failed waits to hear
// its parent left the swarm: a dead agent's connections and tracker
// stream end at once, and the tracker tells its departure within
// milliseconds.
const treeGone = time.Second

// leftSwarm waits for at most treeGone to hear that member p left the
// swarm, and reports whether it did. t.mu is held.
func (t *transfer) leftSwarm(ctx context.Context, p string) bool {
	return t.waitFor(ctx, treeGone, func() bool { _, ok := t.members[p]; return !ok })
}

// waitFor waits for at most within, for ctx, and while the transfer is
// neither whole nor failed, until ok (called with t.mu held) is true,
// and reports whether it is. t.mu is held.
func (t *transfer) waitFor(ctx context.Context, within time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if ok() {
			return true
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil || t.complete || t.failed != nil {
			return false
		}
		t.waitUntil(ctx, deadline)
	}
}

// stripeLanded notes when piece i landed, and has a stripe that fell
// behind leave its tree for the swarm's requests (leaveStripe): the first
// piece it lacks is in the same row (the same stretch of the blob) as a
// piece of another stripe that landed over Options.TreeBehind ago, and a third of
// the pull so far (the stripe came at two thirds of the other's pace or
// less). The stripes come from the one stream of the fetcher, a row's
// pieces one after the other, so a stripe that falls behind has a slow
// node above it, its parent or further up (a lesser or busy link, or a
// peer that trickles its bytes): they keep coming, so no watchdog fires,
// but at that node's pace, and the node and every one below it would
// take the rest of the stripe at that pace, or never. Time, not pieces: a
// stripe may begin late, its request having waited behind the data of a
// busy link, and on a fast link the other is many pieces ahead by then,
// but no later in time. Where the links are alike, a stripe's first
// missing piece was at most 0.44 s behind its row at each node of 32 for
// 1 MiB, 0.59 s for 16 MiB, and 0.97 s for 64 MiB, late in its pull. With
// two slow nodes of 32, this spares the nodes below them their pace, at
// a cost to the others (BENCHMARKS.md, the thirty-third session). t.mu is
// held.
func (t *transfer) stripeLanded(i int) {
	now := time.Now()
	if t.trees.landed == nil {
		t.trees.landed = make([]time.Time, len(t.state))
		t.trees.first = now
	}
	t.trees.landed[i] = now
	t.checkStripes(now)
}

// checkStripes has a stripe that fell behind leave its tree, as
// stripeLanded says, at each landing and at each turn of the transfer's
// manager: the other stripe may have landed its last piece, and a stripe
// whose parent trickles lands none. t.mu is held.
func (t *transfer) checkStripes(now time.Time) {
	if t.trees.landed == nil {
		return
	}
	late := max(t.n.opts.TreeBehind, now.Sub(t.trees.first)/3)
	for s := range treeStripes {
		if !t.downTree(s) {
			continue
		}
		for k := t.trees.next[s]*treeStripes + s; k < len(t.state) && t.state[k] != missing; k += treeStripes {
			t.trees.next[s]++
		}
		row := t.trees.next[s] * treeStripes
		for r := range treeStripes {
			if p := row + r; r != s && p < len(t.state) && !t.trees.landed[p].IsZero() && now.Sub(t.trees.landed[p]) > late {
				t.leaveStripe(s, "a stripe fell behind", "stripe", s, "parent", t.trees.parents[s], "behind", now.Sub(t.trees.landed[p]).Round(time.Millisecond))
				break
			}
		}
	}
}

// stripeNext returns stripe s's first missing piece, -1 if none is.
// t.mu is held.
func (t *transfer) stripeNext(s int) int {
	for i := s; i < len(t.state); i += treeStripes {
		if t.state[i] == missing {
			return i
		}
	}
	return -1
}

// stripeHeader, on a request for a blob down a tree, asks for a stripe of
// its pieces: "FIRST/STEP/PIECESIZE", pieces FIRST, FIRST+STEP and so on
// of a layout of PIECESIZE. The answer (200, the header said back) is
// each piece's block list (none if the layout has no blocks) and then its
// bytes, piece after piece: the parent sends each as it comes to it, and
// TCP paces the stream. Asked a piece at a time, as before, a child's
// request for the next piece waited behind the bytes its own uplink and
// its parent's downlink queued, and the parent's uplink went idle: the
// fetcher's carried its two stripes at 88% of its link, 8 points under
// its download, at 32 nodes on 2 Mbit/s (BENCHMARKS.md, the
// twenty-seventh session).
const stripeHeader = "Gantry-Stripe"

// stripeAsk is the stripeHeader of a request for the stripe of step
// pieces from first on, in a layout of pieces of pieceSize bytes.
func stripeAsk(first, step int, pieceSize int64) string {
	return fmt.Sprintf("%d/%d/%d", first, step, pieceSize)
}

// parseStripe parses a stripeHeader.
func parseStripe(h string) (first, step int, pieceSize int64, ok bool) {
	f := strings.Split(h, "/")
	if len(f) != 3 {
		return 0, 0, 0, false
	}
	a, err1 := strconv.Atoi(f[0])
	b, err2 := strconv.Atoi(f[1])
	c, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || a < 0 || b < 1 || c < 1 {
		return 0, 0, 0, false
	}
	return a, b, c, true
}

// takeStripe takes stripe s's pieces from first on from nb, the node's parent
// there, in one answer: until the stripe is whole, or nb is no longer the
// parent (nil then: the rest is asked of the new one), or the node left
// the trees. A parent sends the first piece within treeHold, and each
// next one within treeHold of the last bytes; one that does not is given
// up.
func (t *transfer) takeStripe(nb *neighbour, s, first int) error {
	ctx, cancel := context.WithCancel(nb.ctx)
	defer cancel()
	t.mu.Lock()
	l := *t.layout
	t.trees.stop[s] = cancel // if the stripe falls behind (leaveStripe)
	t.mu.Unlock()
	quiet := t.treeHold() + time.Second
	dog := time.AfterFunc(quiet, cancel)
	defer dog.Stop()
	resp, conn, err := t.ask(ctx, nb, http.Header{stripeHeader: {stripeAsk(first, treeStripes, l.PieceSize)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := t.answered(resp, nb, first, http.StatusOK); err != nil {
		return err
	}
	if resp.Header.Get(stripeHeader) == "" {
		return fmt.Errorf("piece %d: the peer answered a stripe's request with something else", first)
	}
	// Read a block at a time at most, so that each block passes on as it
	// comes.
	src := &watched{r: t.bodyOf(ctx, resp, conn, resp.ContentLength, int(l.BlockSize(first))), dog: dog, quiet: quiet}
	for i := first; i < l.Pieces(); i += treeStripes {
		t.mu.Lock()
		if t.complete || t.failed != nil || !t.downTree(s) || t.parent(s) != nb.id {
			t.mu.Unlock()
			return nil
		}
		c := choice{piece: i, nb: nb, extra: true}
		t.inFlight(c, time.Now())
		t.trace("piece asked", "piece", i, "peer", nb.id, "tree", s)
		want := digest.Digest(t.awaitHash(ctx, i))
		t.mu.Unlock()
		start := time.Now()
		size, err := t.streamPiece(nb, l, i, want, src)
		t.settle(c, start, size, err, false)
		if err != nil {
			return err
		}
	}
	return nil
}

// streamPiece reads piece i of l, its block list first, from a stripe's
// answer, and keeps it (keepPiece).
func (t *transfer) streamPiece(nb *neighbour, l tracker.Layout, i int, want digest.Digest, src io.Reader) (int64, error) {
	if want == "" {
		return 0, fmt.Errorf("piece %d: %w: its hash was not published", i, errCut)
	}
	var list []byte
	if n := listSize(l, i); n > 0 {
		list = make([]byte, n)
		if _, err := io.ReadFull(src, list); err != nil {
			return 0, fmt.Errorf("piece %d: %w: %w", i, errCut, err)
		}
		if err := checkBlockList(list, l, i, want); err != nil {
			return 0, err
		}
	}
	return t.keepPiece(nb, l, i, list, want, src)
}

// watched is a reader that puts its watchdog off for quiet whenever bytes
// come through it.
type watched struct {
	r     io.Reader
	dog   *time.Timer
	quiet time.Duration
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.dog.Reset(w.quiet)
	}
	return n, err
}

// treeHold is how long a node holds a child's stripe for its next piece,
// and how long the piece waits for an upload slot: half the stall timeout,
// so that a child whose parent is stuck leaves the trees, and the swarm
// has the other half before the child asks its origin; and at most 5 s,
// well within the time a client waits for an answer's head (10 s by
// default).
func (t *transfer) treeHold() time.Duration { return min(t.n.opts.StallTimeout/2, 5*time.Second) }

// holdForChild waits, for at most treeHold, until the node knows the
// layout and holds piece i or is taking it, and reports whether it does.
// (The node holds a child's stripe whether it takes the blob down the
// trees itself or no longer: the fetcher never does.)
func (t *transfer) holdForChild(ctx context.Context, i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitFor(ctx, t.treeHold(), func() bool {
		return t.complete || t.layout != nil && i < len(t.state) && (t.state[i] == verified || t.told[i] && t.arriving[i] != nil)
	})
}

// serveStripe answers a child's request down a tree (stripeHeader): each
// piece of the stripe from the one asked for on, as it comes to the node
// (verified, or arriving a block at a time), its block list first. The
// answer ends early if a piece does not come within treeHold, or finds no
// upload slot within it, or the node lost it on its way (its copy from a
// peer that failed): the child then leaves the trees.
func (t *transfer) serveStripe(w http.ResponseWriter, r *http.Request, h string) {
	first, step, pieceSize, ok := parseStripe(h)
	if !ok {
		http.Error(w, "want a stripe of pieces as FIRST/STEP/PIECESIZE", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	l, ours := t.stripeLayout()
	held := false
	if !ours || pieceSize == l.PieceSize && first < l.Pieces() {
		held = t.holdForChild(ctx, first)
		l, ours = t.stripeLayout()
	}
	switch {
	case !ours:
		http.Error(w, "this node holds no piece of the swarm's layout", http.StatusNotFound)
		return
	case pieceSize != l.PieceSize || first >= l.Pieces():
		http.Error(w, fmt.Sprintf("want a stripe of a layout of %d pieces of %d bytes", l.Pieces(), l.PieceSize), http.StatusRequestedRangeNotSatisfiable)
		return
	case !held:
		http.Error(w, "this node holds no verified piece there", http.StatusNotFound)
		return
	}
	var size int64
	for i := first; i < l.Pieces(); i += step {
		_, n := l.Bounds(i)
		size += listSize(l, i) + n
	}
	w.Header().Set(stripeHeader, h)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	holdSlot(ctx, l.PieceSize)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i := first; i < l.Pieces(); i += step {
		if i != first && !t.holdForChild(ctx, i) || !t.sendPiece(ctx, w, l, i) || rc.Flush() != nil {
			return
		}
	}
}

// stripeLayout returns the layout the node serves stripes of, and whether
// it does: it knows the swarm's layout and did not cut the blob its own
// way. (A node that fell back to the origin before the swarm's layout
// came, and holds the blob whole in its own cut, serves ranges of it,
// each with a block list for the asker's blocks; a stripe's block lists
// follow the node's layout, and a child of another would find them
// corrupt.)
func (t *transfer) stripeLayout() (tracker.Layout, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.layout == nil {
		return tracker.Layout{}, false
	}
	return *t.layout, !t.ownPlan
}

// sendPiece writes piece i of l to a stripe's answer, its block list
// first, once an upload slot is free: the node holds the piece, or it is
// arriving. It reports whether the piece went whole.
func (t *transfer) sendPiece(ctx context.Context, w http.ResponseWriter, l tracker.Layout, i int) bool {
	select {
	case t.n.slots <- struct{}{}:
		defer func() { <-t.n.slots }()
	case <-time.After(t.treeHold()):
		return false
	case <-ctx.Done():
		return false
	}
	off, size := l.Bounds(i)
	var a *arrival
	held := false
	for {
		t.mu.Lock()
		held = t.complete || t.state[i] == verified
		if !held && t.told[i] {
			a = t.arriving[i]
		}
		t.mu.Unlock()
		if held || a != nil {
			break
		}
		if !t.holdForChild(ctx, i) {
			return false // lost on its way here, and not come again
		}
	}
	if bs := l.BlockSize(i); bs > 0 {
		var list []byte
		if a != nil {
			list = a.list
		} else {
			var err error
			if list, err = t.blockListOf(i, off, size, bs); err != nil {
				return false
			}
		}
		if _, err := w.Write(list); err != nil {
			return false
		}
	}
	var n int64
	if a != nil {
		n = t.serveArriving(ctx, w, i, a, off, size, true)
	} else {
		n, _ = io.Copy(w, limit(ctx, io.NewSectionReader(t.file, off, size), t.n.upRate))
	}
	t.n.servedBytes.Add(n)
	return n == size
}

// awaitHash returns piece i's hash, waiting for it to be published (a
// request down a tree may be answered before it is) for at most the stall
// timeout. t.mu is held.
func (t *transfer) awaitHash(ctx context.Context, i int) string {
	t.waitFor(ctx, t.n.opts.StallTimeout, func() bool { return t.hashes[i] != "" })
	return string(t.hashes[i])
}
