package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// chooser is a transfer of a blob of 32 pieces, every hash published,
// none held, for testing choose.
func chooser() *transfer {
	t := &transfer{n: &Node{opts: Options{Pipeline: 2, Requests: 6}}, size: 8 << 20, changed: make(chan struct{}), neighbours: map[string]*neighbour{}}
	t.setLayout(tracker.Layout{Size: 8 << 20, PieceSize: 256 << 10})
	for i := range t.hashes {
		t.hashes[i] = digest.FromBytes([]byte{byte(i)})
	}
	return t
}

// nodeTransfer is a node with opts (its ID, addresses and directory set
// here) and its transfer of b, cut into pieces of ps bytes, none held.
func nodeTransfer(t *testing.T, opts Options, b []byte, ps int64) (*Node, *transfer) {
	opts.ID, opts.Addr, opts.Tracker, opts.Dir = "me", "127.0.0.1:1", "http://127.0.0.1:1", t.TempDir()
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := n.newTransfer(digest.FromBytes(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.file.Close() })
	tr.mu.Lock()
	tr.setLayout(tracker.Layout{Size: int64(len(b)), PieceSize: ps})
	tr.mu.Unlock()
	return n, tr
}

// openHave opens the have stream served at url as the peer named, from
// its transfer token (none if "").
func openHave(ctx context.Context, url, peer, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(peerHeader, peer)
	if token != "" {
		req.Header.Set(transferHeader, token)
	}
	return http.DefaultClient.Do(req)
}

// seedNeighbour adds a neighbour holding the blob whole whose pieces came
// at rate, last asked at asked.
func (t *transfer) seedNeighbour(id string, rate float64, asked time.Time) *neighbour {
	nb := &neighbour{id: id, complete: true, has: make([]bool, len(t.state)), refused: make([]bool, len(t.state)),
		requesting: map[int]time.Time{}, rate: rate, asked: asked}
	t.neighbours[id] = nb
	for i := range t.avail {
		t.avail[i]++
	}
	return nb
}

// A node asks the neighbour whose pieces came fastest, not whichever
// neighbour's turn comes first: in a swarm of 32 at 10 Mbit/s, with each
// neighbour asked in turn, a few nodes' uplinks idled half the time while
// the others shared theirs four ways. A neighbour whose piece has been on
// its way longer than its rate says counts as slower, one at its
// pipeline's bound is not asked, and one not asked for a while is tried
// again before any other.
func TestChooseFastNeighbour(t *testing.T) {
	now := time.Now()
	tr := chooser()
	slow := tr.seedNeighbour("slow", 256<<10, now)
	fast := tr.seedNeighbour("fast", 10<<20, now)
	var retry time.Time
	if c := tr.choose(now, &retry); c.nb != fast {
		t.Fatalf("asked %s; want fast (10 MiB/s against 256 KiB/s)", c.nb.id)
	}
	fast.requesting[0] = now.Add(-2 * time.Second) // 256 KiB in 2 s so far: 128 KiB/s at most
	if c := tr.choose(now, &retry); c.nb != slow {
		t.Errorf("asked %s while fast's piece has been on its way for 2 s; want slow", c.nb.id)
	}
	fast.requesting[0], fast.requesting[1] = now, now // at its pipeline's bound
	if c := tr.choose(now, &retry); c.nb != slow {
		t.Errorf("asked %s with two requests out to fast; want slow", c.nb.id)
	}
	clear(fast.requesting)
	idle := tr.seedNeighbour("idle", 64<<10, now.Add(-2*retryRate))
	if c := tr.choose(now, &retry); c.nb != idle {
		t.Errorf("asked %s; want idle, not asked for %v", c.nb.id, 2*retryRate)
	}
	idle.busyUntil = now.Add(time.Second) // it said it was busy
	if c := tr.choose(now, &retry); c.nb != fast || !retry.Equal(idle.busyUntil) {
		t.Errorf("asked %s, retry at %v, with idle busy; want fast, and a retry when idle may be asked again", c.nb.id, retry.Sub(now))
	}
}

