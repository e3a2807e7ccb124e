package swarm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// The trees of a small blob, for swarms of 1 to 64 nodes but the fetcher:
// in each stripe every node has a parent and reaches the fetcher, the
// fetcher has one child, a node has at most treeStripes children, and it
// has children in one stripe at most, so that its uplink carries about
// one copy of the blob. The trees are about as deep as a binary heap of
// the nodes.
func TestTreeShape(t *testing.T) {
	for m := 1; m <= 64; m++ {
		order := []string{"fetcher"}
		for k := range m {
			order = append(order, fmt.Sprintf("n%02d", k))
		}
		inner := map[string]int{} // stripes a node has children in, as bits
		for s := range treeStripes {
			children := map[string]int{}
			for _, id := range order[1:] {
				depth := 0
				for at := id; at != "fetcher"; depth++ {
					p := treeParent(order, 0, at, s)
					if p == "" || depth > m {
						t.Fatalf("%d nodes, stripe %d: %s has no way to the fetcher (at %q)", m, s, id, at)
					}
					if at == id {
						children[p]++
						if p != "fetcher" {
							inner[p] |= 1 << s
						}
					}
					at = p
				}
				if most := bits.Len(uint(m)) + 1; depth > most {
					t.Errorf("%d nodes, stripe %d: %s is %d hops from the fetcher, want %d at most", m, s, id, depth, most)
				}
			}
			if children["fetcher"] != 1 {
				t.Errorf("%d nodes, stripe %d: the fetcher has %d children, want 1", m, s, children["fetcher"])
			}
			for p, n := range children {
				if n > treeStripes {
					t.Errorf("%d nodes, stripe %d: %s has %d children, want %d at most", m, s, p, n, treeStripes)
				}
			}
		}
		for id, stripes := range inner {
			if bits.OnesCount(uint(stripes)) > 1 {
				t.Errorf("%d nodes: %s has children in stripes %b, want one at most", m, id, stripes)
			}
		}
	}
	if p := treeParent([]string{"fetcher", "a"}, 0, "fetcher", 0); p != "" {
		t.Errorf("the root's parent is %q, want none", p)
	}
	if p := treeParent([]string{"fetcher", "a"}, 0, "stranger", 0); p != "" {
		t.Errorf("a node not in the order has parent %q, want none", p)
	}
}

// Leaves (tracker.Peer.Leaf) hang below the others' trees: a leaf's
// parent in each stripe is no leaf, no leaf is a parent, and the others
// keep the parents they have without the leaves. While there are others
// enough, each leaf and stripe has a parent of its own, among the last
// others, whose uplinks carry one stripe a child more at most: treeStripes
// children in all stripes at most, treeStripes+1 with a leaf's.
func TestTreeLeaves(t *testing.T) {
	for m := 0; m <= 40; m++ {
		for leaves := 1; leaves <= 4; leaves++ {
			order := []string{"fetcher"}
			for k := range m {
				order = append(order, fmt.Sprintf("n%02d", k))
			}
			others := slices.Clone(order)
			for k := range leaves {
				order = append(order, fmt.Sprintf("leaf%d", k))
			}
			leafParents := map[string]bool{}
			children := map[string]int{} // in all stripes
			for s := range treeStripes {
				for _, id := range order[1:] {
					p := treeParent(order, leaves, id, s)
					children[p]++
					switch {
					case p == "" || strings.HasPrefix(p, "leaf"):
						t.Fatalf("%d others, %d leaves, stripe %d: %s has parent %q", m, leaves, s, id, p)
					case strings.HasPrefix(id, "leaf"):
						leafParents[fmt.Sprint(s, p)] = true
					case p != treeParent(others, 0, id, s):
						t.Errorf("%d others, %d leaves, stripe %d: %s has parent %s, %s without the leaves", m, leaves, s, id, p, treeParent(others, 0, id, s))
					}
				}
			}
			if want := leaves * treeStripes; want <= m && len(leafParents) != want {
				t.Errorf("%d others, %d leaves: the leaves' parents are %v, want %d of them", m, leaves, leafParents, want)
			}
			for p, n := range children {
				if leaves*treeStripes <= m && n > treeStripes+1 {
					t.Errorf("%d others, %d leaves: %s has %d children in all stripes, want %d at most", m, leaves, p, n, treeStripes+1)
				}
			}
		}
	}
}

