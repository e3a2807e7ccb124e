package tracker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"

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
