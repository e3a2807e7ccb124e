package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/p2p/tracker/redistest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// replica is a tracker replica on a shared log, serving on srv.
type replica struct {
	tr     *tracker.Tracker
	srv    *httptest.Server
	log    *killable
	cancel context.CancelFunc
}

// killable is a shared log a test can cut, as a crash of its replica
// would: nothing it appends reaches the log any more.
type killable struct {
	tracker.SharedLog
	dead atomic.Bool
}

var errKilled = errors.New("killed")

func (k *killable) Append(ctx context.Context, b []byte) (uint64, error) {
	if k.dead.Load() {
		return 0, errKilled
	}
	return k.SharedLog.Append(ctx, b)
}

func newReplica(t testing.TB, redisURL string, opts tracker.Options) *replica {
	t.Helper()
	rl, err := tracker.OpenRedis(redisURL, tracker.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	r := &replica{log: &killable{SharedLog: rl}}
	opts.Shared = r.log
	if opts.ReplicaTimeout == 0 {
		opts.ReplicaTimeout = time.Second
	}
	r.tr = tracker.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	done := make(chan struct{})
	go func() { r.tr.Run(ctx); close(done) }()
	r.srv = httptest.NewServer(r.tr)
	t.Cleanup(func() { r.srv.Close(); cancel(); <-done })
	waitFor(t, "replica ready", func() bool { return r.tr.Healthy() == nil })
	return r
}

// kill stops r as a crash would: it appends nothing more, reads nothing,
// answers nothing.
func (r *replica) kill() {
	r.log.dead.Store(true)
	r.cancel()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Agents announcing to two replicas on one Redis join one swarm: one
// fetcher, its publications pushed to the members of both replicas, and
// a late joiner on either gets the swarm as it stands.
func TestReplicasShareSwarms(t *testing.T) {
	rs := redistest.Start(t)
	A, B := newReplica(t, rs.URL, tracker.Options{}), newReplica(t, rs.URL, tracker.Options{})
	a, b, c := connect(t, A.srv.URL, "a"), connect(t, B.srv.URL, "b"), connect(t, A.srv.URL, "c")
	for _, p := range []*peer{a, b, c} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	for _, p := range []*peer{a, b, c} {
		p.expect(fetcherIs("a", 1), "fetcher a")
	}
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout, Pieces: []tracker.PieceHash{{Index: 0, Hash: hash(0)}}}}})
	for _, p := range []*peer{b, c} {
		p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout && *ev.Layout == layout }, "layout")
		p.expect(func(ev tracker.Event) bool {
			return ev.Type == tracker.EventPiece && len(ev.Pieces) == 1 && ev.Pieces[0].Hash == hash(0)
		}, "piece")
	}
	d := connect(t, B.srv.URL, "d")
	d.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	expectMembers(t, d, "d4 a1 b2 c3")
	d.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece && len(ev.Pieces) == 1 }, "pieces")
	d.expect(fetcherIs("a", 1), "fetcher")
	waitFor(t, "both replicas agree", func() bool {
		sa, _ := A.tr.Swarm(blob)
		sb, _ := B.tr.Swarm(blob)
		return cmp.Equal(sa, sb) && len(sa.Members) == 4
	})
	// An agent behind a Service may open its stream at one replica and
	// announce at the other, at once.
	e := connect(t, A.srv.URL, "e")
	viaB := &tracker.Client{URL: B.srv.URL, Peer: "e"}
	if err := viaB.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob}}}); err != nil {
		t.Fatalf("announce at the other replica: %v", err)
	}
	e.expect(fetcherIs("a", 1), "fetcher, for a member that announced at the other replica")
	// A member leaving through B is gone for the members on A.
	b.announce(tracker.Announce{Leave: []digest.Digest{blob}})
	c.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventGone && ev.Peer.ID == "b" }, "b gone")
}

