package tracker_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

var (
	blob  = digest.FromString("a layer")
	blob2 = digest.FromString("another layer")
)

// peer is a test's peer: its stream's events arrive on events.
type peer struct {
	t      testing.TB
	c      *tracker.Client
	events chan tracker.Event
	cancel context.CancelFunc
	done   chan error
}

func connect(t testing.TB, url, id string) *peer {
	t.Helper()
	return connectAs(t, url, id, false)
}

// connectAs connects a peer that is a leaf of trees (tracker.Peer.Leaf) or not.
func connectAs(t testing.TB, url, id string, leaf bool) *peer {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	p := &peer{
		t:      t,
		c:      &tracker.Client{URL: url, Peer: id, Addr: "127.0.0.1:1" + fmt.Sprint(len(id)), Leaf: leaf},
		events: make(chan tracker.Event, 1000),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { p.done <- p.c.Stream(ctx, func(ev tracker.Event) { p.events <- ev }) }()
	p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventHello }, "hello")
	t.Cleanup(cancel)
	return p
}

func (p *peer) announce(a tracker.Announce) {
	p.t.Helper()
	if err := p.c.Announce(p.t.Context(), a); err != nil {
		p.t.Fatal(err)
	}
}

// expect waits for an event that match accepts, skipping others.
func (p *peer) expect(match func(tracker.Event) bool, what string) tracker.Event {
	p.t.Helper()
	ev, err := p.await(match)
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return ev
}

// await waits for an event that match accepts, skipping others, and
// returns an error if the stream ends or none comes within 10 s.
func (p *peer) await(match func(tracker.Event) bool) (tracker.Event, error) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-p.events:
			if match(ev) {
				return ev, nil
			}
		case err := <-p.done:
			return tracker.Event{}, fmt.Errorf("the stream of %s ended: %v", p.c.Peer, err)
		case <-timeout:
			return tracker.Event{}, fmt.Errorf("%s got no such event", p.c.Peer)
		}
	}
}

func fetcherIs(id string, lease uint64) func(tracker.Event) bool {
	return func(ev tracker.Event) bool {
		return ev.Type == tracker.EventFetcher && ev.Fetcher == id && ev.Lease == lease
	}
}

func newTracker(t *testing.T, opts tracker.Options) (*tracker.Tracker, string) {
	tr := tracker.New(opts)
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)
	return tr, srv.URL
}

func hash(i int) digest.Digest { return digest.FromString(fmt.Sprint("piece ", i)) }

var layout = tracker.Layout{Size: 3 << 20, PieceSize: 1 << 20}

// A cold herd forms one swarm with one fetcher; its publications reach
// every member, and a member that joins late gets them on joining.
func TestColdHerd(t *testing.T) {
	_, url := newTracker(t, tracker.Options{})
	a, b, c := connect(t, url, "a"), connect(t, url, "b"), connect(t, url, "c")
	for _, p := range []*peer{a, b, c} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	for _, p := range []*peer{a, b, c} {
		p.expect(fetcherIs("a", 1), "fetcher a")
	}
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout, Pieces: []tracker.PieceHash{{Index: 0, Hash: hash(0)}}}}})
	for _, p := range []*peer{b, c} {
		ev := p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout }, "layout")
		if *ev.Layout != layout {
			t.Fatalf("layout %+v, want %+v", *ev.Layout, layout)
		}
		ev = p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "piece")
		if len(ev.Pieces) != 1 || ev.Pieces[0].Hash != hash(0) {
			t.Fatalf("pieces %+v", ev.Pieces)
		}
	}
	// A late joiner gets the swarm as it stands: its own place, then the
	// members in the order they joined.
	d := connect(t, url, "d")
	d.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, d, "d4 a1 b2 c3")
	d.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout }, "layout")
	d.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece && len(ev.Pieces) == 1 }, "pieces")
	d.expect(fetcherIs("a", 1), "fetcher")
}