// The members of a swarm learn of each other at different times: the
// tracker tells each of them its own place, the members of the swarm when
// it joined, and then each that joins or leaves, in that order. However
// far each node's view reaches, the parents the nodes work out from their
// views form trees: no node's way up comes back to itself, and with no
// member gone every node's reaches the fetcher. (Ordered by ID, 32 nodes
// whose IDs did not follow the order they joined in made cycles in the
// simulated cluster, and each request down one waited out its hold.) A
// fifth of them are leaves (tracker.Peer.Leaf), no node's parent in any
// view. A member that left keeps its place (treeOrder): a way up may end
// there, where the node below takes its stripe from the swarm's requests.
func TestTreesWithoutCycles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for m := 2; m <= 40; m++ {
		for try := range 30 {
			gone := try%3 != 0 // two of three swarms lose members as they go
			tl := newTimeline(rng, m, gone)
			parents := map[string][treeStripes]string{}
			for _, me := range tl.live() {
				tr := tl.view(me, tl.joined[me]+rng.IntN(len(tl.events)-tl.joined[me]))
				var ps [treeStripes]string
				for s := range treeStripes {
					if ps[s] = tr.parent(s); tl.leaf[ps[s]] {
						t.Fatalf("%d nodes, %v: %s has leaf %s for a parent in stripe %d", m, tl, me, ps[s], s)
					}
				}
				parents[me] = ps
			}
			for s := range treeStripes {
				for id := range parents {
					at := id
					for hops := 0; at != "f"; hops++ {
						ps, ok := parents[at]
						if !ok && gone && at != id {
							break // a member that left, or a hole where it was
						}
						if at = ps[s]; at == "" && !gone || hops > m {
							t.Fatalf("%d nodes, %v, stripe %d: %s has no way up to the fetcher (%v)", m, tl, s, id, parents)
						}
					}
				}
			}
		}
	}
}

// A member that leaves mid-pull changes the parents of no member but its
// children: its place is kept (treeOrder), and each of its children in
// its stripe's tree takes one of its parents (a leaf takes another
// member). (Taken out of the order, it moved every member after it to
// the other group: in the bench, two of 32 agents killed a third into a
// 16 MiB pull cost the others 1.4-1.7x S/B at the median, against 1.12x
// with none.)
func TestDepartureKeepsParents(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for m := 2; m <= 40; m++ {
		tl := newTimeline(rng, m, false)
		ids := tl.live()
		before := map[string][treeStripes]string{}
		for _, id := range ids {
			tr := tl.view(id, len(tl.events)-1)
			var ps [treeStripes]string
			for s := range treeStripes {
				ps[s] = tr.parent(s)
			}
			before[id] = ps
		}
		for _, x := range ids[1:] {
			gone := tracker.Event{Type: tracker.EventGone, Peer: &tracker.Peer{ID: x}}
			for _, id := range ids {
				if id == x {
					continue
				}
				tr := tl.view(id, len(tl.events)-1)
				tr.event(gone)
				for s := range treeStripes {
					was, p := before[id][s], tr.parent(s)
					switch {
					case was == x && (p == x || p == "" || !tl.leaf[id] && p != before[x][s] && p != before[x][1-s]):
						t.Errorf("%d nodes, %v, %s left: its child %s in stripe %d has parent %q, want one of %s's, %v", m, tl, x, id, s, p, x, before[x])
					case was != x && p != was:
						t.Errorf("%d nodes, %v, %s left: %s's parent in stripe %d moved from %s to %q", m, tl, x, id, s, was, p)
					}
				}
			}
		}
	}
}