// Of the pieces the chosen neighbour holds, the node asks for one that
// fewest neighbours hold; in the endgame (a request out for every missing
// piece), for one requested of another neighbour.
func TestChooseRarestAndEndgame(t *testing.T) {
	now := time.Now()
	tr := chooser()
	a := tr.seedNeighbour("a", 1<<20, now)
	b := &neighbour{id: "b", has: make([]bool, 32), refused: make([]bool, 32), requesting: map[int]time.Time{}, rate: 2 << 20, asked: now}
	tr.neighbours["b"] = b
	b.has[7], b.has[9] = true, true
	tr.avail[7]++
	tr.avail[9]++
	var retry time.Time
	if c := tr.choose(now, &retry); c.nb != b || c.piece != 7 && c.piece != 9 {
		t.Fatalf("asked %s for %d; want b, the faster, for 7 or 9", c.nb.id, c.piece)
	}
	b.rate = 1 << 10
	if c := tr.choose(now, &retry); c.nb != a || c.piece == 7 || c.piece == 9 {
		t.Errorf("asked %s for %d; want a, for a piece b does not hold too", c.nb.id, c.piece)
	}
	// The endgame: every piece held but 7, which was requested of a.
	for i := range tr.state {
		if i != 7 {
			tr.state[i] = verified
		}
	}
	tr.inflight[7], a.requesting[7] = 1, now
	if c := tr.choose(now, &retry); c.nb != b || c.piece != 7 {
		t.Errorf("in the endgame asked %v for %d; want b for 7, requested of a", c.nb, c.piece)
	}
}