// Many agents spread over two replicas joining at once get one fetcher
// lease between them; when it runs out, both replicas pass it on at once
// (their periodic checks, and more calls racing them) and it is passed on
// once.
func TestReplicasOneLease(t *testing.T) {
	rs := redistest.Start(t)
	opts := tracker.Options{LeaseTimeout: 2 * time.Second}
	A, B := newReplica(t, rs.URL, opts), newReplica(t, rs.URL, opts)
	var peers []*peer
	for i := range 16 {
		url := A.srv.URL
		if i%2 == 1 {
			url = B.srv.URL
		}
		peers = append(peers, connect(t, url, fmt.Sprint("p", i)))
	}
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			if err := p.c.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob}}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	joined := time.Now()
	fetchers := map[string]bool{}
	for _, p := range peers {
		ev := p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventFetcher }, "fetcher")
		if ev.Lease != 1 {
			t.Fatalf("%s: lease %d, want 1", p.c.Peer, ev.Lease)
		}
		fetchers[ev.Fetcher] = true
	}
	if len(fetchers) != 1 {
		t.Fatalf("fetchers %v, want one", fetchers)
	}
	time.Sleep(time.Until(joined.Add(opts.LeaseTimeout + 100*time.Millisecond)))
	for range 4 {
		wg.Go(func() { A.tr.Expire(time.Now()) })
		wg.Go(func() { B.tr.Expire(time.Now()) })
	}
	wg.Wait()
	for _, p := range peers {
		ev := p.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventFetcher }, "next fetcher")
		if ev.Lease != 2 {
			t.Fatalf("%s: lease %d after lease 1 ran out, want 2", p.c.Peer, ev.Lease)
		}
		fetchers[ev.Fetcher] = true
	}
	sa, _ := A.tr.Swarm(blob)
	sb, _ := B.tr.Swarm(blob)
	if len(fetchers) != 2 || sa.Lease != 2 || sb.Lease != 2 || sa.Fetcher != sb.Fetcher {
		t.Fatalf("fetchers %v; replica A: %s under lease %d, B: %s under lease %d; want one takeover", fetchers, sa.Fetcher, sa.Lease, sb.Fetcher, sb.Lease)
	}
}

// When a replica dies without a word, the other ends the sessions it
// served once it has been silent for ReplicaTimeout: the dead replica's
// fetcher is gone, and the next member takes over.
func TestReplicaDies(t *testing.T) {
	rs := redistest.Start(t)
	A, B := newReplica(t, rs.URL, tracker.Options{}), newReplica(t, rs.URL, tracker.Options{})
	a, b := connect(t, A.srv.URL, "a"), connect(t, B.srv.URL, "b")
	a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	b.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	b.expect(fetcherIs("a", 1), "fetcher a")
	A.kill()
	b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventGone && ev.Peer.ID == "a" }, "a gone")
	b.expect(fetcherIs("b", 2), "fetcher b")
}

// With Redis down the tracker says so on its health and cuts its streams;
// when Redis comes back (empty), it serves again and the agents announce
// again.
func TestRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	A := newReplica(t, rs.URL, tracker.Options{})
	a := connect(t, A.srv.URL, "a")
	a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	rs.Stop()
	waitFor(t, "unhealthy", func() bool { return A.tr.Healthy() != nil })
	t.Logf("health: %v", A.tr.Healthy())
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a tracker whose Redis is down stays open")
	}
	rs.Restart(t)
	waitFor(t, "healthy again", func() bool { return A.tr.Healthy() == nil })
	// The replica may find entries missing only after it said it was
	// healthy (the log it reads was emptied under it): it loads the state
	// again and cuts its streams. An agent then reconnects and announces
	// again, and so does this test, three times at most.
	for attempt := 1; ; attempt++ {
		a = connect(t, A.srv.URL, "a")
		err := a.c.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
		if err == nil {
			_, err = a.await(func(ev tracker.Event) bool { return ev.Type == tracker.EventFetcher && ev.Fetcher == "a" })
		}
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("fetcher a, after %d connections: %v", attempt, err)
		}
		t.Logf("connection %d: %v; again", attempt, err)
		a.cancel()
	}
}