// A place numbered far past any swarm's size (a tracker gone wrong) makes
// no order of that many places: the members are ordered without empty
// places.
func TestTreeOrderFarPlace(t *testing.T) {
	tr := &transfer{n: &Node{opts: Options{ID: "me"}}, members: map[string]tracker.Peer{}, changed: make(chan struct{}), logged: make(chan struct{})}
	tr.trees.root = "f"
	for _, p := range []tracker.Peer{{ID: "me", Seq: 3}, {ID: "f", Seq: 1}, {ID: "a", Seq: 2}, {ID: "far", Seq: 1 << 40}} {
		tr.event(tracker.Event{Type: tracker.EventPeer, Peer: &p})
	}
	if p := tr.parent(1); p != "f" || len(tr.trees.order) != 4 {
		t.Errorf("the parent in stripe 1 is %q in an order of %d places, want f in 4", p, len(tr.trees.order))
	}
}

// timeline is what the tracker tells of a swarm whose fetcher f joined
// first: the joins of m members, a fifth of them leaves (counted apart,
// tracker.Peer.Seq) and, if gone, the leaving of some, in the order they
// came.
type timeline struct {
	events []tracker.Event
	joined map[string]int // the event at which each joined
	leaf   map[string]bool
}

func newTimeline(rng *rand.Rand, m int, gone bool) *timeline {
	tl := &timeline{joined: map[string]int{"f": 0}, leaf: map[string]bool{}}
	tl.events = append(tl.events, tracker.Event{Type: tracker.EventPeer, Peer: &tracker.Peer{ID: "f", Seq: 1}})
	seqs := [2]uint64{1, 0}
	for _, v := range rng.Perm(m) { // IDs in no order
		id := fmt.Sprintf("n%02d", v)
		leaf := rng.IntN(5) == 0
		k := 0
		if leaf {
			k = 1
		}
		seqs[k]++
		tl.leaf[id] = leaf
		tl.joined[id] = len(tl.events)
		tl.events = append(tl.events, tracker.Event{Type: tracker.EventPeer, Peer: &tracker.Peer{ID: id, Seq: seqs[k], Leaf: leaf}})
		if live := tl.live(); gone && len(live) > 2 && rng.IntN(4) == 0 {
			x := live[1+rng.IntN(len(live)-1)]
			delete(tl.joined, x)
			tl.events = append(tl.events, tracker.Event{Type: tracker.EventGone, Peer: &tracker.Peer{ID: x}})
		}
	}
	return tl
}

// live returns the members that have not left, in the order they joined.
func (tl *timeline) live() []string {
	var ids []string
	for id := range tl.joined {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return tl.joined[a] - tl.joined[b] })
	return ids
}

// view returns the transfer of member me that the tracker told of the
// timeline up to event upto: its own place, the members at the time it
// joined, then what came after.
func (tl *timeline) view(me string, upto int) *transfer {
	tr := &transfer{n: &Node{opts: Options{ID: me}}, members: map[string]tracker.Peer{}, changed: make(chan struct{}), logged: make(chan struct{})}
	tr.trees.root = "f"
	at := tl.joined[me]
	tr.event(tl.events[at])
	there := map[string]tracker.Event{}
	for _, ev := range tl.events[:at] {
		if ev.Type == tracker.EventGone {
			delete(there, ev.Peer.ID)
		} else {
			there[ev.Peer.ID] = ev
		}
	}
	for _, ev := range tl.events[:at] {
		if ev.Type == tracker.EventPeer && there[ev.Peer.ID].Peer == ev.Peer {
			tr.event(ev)
		}
	}
	for _, ev := range tl.events[at+1 : upto+1] {
		tr.event(ev)
	}
	return tr
}