// A have of pieces the node holds changes what it knows of the neighbour
// but wakes none of its requesters; one of a piece it lacks, or that the
// neighbour holds the blob whole, does.
func TestHaveWakesForLackedPieces(t *testing.T) {
	tr := chooser()
	tr.state[3] = verified
	nb := &neighbour{id: "a", has: make([]bool, len(tr.state)), refused: make([]bool, len(tr.state)), requesting: map[int]time.Time{}}
	tr.neighbours[nb.id] = nb
	woke := func(line string) bool {
		ch := tr.changed
		if !tr.have(nb, []byte(line)) {
			t.Fatalf("have %s: stream ended", line)
		}
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	if woke(`{"pieces":[3]}`) {
		t.Error("a have of a piece the node holds woke its requesters")
	}
	if !nb.has[3] || tr.avail[3] != 1 {
		t.Errorf("the have of piece 3 was not counted: has %v, avail %d", nb.has[3], tr.avail[3])
	}
	if !woke(`{"pieces":[4]}`) {
		t.Error("a have of a piece the node lacks woke nothing")
	}
	if !woke(`{"complete":true}`) {
		t.Error("a neighbour holding the blob whole woke nothing")
	}
}

// In the endgame a node asks a second neighbour for a piece already asked
// of a first. Once one copy lands, the other request is cancelled, not
// read to its end: the rest of it would take bandwidth, at both ends, from
// the pieces still missing (at 32 nodes on 10 Mbit/s each node read one
// to five whole pieces twice at the end of a pull). The neighbour of the
// cancelled copy is kept.
func TestLandedPieceDropsOtherCopies(t *testing.T) {
	const ps = 256 << 10
	b := payload(2 * ps)
	serve := func(pause time.Duration) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var off, end int
			if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &off, &end); err != nil || end >= len(b) {
				http.Error(w, "bad range", http.StatusRequestedRangeNotSatisfiable)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(end-off+1))
			w.WriteHeader(http.StatusPartialContent)
			rc := http.NewResponseController(w)
			for p := b[off : end+1]; len(p) > 0; p = p[min(len(p), 1448):] {
				if _, err := w.Write(p[:min(len(p), 1448)]); err != nil {
					return
				}
				_ = rc.Flush()
				time.Sleep(pause)
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	slowSrv, fastSrv := serve(50*time.Millisecond), serve(0) // 9 s a piece, and at once
	_, tr := nodeTransfer(t, Options{}, b, ps)
	tr.hashes[0], tr.hashes[1] = digest.FromBytes(b[:ps]), digest.FromBytes(b[ps:])
	slow, fast := tr.seedNeighbour("slow", 0, time.Time{}), tr.seedNeighbour("fast", 0, time.Time{})
	slow.addr, fast.addr = slowSrv.Listener.Addr().String(), fastSrv.Listener.Addr().String()
	slow.ctx, slow.stop = context.WithCancel(t.Context())
	fast.ctx, fast.stop = context.WithCancel(t.Context())
	ask := func(nb *neighbour) {
		tr.mu.Lock()
		tr.active++
		tr.inflight[0]++
		nb.requesting[0] = time.Now()
		tr.mu.Unlock()
		tr.request(choice{piece: 0, nb: nb})
	}
	done := make(chan struct{})
	go func() { ask(slow); close(done) }()
	time.Sleep(200 * time.Millisecond) // the slow copy is on its way
	ask(fast)
	if tr.state[0] != verified {
		t.Fatalf("piece 0 is %v after the fast copy; want verified", tr.state[0])
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the slow copy of a piece that landed is still being read 2 s later; want it cancelled")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.neighbours["slow"] == nil || slow.dropped {
		t.Error("the neighbour whose copy was cancelled was dropped; want it kept")
	}
	if tr.inflight[0] != 0 || tr.active != 0 {
		t.Errorf("after both requests: %d in flight for the piece, %d in all; want none", tr.inflight[0], tr.active)
	}
}

// A node picks neighbours until Options.Neighbours peers read its have
// stream, not only until one does: its readers are the peers that ask it
// for pieces. A node that falls a piece or two behind is let go by the
// peers it has nothing for, and caught up it was read by as few as 2 to
// 6 peers against 12 to 19 for the rest: in a swarm of 32 at 10 Mbit/s
// its uplink sent at a quarter to two thirds of its rate for the rest of
// the pull, while it was needed whole.
func TestFewReadersPicksMore(t *testing.T) {
	have := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // a have stream that tells nothing and stays open
	}))
	t.Cleanup(have.Close)
	const want, stall = 4, 8 * time.Second
	n, tr := nodeTransfer(t, Options{Neighbours: want, StallTimeout: stall}, payload(1<<20), 256<<10)
	ctx, cancel := context.WithCancel(t.Context())
	defer n.stopTasks()
	defer cancel()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.fetcher = "fetcher"
	for _, id := range []string{"fetcher", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14"} {
		tr.members[id] = tracker.Peer{ID: id, Addr: have.Listener.Addr().String()}
	}
	tr.pickNeighbours(ctx)
	if got := len(tr.neighbours); got != want {
		t.Fatalf("%d neighbours after the first pick, the fetcher among them; want %d", got, want)
	}
	pick := func(readers ...string) int {
		tr.watchers = map[string]int{"fetcher": 1}
		for _, id := range readers {
			tr.watchers[id] = 1
		}
		tr.picked = time.Now().Add(-stall / 4)
		before := len(tr.neighbours)
		tr.pickNeighbours(ctx)
		return len(tr.neighbours) - before
	}
	if got := pick("p1", "p2"); got != 1 {
		t.Errorf("read by 2 peers and the fetcher, %d more neighbours picked; want 1 (%d readers wanted)", got, want)
	}
	if got := pick("p1", "p2", "p3", "p4"); got != 0 {
		t.Errorf("read by %d peers, %d more neighbours picked; want none", want, got)
	}
	for range 3 * want {
		pick("p1")
	}
	if got := len(tr.neighbours); got != 3*want {
		t.Errorf("%d neighbours after many picks read by one peer; want the bound, %d", got, 3*want)
	}
}