// expectMembers has p told of members, each an ID and its Peer.Seq ("a1
// b2"), in this order.
func expectMembers(t *testing.T, p *peer, members string) {
	t.Helper()
	var got []string
	for range strings.Fields(members) {
		m := p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer }, "members").Peer
		got = append(got, fmt.Sprint(m.ID, m.Seq))
	}
	if strings.Join(got, " ") != members {
		t.Fatalf("%s was told of members %q, want %q", p.c.Peer, got, members)
	}
}

// A swarm's members are told of each other in the order they joined, and
// each of its place in it: one that leaves and joins again comes last.
func TestJoinOrder(t *testing.T) {
	_, url := newTracker(t, tracker.Options{})
	a, b, c := connect(t, url, "a"), connect(t, url, "b"), connect(t, url, "c")
	a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, a, "a1")
	b.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, b, "b2 a1")
	expectMembers(t, a, "b2")
	c.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, c, "c3 a1 b2")
	expectMembers(t, a, "c3")
	a.announce(tracker.Announce{Leave: []digest.Digest{blob}})
	a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, a, "a4 b2 c3")
	expectMembers(t, b, "c3 a4")
}

// A peer whose stream asked to be a leaf of trees is one in every swarm
// it joins, as it and the others are told. Leaves and the others are
// counted apart (Peer.Seq): a member that joined and left leaves a gap
// in its own count, and a member that joins later can tell whose place
// it was.
func TestLeafPeers(t *testing.T) {
	tr, url := newTracker(t, tracker.Options{})
	a, b, c := connect(t, url, "a"), connectAs(t, url, "b", true), connect(t, url, "c")
	for _, p := range []*peer{a, b, c} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	seqs := map[string]uint64{"a": 1, "b": 1, "c": 2}
	for _, p := range []*peer{a, b, c} {
		for range 3 {
			m := p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer }, "members").Peer
			if m.Leaf != (m.ID == "b") {
				t.Errorf("%s was told %s is a leaf: %v", p.c.Peer, m.ID, m.Leaf)
			}
			if m.Seq != seqs[m.ID] {
				t.Errorf("%s was told %s has place %d, want %d", p.c.Peer, m.ID, m.Seq, seqs[m.ID])
			}
		}
	}
	sw, _ := tr.Swarm(blob)
	for _, m := range sw.Members {
		if m.Leaf != (m.ID == "b") {
			t.Errorf("the swarm has %s a leaf: %v", m.ID, m.Leaf)
		}
	}
}

// When the fetcher's stream ends, the next member takes over with a new
// lease; what the old lease publishes is ignored, and a published hash is
// never replaced.
func TestFetcherTakeover(t *testing.T) {
	tr, url := newTracker(t, tracker.Options{})
	a, b, c := connect(t, url, "a"), connect(t, url, "b"), connect(t, url, "c")
	for _, p := range []*peer{a, b, c} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout, Pieces: []tracker.PieceHash{{Index: 0, Hash: hash(0)}}}}})
	a.cancel() // the fetcher dies
	for _, p := range []*peer{b, c} {
		p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventGone && ev.Peer.ID == "a" }, "a gone")
		p.expect(fetcherIs("b", 2), "fetcher b")
	}
	b.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Pieces: []tracker.PieceHash{{Index: 1, Hash: hash(1)}}}}})
	b.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 2, Pieces: []tracker.PieceHash{{Index: 0, Hash: hash(9)}, {Index: 2, Hash: hash(2)}}}}})
	ev := c.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "piece")
	if len(ev.Pieces) != 1 || ev.Pieces[0] != (tracker.PieceHash{Index: 2, Hash: hash(2)}) {
		t.Fatalf("pieces %+v, want only piece 2 (piece 1 came under an old lease, piece 0 was published)", ev.Pieces)
	}
	if s, _ := tr.Swarm(blob); s.Published != 2 {
		t.Fatalf("%d pieces published, want 2", s.Published)
	}
	// A complete member ends the need for a fetcher.
	b.announce(tracker.Announce{Complete: []digest.Digest{blob}})
	c.expect(fetcherIs("", 3), "no fetcher")
	// The swarm goes when its last member does.
	b.announce(tracker.Announce{Leave: []digest.Digest{blob}})
	c.announce(tracker.Announce{Leave: []digest.Digest{blob}})
	if _, ok := tr.Swarm(blob); ok {
		t.Fatal("swarm kept after every member left")
	}
}

