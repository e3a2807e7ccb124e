package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// daemon is a gantry tracker or agent process.
type daemon struct {
	Addr, PeerAddr string
	cmd            *exec.Cmd
	logs           *serverLog
	done           chan struct{}
}

var peerAddrRE = regexp.MustCompile(`peer_addr=(\S+)`)

// startDaemon runs gantry with args, waits for its "listening" line and
// stops it with SIGTERM at cleanup.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, "", args...)
}

// startDaemonIn is startDaemon in the network namespace netns ("" for
// this process's).
func startDaemonIn(t *testing.T, netns string, args ...string) *daemon {
	t.Helper()
	d := &daemon{logs: newServerLog(), done: make(chan struct{})}
	d.cmd = exec.Command(testenv.Gantry(t), args...)
	if netns != "" {
		d.cmd = exec.Command(testenv.Tool(t, "nsenter"), append([]string{"--net=/run/netns/" + netns, testenv.Gantry(t)}, args...)...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	testenv.DieWithParent(d.cmd)
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start gantry %s: %v", args[0], err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	select {
	case d.Addr = <-d.logs.addr:
	case <-d.done:
		t.Fatalf("gantry %s exited before listening:\n%s", args[0], d.logs.tail(30))
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		t.Fatalf("gantry %s did not listen within a minute:\n%s", args[0], d.logs.tail(30))
	}
	if m := peerAddrRE.FindStringSubmatch(d.logs.String()); m != nil {
		d.PeerAddr = m[1]
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("gantry %s log (last lines):\n%s", args[0], d.logs.tail(40))
		}
	})
	return d
}

// swarmOf starts n agents mirroring origin, with a gantry tracker of their
// own, or with the one origin serves (serve --tracker) when trackerAddr is
// origin's.
func swarmOf(t *testing.T, origin *server, n int, trackerAddr string) []*daemon {
	t.Helper()
	var trk *daemon
	if trackerAddr == "" {
		trk = startDaemon(t, "tracker", "--listen", "127.0.0.1:0")
		trackerAddr = trk.Addr
	}
	var agents []*daemon
	for range n {
		agents = append(agents, startDaemon(t, "agent", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--upstream", "http://"+origin.Addr, "--tracker", "http://"+trackerAddr, "--data", t.TempDir()))
	}
	if trk != nil {
		t.Cleanup(func() {
			// Before the agents stop (cleanups run last first).
			resp, err := http.Get("http://" + trk.Addr + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := metricSum(string(b), "gantry_tracker_streams", ""); got != float64(n) {
				t.Errorf("the tracker counts %v agents connected, want %d", got, n)
			}
		})
	}
	return agents
}

// originBlobGets is the number of blob GETs origin answered 200.
func originBlobGets(t *testing.T, origin *server) float64 {
	return metricSum(scrape(t, origin), "gantry_http_requests_total", `route="blob_get",status="200"`)
}

// An image preheated through one agent, then pulled through three at once
// with crane: every pull gets the image, and the origin sends each blob
// once.
func TestAgentMirror(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	origin := startServer(t, t.TempDir())
	img := pushBusybox(t, origin, "demo/busybox:1")
	agents := swarmOf(t, origin, 3, "")
	blobs := float64(len(img.Layers) + 1) // the layers and the config
	// Preheat through one agent: the swarm has the image before the pulls.
	r := mustGantry(t, "preheat", "--agent", agents[0].Addr, origin.Addr+"/demo/busybox:1")
	if !strings.Contains(r.Stdout, img.ManifestDesc.Digest.String()) {
		t.Fatalf("preheat printed %q, want the digest %s", r.Stdout, img.ManifestDesc.Digest)
	}
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the origin answered %v blob GETs for the preheat, want %v", got, blobs)
	}
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			out := filepath.Join(t.TempDir(), "image.tar")
			r := testenv.Run(t, timeout, crane, "pull", "--insecure", "--format", "oci", a.Addr+"/demo/busybox:1", out)
			if r.Code != 0 {
				t.Errorf("crane pull through agent %d: exit %d: %s", i, r.Code, r.Stderr)
			}
		})
	}
	wg.Wait()
	for i, a := range agents {
		r := testenv.Run(t, timeout, crane, "digest", "--insecure", a.Addr+"/demo/busybox:1")
		if got := strings.TrimSpace(r.Stdout); got != img.ManifestDesc.Digest.String() {
			t.Errorf("agent %d: digest %q, want %s", i, got, img.ManifestDesc.Digest)
		}
	}
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the origin answered %v blob GETs for a preheat and 3 nodes, want %v (one per blob)", got, blobs)
	}
	// Each agent served the pulls it logged and counted.
	for i, a := range agents {
		resp, err := http.Get("http://" + a.Addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := metricSum(string(b), "gantry_agent_pulls_total", `outcome="ok"`); got < blobs {
			t.Errorf("agent %d counted %v pulls, want %v or more", i, got, blobs)
		}
		if !strings.Contains(a.logs.String(), "msg=pull ") {
			t.Errorf("agent %d logged no pull record", i)
		}
	}
	// A blob the upstream does not have is 404 BLOB_UNKNOWN, quickly.
	resp, err := http.Get("http://" + agents[0].Addr + "/v2/demo/busybox/blobs/sha256:" + strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown blob through the agent: %s, want 404", resp.Status)
	}
}