func (tl *timeline) String() string {
	var b strings.Builder
	for _, ev := range tl.events {
		switch {
		case ev.Type == tracker.EventGone:
			fmt.Fprintf(&b, " -%s", ev.Peer.ID)
		case ev.Peer.Leaf:
			fmt.Fprintf(&b, " %s(leaf %d)", ev.Peer.ID, ev.Peer.Seq)
		default:
			fmt.Fprintf(&b, " %s(%d)", ev.Peer.ID, ev.Peer.Seq)
		}
	}
	return "joined" + b.String()
}

// treeParentBuilt is treeParent by building stripe s's heap.
func treeParentBuilt(order []string, me string, s int) string {
	k := slices.Index(order, me)
	if k <= 0 {
		return ""
	}
	var heap []string
	for j, id := range order[1:] {
		if j%treeStripes == s {
			heap = append(heap, id)
		}
	}
	for j, id := range order[1:] {
		if j%treeStripes != s {
			heap = append(heap, id)
		}
	}
	if j := slices.Index(heap, me); j > 0 {
		return heap[(j-1)/treeStripes]
	}
	return order[0]
}

// treeParent works out the parent the heap it describes gives.
func TestTreeParentWorkedOut(t *testing.T) {
	for m := 1; m <= 100; m++ {
		order := []string{"fetcher"}
		for k := range m {
			order = append(order, fmt.Sprint("n", k))
		}
		for s := range treeStripes {
			for _, id := range order {
				if got, want := treeParent(order, 0, id, s), treeParentBuilt(order, id, s); got != want {
					t.Fatalf("%d nodes, stripe %d: %s's parent is %q, want %q", m, s, id, got, want)
				}
			}
		}
	}
}

// A blob down trees is cut in pieces of a sixty-fourth of it, rounded
// down to a power of two, from 16 KiB to 64 KiB; in blocks of at least 4
// KiB, with no head or tail: the fetcher sends a piece on only once it
// came whole, and each node below a block once it came whole, so a piece
// and four blocks at half a link are how long the deepest nodes wait
// behind the origin.
func TestTreeLayout(t *testing.T) {
	for _, tc := range []struct {
		size   int64
		piece  int64
		pieces int
	}{
		{0, 16 << 10, 1},
		{100, 16 << 10, 1},
		{512 << 10, 16 << 10, 32},
		{512<<10 + 1, 16 << 10, 33},
		{768 << 10, 16 << 10, 48},
		{1 << 20, 16 << 10, 64},
		{2<<20 - 1, 16 << 10, 128},
		{2 << 20, 32 << 10, 64},
		{3 << 20, 32 << 10, 96},
		{4<<20 - 1, 32 << 10, 128},
		{4 << 20, 64 << 10, 64},
		{16 << 20, 64 << 10, 256},
		{treeBlobs, 64 << 10, 1024},
	} {
		l := treeLayout(tc.size)
		if err := l.Validate(); err != nil {
			t.Errorf("treeLayout(%d): %v", tc.size, err)
		}
		if l.PieceSize != tc.piece || l.Pieces() != tc.pieces || l.HeadPieces != 0 || l.TailPieces != 0 || l.PieceBlocks != pieceBlocks {
			t.Errorf("treeLayout(%d) = %+v, %d pieces; want %d of %d bytes, in %d blocks", tc.size, l, l.Pieces(), tc.pieces, tc.piece, pieceBlocks)
		}
	}
}

// A node's requesters work out its parents on every wake-up: at a
// thousand members, from the members' order kept since they changed.
func BenchmarkTreeParents(b *testing.B) {
	tr := &transfer{n: &Node{opts: Options{ID: "n500"}}, members: map[string]tracker.Peer{}, changed: make(chan struct{}), logged: make(chan struct{})}
	tr.trees.root = "f"
	for k := range 1000 {
		tr.event(tracker.Event{Type: tracker.EventPeer, Peer: &tracker.Peer{ID: fmt.Sprint("n", k), Seq: uint64(k + 2)}})
	}
	for b.Loop() {
		for s := range treeStripes {
			tr.parent(s)
		}
	}
}