// A restarted tracker learns a swarm again from the peers' re-announces: a
// complete member brings the layout and the hashes.
func TestRestartReannounce(t *testing.T) {
	_, url := newTracker(t, tracker.Options{})
	seed, fresh := connect(t, url, "seed"), connect(t, url, "fresh")
	ps := []tracker.PieceHash{{Index: 0, Hash: hash(0)}, {Index: 1, Hash: hash(1)}, {Index: 2, Hash: hash(2)}}
	seed.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob, Complete: true, Layout: &layout, Pieces: ps}}})
	fresh.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	fresh.expect(func(ev tracker.Event) bool {
		return ev.Type == tracker.EventPeer && ev.Peer.ID == "seed" && ev.Peer.Complete
	}, "seed")
	fresh.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout }, "layout")
	ev := fresh.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "pieces")
	if len(ev.Pieces) != 3 {
		t.Fatalf("%d hashes, want 3", len(ev.Pieces))
	}
	fresh.expect(fetcherIs("", 0), "no fetcher while a seed is in the swarm")
}

// A complete member that joins after a fetcher published the layout but
// no hash (its origin is down) brings the hashes of that layout: the swarm
// does not wait for a fetcher that cannot fetch.
func TestCompleteMemberBringsHashesLate(t *testing.T) {
	_, url := newTracker(t, tracker.Options{})
	a, b := connect(t, url, "a"), connect(t, url, "b")
	for _, p := range []*peer{a, b} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	b.expect(fetcherIs("a", 1), "fetcher a")
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout}}})
	b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout }, "layout")
	seed := connect(t, url, "seed")
	ps := []tracker.PieceHash{{Index: 0, Hash: hash(0)}, {Index: 1, Hash: hash(1)}, {Index: 2, Hash: hash(2)}}
	seed.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob, Complete: true, Layout: &layout, Pieces: ps}}})
	ev := b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "the seed's hashes")
	if len(ev.Pieces) != 3 {
		t.Fatalf("%d hashes, want 3", len(ev.Pieces))
	}
	// A complete member with another layout brings nothing: the swarm's
	// members already hold that layout's pieces.
	other := tracker.Layout{Size: layout.Size, PieceSize: layout.PieceSize / 2}
	late := connect(t, url, "late")
	late.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob, Complete: true, Layout: &other, Pieces: ps[:2]}}})
	ev = b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer && ev.Peer.ID == "late" }, "late joins")
	if !ev.Peer.Complete {
		t.Fatal("late is complete")
	}
}

// A peer that does not read its stream is cut rather than buffered
// without bound; one reconnecting replaces its old stream.
func TestSlowAndReconnectingPeers(t *testing.T) {
	tr := tracker.New(tracker.Options{StreamBuffer: 4})
	srv := httptest.NewUnstartedServer(tr)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	url := srv.URL
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	block := make(chan struct{})
	slow, ended := slowPeer(ctx, t, url, block)
	f := connect(t, url, "fetcher")
	flood(t, tr, f, slow)
	close(block)
	cancel()
	<-ended

	// The fetcher goes, and its session ends a moment later: a joining
	// before that would be a plain member, whose place a reconnection
	// does not keep.
	f.cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := tr.Swarm(blob); s.Fetcher != "fetcher" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fetcher's session is still on")
		}
	}
	a1 := connect(t, url, "a")
	a1.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	a2 := connect(t, url, "a")
	if err := <-a1.done; err == nil || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("old stream of a reconnecting peer: %v, want it ended", err)
	}
	// Its lease is its own: it stays the fetcher, and its new stream
	// hears so once it joins again.
	if s, _ := tr.Swarm(blob); s.Fetcher != "a" || len(s.Members) != 1 {
		t.Fatalf("swarm %+v once a reconnected, want a still its fetcher", s)
	}
	a2.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	lease := a2.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventFetcher }, "fetcher")
	if s, _ := tr.Swarm(blob); lease.Fetcher != "a" || lease.Lease != s.Lease {
		t.Fatalf("a's new stream: fetcher %q under lease %d, want a under %d", lease.Fetcher, lease.Lease, s.Lease)
	}
}