// Three containerd daemons, each with its agent as the mirror of the
// origin (hosts.toml from gantry agent containerd-config), pull an image
// at once and run it; the origin, which is also the tracker (serve
// --tracker), sends each blob once and stops cleanly with agents
// connected.
func TestAgentContainerd(t *testing.T) {
	requireRoot(t, "containerd runs containers as root")
	testenv.Tool(t, "containerd")
	testenv.Tool(t, "ctr")
	testenv.Tool(t, "runc")
	origin := startServer(t, t.TempDir(), "--tracker")
	img := pushBusybox(t, origin, "demo/busybox:1")
	agents := swarmOf(t, origin, 3, origin.Addr) // the origin is the tracker too
	ref := origin.Addr + "/demo/busybox:1"
	var nodes []ctrNode
	for _, a := range agents {
		hosts := t.TempDir()
		mustGantry(t, "agent", "containerd-config", "--upstream", "http://"+origin.Addr, "--listen", a.Addr, "-o", filepath.Join(hosts, origin.Addr, "hosts.toml"))
		nodes = append(nodes, ctrNode{sock: testenv.Containerd(t), hosts: hosts})
	}
	herdPullAndRun(t, origin, img, ref, nodes)
	if t.Failed() {
		return
	}
	// The agents' tracker streams do not hold the origin's shutdown.
	start := time.Now()
	origin.Stop()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gantry serve --tracker took %s to stop with agents connected", took)
	}
}

// ctrNode is a containerd daemon, the network namespace it runs in ("" for
// this process's), and the hosts directory that makes its agent the
// origin's mirror.
type ctrNode struct{ ns, sock, hosts string }

// herdPullAndRun has every node pull ref at once with ctr (in its
// namespace: ctr fetches in its own process), runs the image on one of
// them, and checks that the origin answered one GET per blob of img.
func herdPullAndRun(t *testing.T, origin *server, img testimage.Image, ref string, nodes []ctrNode) {
	t.Helper()
	ctrBin := testenv.Tool(t, "ctr")
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			args := []string{ctrBin, "--address", n.sock, "images", "pull", "--hosts-dir", n.hosts, ref}
			if n.ns != "" {
				args = append([]string{testenv.Tool(t, "nsenter"), "--net=/run/netns/" + n.ns}, args...)
			}
			r := testenv.Run(t, timeout, args[0], args[1:]...)
			if r.Code != 0 {
				t.Errorf("ctr pull on node %d: exit %d: %s %s", i, r.Code, r.Stdout, r.Stderr)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	id := fmt.Sprintf("gantry-agent-e2e-%d", os.Getpid())
	r := must(t, ctrBin, "--address", nodes[len(nodes)-1].sock, "run", "--rm", ref, id)
	if strings.TrimSpace(r.Stdout) != "hello from gantry" {
		t.Fatalf("the container printed %q, want %q", r.Stdout, "hello from gantry")
	}
	blobs := float64(len(img.Layers) + 1)
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the origin answered %v blob GETs for %d containerd nodes, want %v (one per blob)", got, len(nodes), blobs)
	}
}