// A replica that starts late learns the state from the snapshot and the
// log after it, though the log was trimmed.
func TestReplicaJoinsLate(t *testing.T) {
	rs := redistest.Start(t)
	A := newReplica(t, rs.URL, tracker.Options{SnapshotEvery: 5})
	var peers []*peer
	for i := range 12 {
		p := connectAs(t, A.srv.URL, fmt.Sprint("p", i), i == 3 || i == 11)
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
		peers = append(peers, p)
	}
	peers[0].announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout, Pieces: []tracker.PieceHash{{Index: 1, Hash: hash(1)}}}}})
	// The last to join, the second leaf, leaves: the late replica, which learns
	// the swarm from a snapshot, still gives the next member and the next
	// leaf the same places (leaves are counted apart).
	peers[11].announce(tracker.Announce{Leave: []digest.Digest{blob}})
	for _, p := range peers[1:6] { // entries enough for a snapshot since
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	B := newReplica(t, rs.URL, tracker.Options{SnapshotEvery: 5})
	waitFor(t, "the late replica agrees", func() bool {
		sa, _ := A.tr.Swarm(blob)
		sb, _ := B.tr.Swarm(blob)
		return cmp.Equal(sa, sb)
	})
	late := connect(t, B.srv.URL, "late")
	late.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	if m := late.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer }, "its place").Peer; m.ID != "late" || m.Seq != 11 {
		t.Errorf("the late member was told first of %s at %d, want itself at 11", m.ID, m.Seq)
	}
	leaf := connectAs(t, B.srv.URL, "late-leaf", true)
	leaf.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	if m := leaf.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer }, "its place").Peer; m.ID != "late-leaf" || m.Seq != 3 {
		t.Errorf("the late leaf was told first of %s at %d, want itself at 3", m.ID, m.Seq)
	}
	late.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece && len(ev.Pieces) == 1 }, "pieces")
	late.expect(fetcherIs("p0", 1), "fetcher")
	waitFor(t, "both replicas agree on the late member", func() bool {
		sa, _ := A.tr.Swarm(blob)
		sb, _ := B.tr.Swarm(blob)
		return cmp.Equal(sa, sb) && len(sa.Members) == 13
	})
	// A leaf's session, learnt from the snapshot, keeps it a leaf in a
	// swarm it joins at the late replica.
	viaB := &tracker.Client{URL: B.srv.URL, Peer: "p3"}
	if err := viaB.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{{Digest: blob2}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p3 a member of a second swarm", func() bool {
		sw, _ := B.tr.Swarm(blob2)
		return len(sw.Members) == 1
	})
	if sw, _ := B.tr.Swarm(blob2); !sw.Members[0].Leaf {
		t.Errorf("p3 joined a swarm at the late replica as %+v, want a leaf", sw.Members[0])
	}
}

// When the fetcher's replica dies, the fetcher reconnects to the other
// one and announces again: the lease is the peer's, not its stream's, so
// it keeps it (its publications under it are taken), the other members
// see no takeover, and the dead replica's expiry later changes nothing.
func TestReplicaDiesFetcherKeepsLease(t *testing.T) {
	rs := redistest.Start(t)
	A, B := newReplica(t, rs.URL, tracker.Options{}), newReplica(t, rs.URL, tracker.Options{})
	a, b := connect(t, A.srv.URL, "a"), connect(t, B.srv.URL, "b")
	a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	b.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	b.expect(fetcherIs("a", 1), "fetcher a")
	a.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &layout, Pieces: []tracker.PieceHash{{Index: 0, Hash: hash(0)}}}}})
	b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "piece 0")
	A.kill()
	a2 := connect(t, B.srv.URL, "a") // a's failover
	a2.announce(tracker.Announce{
		Join:    []tracker.Join{{Digest: blob}},
		Publish: []tracker.Publish{{Digest: blob, Lease: 1, Pieces: []tracker.PieceHash{{Index: 1, Hash: hash(1)}}}},
	})
	a2.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPeer && ev.Peer.ID == "b" }, "member b, on a's new stream")
	a2.expect(fetcherIs("a", 1), "a's own lease, on its new stream")
	ev := b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece || ev.Type == tracker.EventFetcher }, "piece 1")
	if ev.Type != tracker.EventPiece || ev.Pieces[0].Index != 1 {
		t.Fatalf("b got %+v, want piece 1 published under a's lease", ev)
	}
	// Past the dead replica's expiry (ReplicaTimeout 1 s), and a little more.
	time.Sleep(2500 * time.Millisecond)
	for more := true; more; {
		select {
		case ev := <-b.events:
			if ev.Type == tracker.EventFetcher || ev.Type == tracker.EventGone {
				t.Fatalf("b got %+v after a failed over: the lease moved", ev)
			}
		default:
			more = false
		}
	}
	if s, _ := B.tr.Swarm(blob); s.Fetcher != "a" || s.Lease != 1 || len(s.Members) != 2 || s.Published != 2 {
		t.Fatalf("swarm %+v, want a fetching under lease 1, two members, two pieces published", s)
	}
}