// A node sends a child its stripe in one answer: each piece's block list
// and then its bytes, the stripe's pieces in order, each as it comes to
// the node. A request it cannot read, or for another layout, is refused.
func TestStripeAnswer(t *testing.T) {
	b, d, l, tr, srv := stripeServer(t)
	ask := func(h string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+blobsPath+d.String(), nil)
		req.Header.Set(stripeHeader, h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	start := time.Now()
	for h, code := range map[string]int{
		"4/2":        http.StatusBadRequest,
		"4/0/32768":  http.StatusBadRequest,
		"-4/2/32768": http.StatusBadRequest,
		"4/2/65536":  http.StatusRequestedRangeNotSatisfiable, // another layout
		"32/2/32768": http.StatusRequestedRangeNotSatisfiable, // past the last piece
	} {
		if resp := ask(h); resp.StatusCode != code {
			t.Errorf("stripe %q: %s, want %d", h, resp.Status, code)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the refusals took %v, want them at once (not held for the piece)", took)
	}

	// The node holds the first pieces; the others land while it answers.
	land := func(i int) {
		tr.mu.Lock()
		tr.land(i, verified)
		tr.mu.Unlock()
	}
	for i := range 8 {
		land(i)
	}
	go func() {
		for i := 8; i < l.Pieces(); i++ {
			time.Sleep(2 * time.Millisecond)
			land(i)
		}
	}()
	resp := ask(stripeAsk(5, 2, l.PieceSize))
	if resp.StatusCode != http.StatusOK || resp.Header.Get(stripeHeader) == "" {
		t.Fatalf("%s, header %q; want 200 and the stripe said back", resp.Status, resp.Header.Get(stripeHeader))
	}
	want := stripeBytes(b, l, 5)
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, want) || resp.ContentLength != int64(len(want)) {
		t.Errorf("stripe from piece 5: %d bytes (%v), length %d; want %d, each piece's list and bytes", len(got), err, resp.ContentLength, len(want))
	}

	// A node that cut the blob its own way (a fallback before the swarm's
	// layout came) sends no stripe, though it holds the blob whole.
	tr.mu.Lock()
	tr.ownPlan, tr.complete = true, true
	tr.mu.Unlock()
	if resp := ask(stripeAsk(0, 2, l.PieceSize)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a stripe of a node on its own cut: %s, want 404", resp.Status)
	}
}

// stripeServer serves a transfer of a 1 MiB blob down trees, whose file
// holds the blob (its pieces' states are the test's to set).
func stripeServer(t *testing.T) ([]byte, digest.Digest, tracker.Layout, *transfer, *httptest.Server) {
	t.Helper()
	b := payload(1 << 20)
	d := digest.FromBytes(b)
	l := treeLayout(int64(len(b)))
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	tr, srv := servedTransfer(t, d, f, l)
	return b, d, l, tr, srv
}

// stripeBytes is the answer for the stripe of blob b in layout l from
// piece first on: each piece's block list and its bytes.
func stripeBytes(b []byte, l tracker.Layout, first int) []byte {
	var want []byte
	for i := first; i < l.Pieces(); i += treeStripes {
		off, size := l.Bounds(i)
		_, list := pieceHash(l, b[off:off+size])
		want = append(append(want, list...), b[off:off+size]...)
	}
	return want
}

// A piece lost on its way to a node (its copy from a parent that died
// midway) while the node passes it on down a stripe is waited for again,
// and the answer goes on where it was: the child takes the whole stripe.
// (The answer used to end there, and the child, its parent alive, left
// the tree: in the bench, the nodes below each child of a killed agent.)
func TestStripeAnswerOutlivesALostPiece(t *testing.T) {
	b, d, l, tr, srv := stripeServer(t)
	const lost = 9
	off, size := l.Bounds(lost)
	_, list := pieceHash(l, b[off:off+size])
	arrive := func(done int64) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if done < 0 {
			delete(tr.arriving, lost)
		} else {
			if tr.arriving == nil {
				tr.arriving = map[int]*arrival{}
			}
			if tr.told == nil {
				tr.told = map[int]bool{}
			}
			tr.arriving[lost], tr.told[lost] = &arrival{list: list, done: done}, true
		}
		tr.grow()
	}
	tr.mu.Lock()
	for i := range lost {
		tr.land(i, verified)
	}
	tr.mu.Unlock()
	arrive(size / 2)
	got := make(chan []byte, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+blobsPath+d.String(), nil)
		req.Header.Set(stripeHeader, stripeAsk(lost, 2, l.PieceSize))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		got <- body
	}()
	time.Sleep(100 * time.Millisecond)
	arrive(-1) // lost halfway
	time.Sleep(100 * time.Millisecond)
	arrive(size / 4) // coming again, from another parent
	time.Sleep(50 * time.Millisecond)
	arrive(size)
	tr.mu.Lock()
	for i := lost; i < l.Pieces(); i++ {
		tr.land(i, verified)
	}
	delete(tr.arriving, lost)
	tr.grow()
	tr.mu.Unlock()
	want := stripeBytes(b, l, lost)
	select {
	case body := <-got:
		if !bytes.Equal(body, want) {
			t.Errorf("the stripe from piece %d: %d bytes, want %d, each piece's list and bytes", lost, len(body), len(want))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stripe's answer did not end")
	}
}