// A have stream that the swarm's fetcher reads says at most a line each
// fetcherHaves, with the pieces verified meanwhile; another peer's says
// each piece as it lands. At 32 nodes on 10 Mbit/s a line for each piece
// to the fetcher took from its downlink, which carries the origin stream,
// 0.4 s of every node's pull (the fetcher's stream ended at 1.076-1.082
// S/B in 16 runs with a line a second, 1.084-1.087 in 11 with a line a
// piece).
func TestFetcherReadsFewerHaveLines(t *testing.T) {
	const pieces, every = 10, 100 * time.Millisecond
	_, tr := nodeTransfer(t, Options{}, payload(pieces<<18), 256<<10)
	tr.mu.Lock()
	tr.fetcher = "fetcher"
	tr.mu.Unlock()
	srv := httptest.NewServer(http.HandlerFunc(tr.serveHave))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	read := func(peer string) <-chan []Have {
		out := make(chan []Have, 1)
		resp, err := openHave(ctx, srv.URL, peer, "")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			var lines []Have
			for dec := json.NewDecoder(resp.Body); ; {
				var h Have
				if dec.Decode(&h) != nil {
					out <- lines
					return
				}
				lines = append(lines, h)
			}
		}()
		return out
	}
	fromFetcher, fromPeer := read("fetcher"), read("p1")
	for i := range pieces {
		time.Sleep(every)
		tr.mu.Lock()
		tr.state[i] = verified
		tr.logVerified(i)
		tr.signal()
		tr.mu.Unlock()
	}
	time.Sleep(fetcherHaves + 3*every) // the last line to the fetcher
	cancel()
	told := func(lines []Have) int {
		n := 0
		for _, h := range lines {
			n += len(h.Pieces)
		}
		return n
	}
	f, p := <-fromFetcher, <-fromPeer
	t.Logf("%d pieces landed %v apart: %d lines to the fetcher, %d to another peer", pieces, every, len(f), len(p))
	if told(f) != pieces || told(p) != pieces {
		t.Fatalf("told the fetcher %d pieces, the other peer %d; want every one, %d", told(f), told(p), pieces)
	}
	if len(f) > 3 {
		t.Errorf("%d lines to the fetcher in %v; want at most 3, a line each %v", len(f), pieces*every+fetcherHaves, fetcherHaves)
	}
	if len(p) < pieces-2 {
		t.Errorf("%d lines to another peer for %d pieces %v apart; want a line a piece", len(p), pieces, every)
	}
}

// A have stream answers at once, before the node holds any piece: its
// reader waits Options.HTTP's response header timeout (10 s by default)
// for the answer, then drops the neighbour. The stream used to say
// nothing, headers included, until its first line: in a swarm whose
// first pieces take longer than that to come (large pieces on a slow
// link), every node let its neighbours go as they joined.
func TestHaveStreamAnswersAtOnce(t *testing.T) {
	_, tr := nodeTransfer(t, Options{}, payload(1<<20), 256<<10)
	srv := httptest.NewServer(http.HandlerFunc(tr.serveHave))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	resp, err := openHave(ctx, srv.URL, "p1", "")
	if err != nil {
		t.Fatalf("a have stream of a node holding no piece: %v; want its answer at once", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a have stream answered %s; want 200", resp.Status)
	}
}

// A have stream does not tell its reader the pieces the reader told the
// node it holds, when both ends are the transfers they were: at 32 nodes
// on 10 Mbit/s a node was read by 24 peers on average and sent 4,300
// lines a pull, each a packet of its own and an ACK back, a third of
// them of pieces their reader held. A reader whose transfer is another
// (it restarted while its old stream lingers) is told everything, and so
// is the fetcher, which learns from the lines whether its pieces spread.
func TestHaveStreamSkipsWhatReaderHolds(t *testing.T) {
	_, tr := nodeTransfer(t, Options{}, payload(1<<20), 256<<10)
	tr.mu.Lock()
	tr.fetcher = "fetcher"
	for _, id := range []string{"p1", "fetcher"} {
		nb := &neighbour{id: id, token: "T-" + id, has: make([]bool, len(tr.state)), refused: make([]bool, len(tr.state)), requesting: map[int]time.Time{}}
		nb.has[0], nb.has[1] = true, true
		tr.neighbours[id] = nb
	}
	for i := range tr.state {
		tr.state[i] = verified
		tr.logVerified(i)
	}
	tr.signal()
	tr.mu.Unlock()
	srv := httptest.NewServer(http.HandlerFunc(tr.serveHave))
	t.Cleanup(srv.Close)
	first := func(peer, token string) []int {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		resp, err := openHave(ctx, srv.URL, peer, token)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if got := resp.Header.Get(transferHeader); got != tr.token || got == "" {
			t.Errorf("the stream names the transfer %q; want %q", got, tr.token)
		}
		var h Have
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("the first line to %s: %v", peer, err)
		}
		return h.Pieces
	}
	for _, c := range []struct {
		peer, token string
		want        []int
	}{
		{"p1", "T-p1", []int{2, 3}},
		{"p1", "another", []int{0, 1, 2, 3}},
		{"p1", "", []int{0, 1, 2, 3}},
		{"fetcher", "T-fetcher", []int{0, 1, 2, 3}},
		{"p2", "T-p2", []int{0, 1, 2, 3}},
	} {
		if got := first(c.peer, c.token); !slices.Equal(got, c.want) {
			t.Errorf("%s (transfer %q) holding pieces 0 and 1 was told %v; want %v", c.peer, c.token, got, c.want)
		}
	}
}

