package swarm_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
)

var quiet = slog.New(slog.DiscardHandler)

// BenchmarkColdHerd has 8 nodes on loopback pull one 64 MiB blob at once
// (no bandwidth limit: this measures the CPU cost of the swarm, hashing,
// copies and HTTP, not a network; bench/p2p simulates one). Bytes per op
// are the bytes the 8 readers get.
func BenchmarkColdHerd(b *testing.B) { coldHerd(b, 8, 64<<20) }

// BenchmarkSmallBlobTrees is BenchmarkColdHerd for a 1 MiB blob, which
// goes down its trees (tree.go): a small blob's CPU is as much in its
// joins, requests and streams as in its bytes.
func BenchmarkSmallBlobTrees(b *testing.B) { coldHerd(b, 8, 1<<20) }

func coldHerd(b *testing.B, nodes, size int) {
	blob := randomBlob(nil, size)
	b.SetBytes(int64(nodes * size))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		o := newOrigin(b, blob)
		c := newCluster(b, nodes, swarm.Options{StallTimeout: time.Minute, Logger: quiet})
		b.StartTimer()
		c.pullAll(blob, o, 5*time.Minute)
		b.StopTimer()
		b.ReportMetric(float64(o.bytes.Load())/float64(size), "origin-copies")
		b.StartTimer()
	}
}