// A node whose parent in a stripe moves (members joined that it had not
// been told of) asks the new parent for the rest: it leaves the old one's
// answer at the next piece, rather than take the whole stripe from it.
func TestStripeFollowsAMove(t *testing.T) {
	const ps = 32 << 10
	b := payload(1 << 20)
	_, tr := nodeTransfer(t, Options{}, b, ps)
	sent := make(chan int, 2)
	next := make(chan struct{})
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(stripeHeader, r.Header.Get(stripeHeader))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for _, i := range []int{0, 2} {
			_, _ = w.Write(b[i*ps : (i+1)*ps])
			_ = rc.Flush()
			sent <- i
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
		<-r.Context().Done() // and piece 4 never comes
	}))
	t.Cleanup(old.Close)
	ctx, stop := context.WithCancel(t.Context())
	t.Cleanup(stop)
	tr.mu.Lock()
	for i := range tr.hashes {
		tr.hashes[i] = digest.FromBytes(b[i*ps : (i+1)*ps])
	}
	tr.trees.root, tr.seq = "f", 3
	tr.members["f"] = tracker.Peer{ID: "f", Seq: 1}
	tr.members["old"] = tracker.Peer{ID: "old", Seq: 2}
	if p := tr.parent(0); p != "old" {
		t.Fatalf("the parent in stripe 0 is %q, want old", p)
	}
	nb := &neighbour{id: "old", addr: old.Listener.Addr().String(), ctx: ctx, stop: stop, requesting: map[int]time.Time{},
		has: make([]bool, len(tr.state)), refused: make([]bool, len(tr.state))}
	tr.neighbours[nb.id] = nb
	tr.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- tr.takeStripe(nb, 0, 0) }()
	<-sent
	// Told of a member that joined before it and after the fetcher, the
	// node is a leaf of the new one.
	waitUntil(t, "piece 0", func() bool { tr.mu.Lock(); defer tr.mu.Unlock(); return tr.state[0] == verified })
	tr.mu.Lock()
	tr.members["new"] = tracker.Peer{ID: "new", Seq: 2}
	tr.members["old"] = tracker.Peer{ID: "old", Seq: 4}
	tr.trees.order = nil
	p := tr.parent(0)
	tr.mu.Unlock()
	if p == "old" {
		t.Fatal("the parent did not move")
	}
	close(next)
	select {
	case err := <-done:
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if err != nil || tr.state[2] != verified || tr.state[4] != missing {
			t.Errorf("took the stripe until %v, pieces 2 and 4 %v and %v; want piece 2 only, and no error", err, tr.state[2], tr.state[4])
		}
	case <-time.After(2 * time.Second):
		t.Error("the node kept the old parent's stripe after its parent moved")
	}
}
