package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cli"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// TestHelmPodRuns runs what the chart renders, on this machine instead of a
// node: the agent pod's init script under busybox's sh with its volumes in
// a temporary directory, then the tracker and the agent with the rendered
// arguments, until the agent's /healthz (its probes' URL) answers 200. A
// flag the chart passes and gantry no longer has fails here.
func TestHelmPodRuns(t *testing.T) {
	busybox := testenv.Tool(t, "busybox")
	ports := testenv.FreePorts(t, 3)
	mirrorPort, peerPort, trackerPort := ports[0], ports[1], ports[2]
	// The leaf nodes' pod: the others' with --leaf (TestHelmTemplateLeaves),
	// so that every flag either passes is run.
	objs := render(t, "--set", "agent.port="+mirrorPort, "--set", "agent.peerPort="+peerPort, "--set", "tracker.port="+trackerPort,
		"--set", "agent.leaves.nodeLabel=gantry.dev/leaf")
	pod := dig(t, objs["DaemonSet/rel-gantry-agent-leaf"], "spec", "template", "spec")

	// The init container, with the pod's volumes as directories here.
	dir := t.TempDir()
	hosts, certs, data := filepath.Join(dir, "hosts"), filepath.Join(dir, "certs.d"), filepath.Join(dir, "data")
	for _, d := range []string{hosts, certs, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cm := dig(t, objs["ConfigMap/rel-gantry-hosts"], "data").(map[string]any)
	for name, body := range cm {
		if err := os.WriteFile(filepath.Join(hosts, name), []byte(body.(string)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := strs(t, dig(t, pod, "initContainers", 0, "command"))
	if diff := cmp.Diff([]string{"sh", "-ec"}, script[:2]); diff != "" {
		t.Fatalf("init command (-want +got):\n%s", diff)
	}
	local := strings.NewReplacer("/host-certs", certs, "/hosts/", hosts+"/", "/data", data).Replace(script[2])
	if os.Geteuid() != 0 {
		local = strings.ReplaceAll(local, "chown ", "true ") // only root gives files away
	}
	r := testenv.Run(t, timeout, busybox, "sh", "-ec", local)
	if r.Code != 0 {
		t.Fatalf("init script: exit %d\n%s%s\nscript:\n%s", r.Code, r.Stdout, r.Stderr, local)
	}
	got, err := os.ReadFile(filepath.Join(certs, "registry.example.com", "hosts.toml"))
	if err != nil {
		t.Fatalf("the init script wrote no hosts.toml: %v", err)
	}
	if diff := cmp.Diff(cm["hosts-0.toml"], string(got)); diff != "" {
		t.Errorf("hosts.toml written (-ConfigMap +file):\n%s", diff)
	}
	if left, _ := filepath.Glob(filepath.Join(certs, "registry.example.com", ".*")); len(left) != 0 {
		t.Errorf("the init script left %v", left)
	}
	if os.Geteuid() == 0 {
		for _, d := range []string{data, filepath.Join(data, "registry.example.com")} {
			fi, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65532 || st.Gid != 65532 {
				t.Errorf("%s is owned by %d:%d, want the agent's 65532:65532", d, st.Uid, st.Gid)
			}
		}
	}

	// The tracker and the agent, with the rendered arguments: the node's
	// address is loopback here, the data volume the directory above, and
	// the tracker's Service name is this machine's tracker.
	ctx, cancel := context.WithCancel(t.Context())
	var running []chan int
	run := func(name string, args []string) *testenv.SyncBuffer {
		done := make(chan int, 1)
		logs := &testenv.SyncBuffer{}
		go func() { done <- cli.Main(ctx, args, strings.NewReader(""), io.Discard, logs) }()
		running = append(running, done)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", name, logs.String())
			}
		})
		return logs
	}
	t.Cleanup(func() {
		cancel()
		for _, done := range running {
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d after the context ended", code)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("still running 20s after the context ended")
			}
		}
	})
	trackerArgs := strs(t, dig(t, objs["Deployment/rel-gantry-tracker"], "spec", "template", "spec", "containers", 0, "args"))
	logs := run("tracker", trackerArgs)
	trackerURL := "http://127.0.0.1:" + trackerPort
	testenv.WaitHTTP(t, trackerURL+"/", 10*time.Second, logs)

	var agentArgs []string
	for _, a := range strs(t, dig(t, pod, "containers", 0, "args")) {
		switch {
		case strings.HasPrefix(a, "--tracker="):
			a = "--tracker=" + trackerURL
		case strings.HasPrefix(a, "--data=/data/"):
			a = "--data=" + data + "/" + strings.TrimPrefix(a, "--data=/data/")
		}
		agentArgs = append(agentArgs, strings.ReplaceAll(a, "$(HOST_IP)", "127.0.0.1"))
	}
	logs = run("agent", agentArgs)
	probe := dig(t, pod, "containers", 0, "readinessProbe", "httpGet")
	url := fmt.Sprintf("http://%v:%v%v", dig(t, probe, "host"), dig(t, probe, "port"), dig(t, probe, "path"))
	testenv.WaitHTTP(t, url, 10*time.Second, logs)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("the agent's probe: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the agent's probe %s: %s, want 200", url, resp.Status)
	}
}
