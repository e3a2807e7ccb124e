package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
)

// FuzzParseRange checks that the Range parser of the peer API never
// accepts a range that is empty or starts before 0.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=5-10", "bytes=-5", "bytes=10-5", "bytes=0-", "bytes=9223372036854775807-9223372036854775807", "items=0-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		off, end, ok := parseRange(s)
		if ok && (off < 0 || end < off) {
			t.Fatalf("parseRange(%q) = %d, %d, true", s, off, end)
		}
	})
}

// FuzzHave feeds have-stream lines from a hostile neighbour to a transfer:
// the availability counts stay those of the pieces the neighbour holds.
func FuzzHave(f *testing.F) {
	for _, s := range []string{`{"pieces":[0,1,2]}`, `{"complete":true}`, `{"pieces":[-1,99,3]}`, `{"pieces":[1,1,1]}`, `[]`, `{`, `{"pieces":[0],"complete":true}`} {
		f.Add([]byte(s), []byte(`{"pieces":[2]}`))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		n := &Node{}
		tr := &transfer{n: n, changed: make(chan struct{}), neighbours: map[string]*neighbour{}}
		tr.setLayout(tracker.Layout{Size: 8 << 20, PieceSize: 1 << 20})
		_, stop := context.WithCancel(context.Background())
		nb := &neighbour{id: "x", has: make([]bool, 8), refused: make([]bool, 8), stop: stop, requesting: map[int]time.Time{}}
		tr.neighbours["x"] = nb
		tr.have(nb, first)
		tr.have(nb, second)
		for i, a := range tr.avail {
			want := uint16(0)
			if nb.has[i] || nb.complete {
				want = 1
			}
			if a != want {
				t.Fatalf("piece %d: availability %d, neighbour holds it: %v", i, a, nb.has[i] || nb.complete)
			}
		}
		tr.dropLocked(nb)
		for i, a := range tr.avail {
			if a != 0 {
				t.Fatalf("piece %d: availability %d after the neighbour was dropped", i, a)
			}
		}
	})
}
