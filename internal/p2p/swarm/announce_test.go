package swarm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// completes is a tracker in front of which the piece hashes each peer's
// complete joins carried are counted.
type completes struct {
	mu      sync.Mutex
	carried map[string]int // peer: piece hashes in its complete joins
	joins   map[string]int // peer: its complete joins
}

// newCompletesCluster is a cluster of n nodes whose tracker counts what
// the complete joins carry.
func newCompletesCluster(t *testing.T, n int, opts swarm.Options) (*cluster, *completes) {
	cs := &completes{carried: map[string]int{}, joins: map[string]int{}}
	c := &cluster{t: t}
	c.startTracker()
	c.trkSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == tracker.AnnouncePath {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var a tracker.Announce
			if json.Unmarshal(body, &a) == nil {
				cs.mu.Lock()
				for _, j := range a.Join {
					if j.Complete {
						cs.joins[a.Peer]++
						cs.carried[a.Peer] += len(j.Pieces)
					}
				}
				cs.mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		c.trk.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(c.trkSrv.Close)
	c.tracker = c.trkSrv.URL
	for range n {
		c.add(opts, t.TempDir())
	}
	return c, cs
}

// waitComplete waits until the tracker holds every node of c as a complete
// member of d's swarm, and returns the swarm.
func waitComplete(t *testing.T, c *cluster, d digest.Digest) tracker.Swarm {
	t.Helper()
	var sw tracker.Swarm
	waitFor(t, "every node complete at the tracker", func() bool {
		var ok bool
		if sw, ok = c.trk.Load().Swarm(d); !ok {
			return false
		}
		done := 0
		for _, m := range sw.Members {
			if m.Complete {
				done++
			}
		}
		return done == len(c.nodes)
	})
	return sw
}

// A node that completes a blob tells the tracker so, and gives the piece
// hashes only if the tracker may lack them: the fetcher's own, or hashes
// heard before its stream to the tracker was cut. A node whose every hash
// came from the tracker on its stream gives none: at a thousand nodes
// every complete announce with a 1 MiB blob's 64 hashes cost the tracker
// (and a replica's shared log) some 6 KB a node for nothing.
func TestCompleteAnnounceLeavesKnownHashes(t *testing.T) {
	const nodes = 4
	b := randomBlob(t, 1<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	c, cs := newCompletesCluster(t, nodes, swarm.Options{StallTimeout: 10 * time.Second})
	c.pullAll(b, o, 30*time.Second)
	sw := waitComplete(t, c, d)
	pieces := sw.Layout.Pieces()
	if sw.Published != pieces {
		t.Fatalf("the tracker holds %d of %d piece hashes", sw.Published, pieces)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	fetcher := c.fetcher()
	for _, m := range c.nodes {
		want := 0
		if m.id == fetcher {
			want = pieces // its hashes are its own
		}
		if cs.joins[m.id] != 1 || cs.carried[m.id] != want {
			t.Errorf("%s: %d complete joins carrying %d piece hashes; want 1 carrying %d", m.id, cs.joins[m.id], cs.carried[m.id], want)
		}
	}
}

// A node whose tracker was replaced while it pulled gives every hash with
// its completion unless the new tracker told it each of them again: the
// tracker that comes back knows the swarm's hashes once the pull is over.
func TestCompleteAnnounceAfterTrackerRestart(t *testing.T) {
	const nodes, size = 4, 1 << 20
	b := randomBlob(t, size)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(100 * time.Millisecond)) // 1.6 s for the blob
	c, _ := newCompletesCluster(t, nodes, swarm.Options{StallTimeout: 10 * time.Second})
	ctx := t.Context()
	errs := c.startPulls(ctx, b, o)
	time.Sleep(500 * time.Millisecond)
	c.restartTracker()
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	sw := waitComplete(t, c, d)
	if pieces := sw.Layout.Pieces(); sw.Published != pieces {
		t.Errorf("the new tracker holds %d of %d piece hashes", sw.Published, pieces)
	}
}