// smallBuffers gives the connections it accepts small send buffers.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// slowPeer opens the stream of peer "slow" on a connection whose socket
// buffers little: past its hello it reads nothing until block is closed.
// The stream's end comes on the channel returned.
func slowPeer(ctx context.Context, t *testing.T, url string, block chan struct{}) (*tracker.Client, chan error) {
	t.Helper()
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	slow := &tracker.Client{URL: url, Peer: "slow", Addr: "127.0.0.1:2", HTTP: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}}
	hello := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		ended <- slow.Stream(ctx, func(ev tracker.Event) {
			if ev.Type == tracker.EventHello {
				close(hello)
				return
			}
			<-block
		})
	}()
	<-hello
	return slow, ended
}

// flood has f join blob's swarm, as its fetcher, and slow after it; then
// f publishes a megabyte of hashes and more events than the tracker
// queues for a peer. It waits until slow, which reads none of them, is
// out of the swarm.
func flood(t *testing.T, tr *tracker.Tracker, f *peer, slow *tracker.Client) {
	t.Helper()
	f.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	if err := slow.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob}}}); err != nil {
		t.Fatal(err)
	}
	big := tracker.Layout{Size: tracker.MaxPieces * tracker.MinPieceSize, PieceSize: tracker.MinPieceSize}
	f.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &big}}})
	for batch := 0; batch < 2*8192; batch += 8192 {
		var ps []tracker.PieceHash
		for i := batch; i < batch+8192; i++ {
			ps = append(ps, tracker.PieceHash{Index: i, Hash: blob})
		}
		f.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Pieces: ps}}})
	}
	for i := range 10 {
		f.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Pieces: []tracker.PieceHash{{Index: 2*8192 + i, Hash: blob}}}}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := tr.Swarm(blob)
		cut := true
		for _, m := range s.Members {
			cut = cut && m.ID != "slow"
		}
		if cut {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow peer is still in the swarm")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The handler of a stream whose peer stopped reading returns once a write
// to it has waited for Options.WriteTimeout, though the peer holds the
// connection open: no goroutine and no connection stay with a frozen
// agent. (The tracker cut its session at once, but the stream's handler
// stayed blocked in its write for as long as the connection lived.)
func TestFrozenStreamLetsItsHandlerGo(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tr := tracker.New(tracker.Options{StreamBuffer: 4, WriteTimeout: timeout})
	returned := make(chan string, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.ServeHTTP(w, r)
		if r.URL.Path == tracker.StreamPath {
			returned <- r.URL.Query().Get("peer")
		}
	}))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	block := make(chan struct{})
	defer close(block) // before the server's Close, which waits for the handlers
	slow, _ := slowPeer(t.Context(), t, srv.URL, block)
	flood(t, tr, connect(t, srv.URL, "fetcher"), slow)
	select {
	case p := <-returned:
		if p != "slow" {
			t.Fatalf("the stream of %s ended, want slow's", p)
		}
	case <-time.After(10 * timeout):
		t.Fatalf("the slow peer's stream handler has not returned %v after its cut (write timeout %v)", 10*timeout, timeout)
	}
}