// A peer that served a corrupt piece of one blob is asked for nothing
// more, of any blob: ban drops it from every transfer it is a neighbour
// of, not only from the one that found the piece (which went on asking it
// for pieces of the others until one of those failed too).
func TestBanDropsEverywhere(t *testing.T) {
	n, a := nodeTransfer(t, Options{}, make([]byte, 1<<20), 256<<10)
	b, err := n.newTransfer(digest.FromString("another blob"), 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.file.Close() })
	b.mu.Lock()
	b.setLayout(tracker.Layout{Size: 2 << 20, PieceSize: 256 << 10})
	b.mu.Unlock()
	n.mu.Lock()
	n.transfers[a.d], n.transfers[b.d] = a, b
	n.mu.Unlock()
	liars := map[*transfer]*neighbour{}
	for _, tr := range []*transfer{a, b} {
		ctx, stop := context.WithCancel(t.Context())
		tr.mu.Lock()
		nb := &neighbour{id: "liar", has: make([]bool, len(tr.state)), refused: make([]bool, len(tr.state)), ctx: ctx, stop: stop, requesting: map[int]time.Time{}}
		tr.neighbours[nb.id], liars[tr] = nb, nb
		honest := &neighbour{id: "honest", has: make([]bool, len(tr.state)), refused: make([]bool, len(tr.state)), ctx: t.Context(), stop: func() {}, requesting: map[int]time.Time{}}
		tr.neighbours[honest.id] = honest
		tr.mu.Unlock()
	}

	n.ban("liar") // a corrupt piece of a
	for tr, nb := range liars {
		tr.mu.Lock()
		_, still := tr.neighbours["liar"]
		_, honest := tr.neighbours["honest"]
		tr.mu.Unlock()
		if still || nb.ctx.Err() == nil {
			t.Errorf("blob %s: the banned peer is still a neighbour (its requests not cancelled)", tr.d)
		}
		if !honest {
			t.Errorf("blob %s: the honest neighbour was dropped too", tr.d)
		}
	}
	if !n.isBanned("liar") || n.isBanned("honest") {
		t.Error("the ban was not kept for the peer it names only")
	}
}

// A banned peer is served nothing more: its have streams end as it is
// banned, and its new requests, for pieces or have streams, are refused
// 403. A node that banned a liar used to keep serving it: the liar's
// stream told it which pieces to ask for, and a super-seeding fetcher
// could even offer it a new piece, held back from every other node until
// the offer timed out.
func TestBannedPeerServedNothing(t *testing.T) {
	b := payload(1 << 20)
	n, tr := nodeTransfer(t, Options{}, b, 256<<10)
	if _, err := tr.file.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	for i := range tr.state {
		tr.state[i] = verified
		tr.logVerified(i)
	}
	tr.signal()
	tr.mu.Unlock()
	n.mu.Lock()
	n.transfers[tr.d] = tr
	n.mu.Unlock()
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	haveURL := srv.URL + blobsPath + tr.d.String() + "/have"

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	stream, err := openHave(ctx, haveURL, "liar", "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	dec := json.NewDecoder(stream.Body)
	var h Have
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("the liar's have stream before the ban: %v", err)
	}
	n.ban("liar")
	ended := make(chan error, 1)
	go func() { ended <- dec.Decode(&h) }()
	select {
	case err := <-ended:
		if err == nil {
			t.Errorf("the banned peer's have stream went on: %+v", h)
		}
	case <-time.After(2 * time.Second):
		t.Error("the banned peer's have stream was still open 2 s after the ban")
	}

	for _, c := range []struct {
		peer, path, rng string
		want            int
	}{
		{"liar", "/have", "", http.StatusForbidden},
		{"liar", "", "bytes=0-262143", http.StatusForbidden},
		{"honest", "", "bytes=0-262143", http.StatusPartialContent},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+blobsPath+tr.d.String()+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(peerHeader, c.peer)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s asking for %s%s: %s; want %d", c.peer, tr.d, c.path, resp.Status, c.want)
		}
	}
}
