package tracker_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/p2p/tracker/redistest"
	"github.com/opencontainers/go-digest"
)

// benchTrackers returns the base URLs of the trackers of a benchmark's
// setup: one in memory, or two replicas on one redis-server.
func benchTrackers(b *testing.B, setup string) []string {
	b.Helper()
	if setup == "memory" {
		tr := tracker.New(tracker.Options{})
		srv := httptest.NewServer(tr)
		b.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		go tr.Run(ctx)
		return []string{srv.URL}
	}
	rs := redistest.Start(b)
	return []string{newReplica(b, rs.URL, tracker.Options{}).srv.URL, newReplica(b, rs.URL, tracker.Options{}).srv.URL}
}

var benchSetups = []string{"memory", "redis-2-replicas"}

// BenchmarkAnnounce measures announce throughput: agents (spread over the
// replicas) announce at once, each joining and leaving a swarm of its own;
// an op is one announce, answered once its replica applied it.
func BenchmarkAnnounce(b *testing.B) {
	for _, setup := range benchSetups {
		b.Run(setup, func(b *testing.B) {
			urls := benchTrackers(b, setup)
			var next atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(1)
				p := connect(b, urls[int(i)%len(urls)], fmt.Sprint("bench", i))
				d := digest.FromString(fmt.Sprint("blob ", i))
				for n := 0; pb.Next(); n++ {
					a := tracker.Announce{Join: []tracker.Join{{Digest: d}}}
					if n%2 == 1 {
						a = tracker.Announce{Leave: []digest.Digest{d}}
					}
					if err := p.c.Announce(context.Background(), a); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHave measures how long a piece hash a fetcher publishes takes
// to reach a member (on the other replica, with two): an op is one
// publication, until the member's stream brings it.
func BenchmarkHave(b *testing.B) {
	for _, setup := range benchSetups {
		b.Run(setup, func(b *testing.B) {
			urls := benchTrackers(b, setup)
			f, m := connect(b, urls[0], "fetcher"), connect(b, urls[len(urls)-1], "member")
			big := tracker.Layout{Size: tracker.MaxPieces * tracker.MinPieceSize, PieceSize: tracker.MinPieceSize}
			f.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
			m.announce(tracker.Announce{Join: []tracker.Join{{Digest: blob}}})
			m.expect(fetcherIs("fetcher", 1), "fetcher")
			f.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Layout: &big}}})
			m.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventLayout }, "layout")
			i := 0
			for b.Loop() {
				f.announce(tracker.Announce{Publish: []tracker.Publish{{Digest: blob, Lease: 1, Pieces: []tracker.PieceHash{{Index: i % tracker.MaxPieces, Hash: blob}}}}})
				if i < tracker.MaxPieces {
					m.expect(func(ev tracker.Event) bool { return ev.Type == tracker.EventPiece }, "piece")
				}
				i++
			}
		})
	}
}

// BenchmarkLease measures the latency of a lease: an agent joins a swarm
// no one is in and waits for its stream to name it the fetcher (with two
// replicas, the join goes through Redis and back); it then leaves, and an
// op is both.
func BenchmarkLease(b *testing.B) {
	for _, setup := range benchSetups {
		b.Run(setup, func(b *testing.B) {
			urls := benchTrackers(b, setup)
			p := connect(b, urls[len(urls)-1], "p")
			i := 0
			for b.Loop() {
				d := digest.FromString(fmt.Sprint("lease ", i))
				i++
				p.announce(tracker.Announce{Join: []tracker.Join{{Digest: d}}})
				p.expect(func(ev tracker.Event) bool {
					return ev.Type == tracker.EventFetcher && ev.Digest == d && ev.Fetcher == "p"
				}, "lease")
				p.announce(tracker.Announce{Leave: []digest.Digest{d}})
			}
		})
	}
}

// BenchmarkColdHerd measures a cold herd at the tracker: peers, their
// streams open, all join one new swarm at once; an op ends when every
// member has been told of every other. Each member is told of each join,
// so the events grow as the square of the peers (events/op), and so do
// the bytes the tracker sends (tracker-MB/op). The peers' clients run in
// the same process and share its cores.
func BenchmarkColdHerd(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n, "-peers"), func(b *testing.B) {
			tr := tracker.New(tracker.Options{StreamBuffer: 2 * n})
			srv := httptest.NewUnstartedServer(tr)
			var sent atomic.Int64
			srv.Listener = countingListener{srv.Listener, &sent}
			srv.Start()
			b.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.Background())
			b.Cleanup(cancel)
			go tr.Run(ctx)
			var events atomic.Int64
			told := make([]atomic.Int64, n) // peer events, over every op
			cs := make([]*tracker.Client, n)
			for i := range n {
				cs[i] = &tracker.Client{URL: srv.URL, Peer: fmt.Sprintf("node-%04d", i), Addr: fmt.Sprintf("10.1.%d.%d:5051", i/250, i%250)}
				hello := make(chan struct{})
				go cs[i].Stream(ctx, func(ev tracker.Event) {
					events.Add(1)
					switch ev.Type {
					case tracker.EventHello:
						close(hello)
					case tracker.EventPeer:
						told[i].Add(1)
					}
				})
				<-hello
			}
			events.Store(0)
			sent.Store(0)
			ops := 0
			for b.Loop() {
				ops++
				d := digest.FromString(fmt.Sprint("herd ", ops))
				var wg sync.WaitGroup
				for _, c := range cs {
					wg.Go(func() {
						if err := c.Announce(ctx, tracker.Announce{Join: []tracker.Join{{Digest: d}}}); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				deadline := time.Now().Add(time.Minute)
				for i := range told {
					for told[i].Load() < int64(ops*(n-1)) {
						if time.Now().After(deadline) {
							b.Fatalf("peer %d was told of %d joins of %d", i, told[i].Load(), ops*(n-1))
						}
						time.Sleep(time.Millisecond)
					}
				}
			}
			b.ReportMetric(float64(events.Load())/float64(ops), "events/op")
			b.ReportMetric(float64(sent.Load())/float64(ops)/1e6, "tracker-MB/op")
		})
	}
}

// countingListener counts the bytes written to the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}