// Announces that cannot be taken are refused with 400, or 409 without a
// stream, and change nothing.
func TestBadAnnounces(t *testing.T) {
	tr, url := newTracker(t, tracker.Options{MaxAnnounceBytes: 4096})
	connect(t, url, "a")
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"not json", "{", http.StatusBadRequest},
		{"bad peer", `{"peer":""}`, http.StatusBadRequest},
		{"no stream", `{"peer":"b","join":[{"digest":"` + blob.String() + `"}]}`, http.StatusConflict},
		{"bad digest", `{"peer":"a","join":[{"digest":"sha256:abc"}]}`, http.StatusBadRequest},
		{"bad layout", `{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"layout":{"size":10,"pieceSize":1}}]}`, http.StatusBadRequest},
		{"head past the blob", `{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"layout":{"size":131072,"pieceSize":1048576,"headPieceSize":65536,"headPieces":3}}]}`, http.StatusBadRequest},
		{"bad piece", `{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"pieces":[{"index":-1,"hash":"` + blob.String() + `"}]}]}`, http.StatusBadRequest},
		{"too large", `{"peer":"a","leave":["` + strings.Repeat(blob.String()+`","`, 100) + `"]}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(url+tracker.AnnouncePath, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if _, ok := tr.Swarm(blob); ok {
				t.Fatal("a refused announce made a swarm")
			}
		})
	}
}

// A fetcher that publishes nothing for the lease timeout loses its lease
// to the next member, and gets it back only when every member had a turn.
func TestLeaseExpires(t *testing.T) {
	tr, url := newTracker(t, tracker.Options{LeaseTimeout: time.Minute})
	a, b := connect(t, url, "a"), connect(t, url, "b")
	for _, p := range []*peer{a, b} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	b.expect(fetcherIs("a", 1), "fetcher a")
	now := time.Now()
	tr.Expire(now.Add(30 * time.Second))
	if s, _ := tr.Swarm(blob); s.Fetcher != "a" {
		t.Fatalf("fetcher %q before its lease ran out, want a", s.Fetcher)
	}
	tr.Expire(now.Add(2 * time.Minute))
	a.expect(fetcherIs("b", 2), "fetcher b")
	// A publication under the lost lease is ignored.
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout}}})
	if s, _ := tr.Swarm(blob); s.Layout != nil {
		t.Fatal("a layout published under an expired lease was taken")
	}
	tr.Expire(now.Add(4 * time.Minute))
	b.expect(fetcherIs("a", 3), "fetcher a again")
}

// A client given several trackers leaves one that goes silent without
// closing the connection (a host gone) after its IdleTimeout, and streams
// from the next; a tracker pings an idle stream, so a live one is kept.
func TestClientFailover(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"type":"hello"}` + "\n"))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	tr := tracker.New(tracker.Options{PingInterval: 50 * time.Millisecond})
	live := httptest.NewServer(tr)
	t.Cleanup(live.Close)
	c := &tracker.Client{URL: silent.URL + "," + live.URL, Peer: "a", Addr: "127.0.0.1:1", IdleTimeout: 300 * time.Millisecond}
	start := time.Now()
	err := c.Stream(t.Context(), func(tracker.Event) {})
	if err == nil || !strings.Contains(err.Error(), "nothing came") {
		t.Fatalf("stream from a silent tracker: %v, want it ended for silence", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("left a silent tracker after %s, want about 300ms", took)
	}
	if c.Current() != live.URL {
		t.Fatalf("next replica %s, want %s", c.Current(), live.URL)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	pings := 0
	if err := c.Stream(ctx, func(ev tracker.Event) {
		if ev.Type == tracker.EventPing {
			pings++
		}
	}); err != nil {
		t.Fatalf("stream from a live, idle tracker: %v", err)
	}
	if pings < 5 {
		t.Fatalf("%d pings in a second, want one every 50ms", pings)
	}
	// Announces go to the replica streamed from.
	hello := make(chan struct{}, 1)
	go func() {
		_ = c.Stream(t.Context(), func(ev tracker.Event) {
			if ev.Type == tracker.EventHello {
				hello <- struct{}{}
			}
		})
	}()
	<-hello
	if err := c.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob}}}); err != nil {
		t.Fatal(err)
	}
}

// Close while Run returns (a tracker process stopping on SIGTERM does
// both at once) ends every stream without racing Run's wait for the
// sessions' ends.
func TestCloseWhileRunReturns(t *testing.T) {
	for range 5 {
		tr, url := newTracker(t, tracker.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tr.Run(ctx); close(done) }()
		for i := range 4 {
			p := connect(t, url, fmt.Sprint("p", i))
			p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
		}
		cancel()
		tr.Close()
		<-done
	}
}
