package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// netnsCluster joins n network namespaces to a bridge of their own, on a
// /24 nobody else uses, and removes everything at cleanup. It returns the
// bridge's address (this process's side) and each namespace's name and
// address.
func netnsCluster(t *testing.T, n int) (bridgeIP string, names, ips []string) {
	t.Helper()
	ip := testenv.Tool(t, "ip")
	id := os.Getpid() % 10000
	net := fmt.Sprintf("10.%d.%d", 200+id%50, id%250)
	bridge := fmt.Sprintf("gtb%d", id)
	run := func(args ...string) {
		t.Helper()
		must(t, ip, args...)
	}
	cleanup := func() {
		for i := range n {
			_ = testenv.Run(t, timeout, ip, "netns", "del", fmt.Sprintf("gtn%d-%d", id, i))
			_ = testenv.Run(t, timeout, ip, "link", "del", fmt.Sprintf("gtv%d-%d", id, i))
		}
		_ = testenv.Run(t, timeout, ip, "link", "del", bridge)
	}
	cleanup() // what a killed run left
	t.Cleanup(cleanup)
	run("link", "add", bridge, "type", "bridge")
	run("addr", "add", net+".1/24", "dev", bridge)
	run("link", "set", bridge, "up")
	for i := range n {
		ns, host, peer := fmt.Sprintf("gtn%d-%d", id, i), fmt.Sprintf("gtv%d-%d", id, i), fmt.Sprintf("gtp%d-%d", id, i)
		addr := fmt.Sprintf("%s.%d", net, 10+i)
		run("netns", "add", ns)
		run("link", "add", host, "type", "veth", "peer", "name", peer)
		run("link", "set", host, "master", bridge)
		run("link", "set", host, "up")
		run("link", "set", peer, "netns", ns)
		run("-n", ns, "addr", "add", addr+"/24", "dev", peer)
		run("-n", ns, "link", "set", peer, "up")
		run("-n", ns, "link", "set", "lo", "up")
		names, ips = append(names, ns), append(ips, addr)
	}
	return net + ".1", names, ips
}

// Three nodes, each a network namespace with its own containerd and its
// agent on the namespace's loopback, pull one image at once from an origin
// outside them (also their tracker) and run it; the origin sends each blob
// once, and the pieces went between the nodes' own addresses.
func TestAgentNetnsContainerd(t *testing.T) {
	requireRoot(t, "network namespaces and containerd need root")
	testenv.Tool(t, "ctr")
	testenv.Tool(t, "runc")
	bridgeIP, names, ips := netnsCluster(t, 3)
	origin := startServer(t, t.TempDir(), "--tracker", "--addr", bridgeIP+":0", "--insecure-http") // a test network of namespaces
	// The origin is not on loopback: plain HTTP takes --insecure.
	img := sharedBusybox(t)
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1": img})
	ref := origin.Addr + "/demo/busybox:1"
	mustGantry(t, "copy", "-q", "--insecure", "oci:"+src+":demo/busybox:1", ref)
	var nodes []ctrNode
	var agents []*daemon
	for i, ns := range names {
		a := startDaemonIn(t, ns, "agent", "--listen", "127.0.0.1:0", "--peer-listen", ips[i]+":0",
			"--upstream", "http://"+origin.Addr, "--tracker", "http://"+origin.Addr, "--data", t.TempDir())
		agents = append(agents, a)
		hosts := t.TempDir()
		mustGantry(t, "agent", "containerd-config", "--upstream", "http://"+origin.Addr, "--listen", a.Addr, "-o", filepath.Join(hosts, origin.Addr, "hosts.toml"))
		nodes = append(nodes, ctrNode{ns, testenv.ContainerdIn(t, ns), hosts})
	}
	herdPullAndRun(t, origin, img, ref, nodes)
	for i, a := range agents {
		if !strings.HasPrefix(a.PeerAddr, ips[i]+":") {
			t.Errorf("agent %d serves pieces on %q, want its namespace's address %s", i, a.PeerAddr, ips[i])
		}
	}
}
