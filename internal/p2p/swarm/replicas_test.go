package swarm_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/p2p/tracker/redistest"
	"github.com/opencontainers/go-digest"
)

// trackerReplica is a tracker replica on a Redis server.
type trackerReplica struct {
	tr     *tracker.Tracker
	srv    *httptest.Server
	cancel context.CancelFunc
	dead   atomic.Bool // set, nothing more reaches the log
}

// crashable is a replica's shared log, which appends nothing once the
// replica crashed.
type crashable struct {
	tracker.SharedLog
	r *trackerReplica
}

func (c crashable) Append(ctx context.Context, b []byte) (uint64, error) {
	if c.r.dead.Load() {
		return 0, errors.New("crashed")
	}
	return c.SharedLog.Append(ctx, b)
}

func startReplica(t *testing.T, redisURL string) *trackerReplica {
	t.Helper()
	rl, err := tracker.OpenRedis(redisURL, tracker.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	r := &trackerReplica{}
	r.tr = tracker.New(tracker.Options{Shared: crashable{rl, r}, LeaseTimeout: 3 * time.Second, ReplicaTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	done := make(chan struct{})
	go func() { r.tr.Run(ctx); close(done) }()
	r.srv = httptest.NewServer(r.tr)
	t.Cleanup(func() { r.srv.Close(); cancel(); <-done })
	waitFor(t, "replica ready", func() bool { return r.tr.Healthy() == nil })
	return r
}

// kill stops the replica as a crash would: its connections cut, nothing
// more from it reaches the log (the others end its sessions once it has
// been silent for a second).
func (r *trackerReplica) kill() {
	r.dead.Store(true)
	r.cancel()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

// shutDown stops the replica as SIGTERM does: Close cuts its streams,
// then the process exits (nothing more from it reaches the log).
func (r *trackerReplica) shutDown() {
	r.tr.Close()
	r.dead.Store(true)
	r.cancel()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

// replicaCluster is n nodes spread over two tracker replicas sharing one
// Redis: the even ones start on A, the odd ones on B, each with both
// replicas to fail over to.
func replicaCluster(t *testing.T, n int, opts swarm.Options) (*cluster, *trackerReplica, *trackerReplica, *redistest.Server) {
	rs := redistest.Start(t)
	A, B := startReplica(t, rs.URL), startReplica(t, rs.URL)
	c := &cluster{t: t}
	for i := range n {
		o := opts
		o.Tracker = A.srv.URL + "," + B.srv.URL
		if i%2 == 1 {
			o.Tracker = B.srv.URL + "," + A.srv.URL
		}
		c.add(o, t.TempDir())
	}
	return c, A, B, rs
}

// Nodes spread over two replicas form one swarm: one origin GET, every
// node reads verified bytes.
func TestReplicasOneOriginFetch(t *testing.T) {
	b := randomBlob(t, 6<<20)
	o := newOrigin(t, b)
	o.delay.Store(int64(2 * time.Millisecond))
	c, A, B, _ := replicaCluster(t, 6, swarm.Options{StallTimeout: 10 * time.Second})
	c.pullAll(b, o, 60*time.Second)
	s := c.stats()
	t.Logf("origin GETs %d, peer bytes %d, fallbacks %d; streams A %d, B %d", o.gets.Load(), s.PeerBytes, s.Fallbacks, A.tr.Stats().Streams, B.tr.Stats().Streams)
	if o.gets.Load() != 1 || s.Fallbacks != 0 {
		t.Fatalf("origin GETs %d, fallbacks %d; want 1 and 0", o.gets.Load(), s.Fallbacks)
	}
	c.waitWhole(digest.FromBytes(b))
}

// A replica killed mid-blob: its nodes go to the other replica, announce
// again, and every node finishes.
func TestReplicaKilledMidBlob(t *testing.T) {
	b := randomBlob(t, 8<<20)
	o := newOrigin(t, b)
	o.delay.Store(int64(4 * time.Millisecond))
	c, A, B, _ := replicaCluster(t, 6, swarm.Options{StallTimeout: 10 * time.Second})
	go func() {
		time.Sleep(300 * time.Millisecond)
		A.kill()
	}()
	start := time.Now()
	c.pullAll(b, o, 60*time.Second)
	s := c.stats()
	t.Logf("took %s; origin GETs %d, origin bytes %d (blob %d), fallbacks %d; streams on B %d", time.Since(start), o.gets.Load(), o.bytes.Load(), len(b), s.Fallbacks, B.tr.Stats().Streams)
	if n := B.tr.Stats().Streams; n != len(c.nodes) {
		t.Fatalf("%d streams on B, want every node's (%d)", n, len(c.nodes))
	}
	c.waitWhole(digest.FromBytes(b))
}

// With Redis down the replicas say so on /healthz's check, and the nodes
// finish from the origin after the stall timeout: nothing hangs.
func TestRedisDownFallback(t *testing.T) {
	b := randomBlob(t, 1<<20)
	o := newOrigin(t, b)
	c, A, B, rs := replicaCluster(t, 4, swarm.Options{StallTimeout: 500 * time.Millisecond})
	rs.Stop()
	waitFor(t, "replicas unhealthy", func() bool { return A.tr.Healthy() != nil && B.tr.Healthy() != nil })
	start := time.Now()
	c.pullAll(b, o, 30*time.Second)
	t.Logf("took %s with Redis down (%v); origin GETs %d, fallbacks %d", time.Since(start), A.tr.Healthy(), o.gets.Load(), c.stats().Fallbacks)
	if c.stats().Fallbacks == 0 {
		t.Fatal("no fallback to the origin")
	}
}

// The fetcher's replica killed, or shut down, mid-blob: the fetcher goes
// to the other replica, announces again and keeps its lease (it is alive,
// and still streaming), so no other node opens a second origin stream;
// every node finishes with the blob's bytes.
func TestFetcherReplicaKilled(t *testing.T) {
	for _, how := range []string{"killed", "shut-down"} {
		t.Run(how, func(t *testing.T) { testFetcherReplicaGone(t, how) })
	}
}

func testFetcherReplicaGone(t *testing.T, how string) {
	b := randomBlob(t, 8<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(5 * time.Millisecond)) // a few seconds for the blob
	c, A, B, _ := replicaCluster(t, 6, swarm.Options{StallTimeout: 20 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := c.startPulls(ctx, b, o)
	var s tracker.Swarm
	waitFor(t, "a quarter of the blob published", func() bool {
		s, _ = A.tr.Swarm(d)
		return s.Layout != nil && s.Published > s.Layout.Pieces()/4
	})
	// The even nodes stream from A, the odd ones from B.
	dead, other := A, B
	for i, m := range c.nodes {
		if m.id == s.Fetcher && i%2 == 1 {
			dead, other = B, A
		}
	}
	if how == "killed" {
		dead.kill()
	} else {
		dead.shutDown()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	after, _ := other.tr.Swarm(d)
	st := c.stats()
	t.Logf("fetcher %s under lease %d, then %q under lease %d; origin GETs %d, origin bytes %d (blob %d), fallbacks %d",
		s.Fetcher, s.Lease, after.Fetcher, after.Lease, o.gets.Load(), o.bytes.Load(), len(b), st.Fallbacks)
	if o.gets.Load() != 1 || st.Fallbacks != 0 {
		t.Fatalf("origin GETs %d, fallbacks %d; want 1 and 0 (the fetcher keeps its lease across replicas)", o.gets.Load(), st.Fallbacks)
	}
	c.waitWhole(d)
}