// A peer that reconnects and does not join the swarm again (it restarted,
// and nobody asks it for the blob any more) keeps its lease only until
// the lease times out: then it leaves the swarm and the next member
// fetches.
func TestReconnectWithoutRejoinExpires(t *testing.T) {
	tr, url := newTracker(t, tracker.Options{LeaseTimeout: time.Minute})
	a, b := connect(t, url, "a"), connect(t, url, "b")
	for _, p := range []*peer{a, b} {
		p.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
	}
	b.expect(fetcherIs("a", 1), "fetcher a")
	connect(t, url, "a")
	if s, _ := tr.Swarm(blob); s.Fetcher != "a" || s.Lease != 1 {
		t.Fatalf("fetcher %q under lease %d once a reconnected, want a under 1", s.Fetcher, s.Lease)
	}
	tr.Expire(time.Now().Add(2 * time.Minute))
	b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventGone && ev.Peer.ID == "a" }, "a gone")
	b.expect(fetcherIs("b", 2), "fetcher b")
	if s, _ := tr.Swarm(blob); len(s.Members) != 1 {
		t.Fatalf("members %+v, want b alone", s.Members)
	}
}

// A replica that stops (Close, as on SIGTERM) cuts its agents' streams:
// a fetcher that comes to the other replica keeps its lease; one that
// does not come back loses it once ReplicaTimeout has passed.
func TestReplicaClosedFetcherKeepsLease(t *testing.T) {
	for _, comesBack := range []bool{true, false} {
		t.Run(fmt.Sprint("comes-back-", comesBack), func(t *testing.T) {
			rs := redistest.Start(t)
			A, B := newReplica(t, rs.URL, tracker.Options{}), newReplica(t, rs.URL, tracker.Options{})
			a, b := connect(t, A.srv.URL, "a"), connect(t, B.srv.URL, "b")
			a.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
			b.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
			b.expect(fetcherIs("a", 1), "fetcher a")
			A.tr.Close()
			select {
			case <-a.done:
			case <-time.After(5 * time.Second):
				t.Fatal("a's stream outlived its replica's Close")
			}
			if !comesBack {
				start := time.Now()
				b.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventGone && ev.Peer.ID == "a" }, "a gone")
				b.expect(fetcherIs("b", 2), "fetcher b")
				if took := time.Since(start); took < 900*time.Millisecond {
					t.Fatalf("a's lease passed on %s after its stream was cut, want it kept for ReplicaTimeout (1 s)", took)
				}
				return
			}
			a2 := connect(t, B.srv.URL, "a")
			a2.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
			a2.expect(fetcherIs("a", 1), "a's own lease, on its new stream")
			time.Sleep(2 * time.Second) // past ReplicaTimeout
			for more := true; more; {
				select {
				case ev := <-b.events:
					if ev.Type == tracker.EventFetcher || ev.Type == tracker.EventGone {
						t.Fatalf("b got %+v after a came back: the lease moved", ev)
					}
				default:
					more = false
				}
			}
			if s, _ := B.tr.Swarm(blob); s.Fetcher != "a" || s.Lease != 1 || len(s.Members) != 2 {
				t.Fatalf("swarm %+v, want a fetching under lease 1 and two members", s)
			}
		})
	}
}
