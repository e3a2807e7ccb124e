package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker/redistest"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// Two gantry tracker replicas on one redis-server: four agents, two
// starting on each, pull an image at once with crane and the origin sends
// each blob once; with one replica killed the others pull again through
// the other; with Redis down the replica's /healthz says so.
func TestAgentTrackerReplicas(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	rs := redistest.Start(t)
	origin := startServer(t, t.TempDir())
	img := pushBusybox(t, origin, "demo/busybox:1")
	a := startDaemon(t, "tracker", "--listen", "127.0.0.1:0", "--redis", rs.URL)
	b := startDaemon(t, "tracker", "--listen", "127.0.0.1:0", "--redis", rs.URL)
	for _, r := range []*daemon{a, b} {
		waitHealth(t, r.Addr, http.StatusOK)
	}
	var agents []*daemon
	for i := range 4 {
		trackers := "http://" + a.Addr + ",http://" + b.Addr
		if i%2 == 1 {
			trackers = "http://" + b.Addr + ",http://" + a.Addr
		}
		agents = append(agents, startDaemon(t, "agent", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--upstream", "http://"+origin.Addr, "--tracker", trackers, "--data", t.TempDir()))
	}
	pullAll := func(agents []*daemon) {
		var wg sync.WaitGroup
		for i, ag := range agents {
			wg.Go(func() {
				out := filepath.Join(t.TempDir(), "image.tar")
				r := testenv.Run(t, timeout, crane, "pull", "--insecure", "--format", "oci", ag.Addr+"/demo/busybox:1", out)
				if r.Code != 0 {
					t.Errorf("crane pull through agent %d: exit %d: %s", i, r.Code, r.Stderr)
				}
			})
		}
		wg.Wait()
	}
	pullAll(agents)
	blobs := float64(len(img.Layers) + 1)
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the origin answered %v blob GETs for 4 agents on 2 replicas, want %v (one per blob)", got, blobs)
	}

	// Replica a dies; agents with fresh data pull through b.
	_ = a.cmd.Process.Kill()
	<-a.done
	var fresh []*daemon
	for range 2 {
		fresh = append(fresh, startDaemon(t, "agent", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--upstream", "http://"+origin.Addr, "--tracker", "http://"+a.Addr+",http://"+b.Addr, "--data", t.TempDir()))
	}
	pullAll(fresh)
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the origin answered %v blob GETs once a replica died, want %v: the swarm holds the image", got, blobs)
	}

	rs.Stop()
	waitHealth(t, b.Addr, http.StatusServiceUnavailable)
}

// waitHealth waits up to 20 s for the tracker at addr to answer /healthz
// with status.
func waitHealth(t *testing.T, addr string, status int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker %s: /healthz did not answer %d within 20 s (last: %v %v)", addr, status, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A malformed --redis is refused at once, in one line.
func TestTrackerBadRedis(t *testing.T) {
	r := gantry(t, "tracker", "--listen", "127.0.0.1:0", "--redis", "localhost:6379")
	if r.Code == 0 || !strings.Contains(r.Stderr, "--redis: want redis://HOST:PORT/DB") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming --redis", r.Code, r.Stderr)
	}
}
