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
func BenchmarkColdHerd(b *testing.B) {
	const nodes, size = 8, 64 << 20
	blob := randomBlob(nil, size)
	b.SetBytes(nodes * size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		o := newOrigin(b, blob)
		c := newCluster(b, nodes, swarm.Options{StallTimeout: time.Minute, Logger: quiet})
		b.StartTimer()
		c.pullAll(blob, o, 5*time.Minute)
		b.StopTimer()
		b.ReportMetric(float64(o.bytes.Load())/size, "origin-copies")
		b.StartTimer()
	}
}
