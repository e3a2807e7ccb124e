package deploy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func chartDir() string { return filepath.Join(repoRoot(), "deploy", "helm", "gantry") }

// ciValues is the chart's values file for lint and template runs.
func ciValues() string { return filepath.Join(chartDir(), "ci", "test-values.yaml") }

func TestHelmLint(t *testing.T) {
	helm := testenv.GoTool(t, "helm")
	r := testenv.Run(t, timeout, helm, "lint", "--strict", chartDir(), "--values", ciValues())
	if r.Code != 0 {
		t.Fatalf("helm lint: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, bad := range []string{"[ERROR]", "[WARNING]"} {
		if strings.Contains(r.Stdout+r.Stderr, bad) {
			t.Errorf("helm lint reported %s:\n%s%s", bad, r.Stdout, r.Stderr)
		}
	}
}

// render runs helm template over the chart with the CI values and args, and
// returns the rendered objects by "Kind/name".
func render(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	helm := testenv.GoTool(t, "helm")
	full := append([]string{"template", "rel", chartDir(), "--namespace", "p2p", "--values", ciValues()}, args...)
	r := testenv.Run(t, timeout, helm, full...)
	if r.Code != 0 {
		t.Fatalf("helm template: exit %d\n%s", r.Code, r.Stderr)
	}
	objs := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(r.Stdout))
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template printed YAML that does not parse: %v\n%s", err, r.Stdout)
		}
		if obj == nil {
			continue
		}
		key := fmt.Sprintf("%v/%v", obj["kind"], dig(t, obj, "metadata", "name"))
		if _, dup := objs[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		objs[key] = obj
	}
	return objs
}

// dig follows keys (strings for maps, ints for lists) into v.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not a map: %v", path[:i+1], v)
			}
			v, ok = m[k]
			if !ok {
				t.Fatalf("no %v", path[:i+1])
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: not a list of %d or more: %v", path[:i+1], k+1, v)
			}
			v = l[k]
		}
	}
	return v
}

// strs turns a YAML list of strings into a []string.
func strs(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = fmt.Sprint(s)
	}
	return out
}

// byName returns the element of a YAML list of maps whose name is name.
func byName(t *testing.T, list any, name string) map[string]any {
	t.Helper()
	for _, e := range list.([]any) {
		if m := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no %q in %v", name, list)
	return nil
}

func TestHelmTemplate(t *testing.T) {
	objs := render(t,
		"--set", "upstreams={https://registry.example.com:5000/,https://registry-1.docker.io}",
		"--set", "agent.cacheSize=50GiB", "--set", "agent.downloadRate=100MiB", "--set", "agent.uploadRate=80MiB",
		"--set", "agent.extraArgs={--log-format=json}")
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	want := []string{"ConfigMap/rel-gantry-hosts", "DaemonSet/rel-gantry-agent", "Deployment/rel-gantry-tracker", "PodDisruptionBudget/rel-gantry-agent", "Service/rel-gantry-tracker"}
	slices.Sort(kinds)
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("rendered objects (-want +got):\n%s", diff)
	}

	ds := objs["DaemonSet/rel-gantry-agent"]
	pod := dig(t, ds, "spec", "template", "spec")
	if dig(t, pod, "hostNetwork") != true || dig(t, pod, "dnsPolicy") != "ClusterFirstWithHostNet" {
		t.Errorf("agent pod: hostNetwork %v, dnsPolicy %v; want true, ClusterFirstWithHostNet", dig(t, pod, "hostNetwork"), dig(t, pod, "dnsPolicy"))
	}
	tracker := "--tracker=http://rel-gantry-tracker.p2p.svc:7070"
	agents := []struct {
		name, dir string
		args      []string
		port      int
	}{
		{"agent-registry-example-com-5000", "registry.example.com:5000", []string{"agent",
			"--listen=127.0.0.1:5050", "--peer-listen=$(HOST_IP):5051", "--peer-advertise=$(HOST_IP):5051",
			"--upstream=https://registry.example.com:5000", tracker, "--data=/data/registry.example.com:5000",
			"--cache-size=50GiB", "--download-rate=100MiB", "--upload-rate=80MiB", "--log-format=json"}, 5050},
		{"agent-docker-io", "docker.io", []string{"agent",
			"--listen=127.0.0.1:5052", "--peer-listen=$(HOST_IP):5053", "--peer-advertise=$(HOST_IP):5053",
			"--upstream=https://registry-1.docker.io", tracker, "--data=/data/docker.io",
			"--cache-size=50GiB", "--download-rate=100MiB", "--upload-rate=80MiB", "--log-format=json"}, 5052},
	}
	if n := len(dig(t, pod, "containers").([]any)); n != len(agents) {
		t.Fatalf("agent pod has %d containers, want one per upstream (%d)", n, len(agents))
	}
	cm := objs["ConfigMap/rel-gantry-hosts"]
	script := strs(t, dig(t, pod, "initContainers", 0, "command"))[2]
	for i, a := range agents {
		t.Run(a.name, func(t *testing.T) {
			c := byName(t, dig(t, pod, "containers"), a.name)
			if diff := cmp.Diff(a.args, strs(t, c["args"])); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if got := dig(t, byName(t, c["env"], "HOST_IP"), "valueFrom", "fieldRef", "fieldPath"); got != "status.hostIP" {
				t.Errorf("HOST_IP comes from %v, want status.hostIP", got)
			}
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				got := dig(t, c, probe, "httpGet")
				want := map[string]any{"host": "127.0.0.1", "path": "/healthz", "port": a.port}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", probe, diff)
				}
			}
			sc := c["securityContext"]
			for _, kv := range []struct {
				path []any
				want any
			}{
				{[]any{"runAsNonRoot"}, true},
				{[]any{"runAsUser"}, 65532},
				{[]any{"allowPrivilegeEscalation"}, false},
				{[]any{"readOnlyRootFilesystem"}, true},
				{[]any{"capabilities", "drop", 0}, "ALL"},
			} {
				if got := dig(t, sc, kv.path...); got != kv.want {
					t.Errorf("securityContext %v = %v, want %v", kv.path, got, kv.want)
				}
			}
			if dig(t, c, "resources", "limits", "memory") == nil || dig(t, c, "resources", "requests", "cpu") == nil {
				t.Errorf("no resource limits and requests: %v", c["resources"])
			}
			// The hosts.toml is what gantry itself prints for this upstream
			// and listen address, and the init container puts it where
			// containerd looks for that host.
			upstream := strings.TrimPrefix(a.args[4], "--upstream=")
			out, stderr, code := gantry(t, "agent", "containerd-config", "--upstream", upstream, "--listen", fmt.Sprintf("127.0.0.1:%d", a.port))
			if code != 0 {
				t.Fatalf("gantry agent containerd-config: exit %d: %s", code, stderr)
			}
			key := fmt.Sprintf("hosts-%d.toml", i)
			if diff := cmp.Diff(out, dig(t, cm, "data", key)); diff != "" {
				t.Errorf("ConfigMap %s differs from gantry agent containerd-config (-gantry +chart):\n%s", key, diff)
			}
			for _, line := range []string{
				fmt.Sprintf("cp /hosts/%s '/host-certs/%s/.hosts.toml.gantry'", key, a.dir),
				fmt.Sprintf("mv -f '/host-certs/%[1]s/.hosts.toml.gantry' '/host-certs/%[1]s/hosts.toml'", a.dir),
				fmt.Sprintf("chown 65532:65532 /data '/data/%s'", a.dir),
			} {
				if !strings.Contains(script, line+"\n") {
					t.Errorf("init script lacks %q:\n%s", line, script)
				}
			}
		})
	}
	certs := byName(t, dig(t, pod, "volumes"), "host-certs")
	if got := dig(t, certs, "hostPath", "path"); got != "/etc/containerd/certs.d" {
		t.Errorf("host-certs volume is %v, want the host's /etc/containerd/certs.d", got)
	}
	if got := dig(t, byName(t, dig(t, pod, "volumes"), "data"), "hostPath", "path"); got != "/var/lib/gantry/agent" {
		t.Errorf("data volume is %v, want hostPath /var/lib/gantry/agent", got)
	}
	initSC := dig(t, pod, "initContainers", 0, "securityContext")
	if diff := cmp.Diff([]string{"CHOWN"}, strs(t, dig(t, initSC, "capabilities", "add"))); diff != "" {
		t.Errorf("init container's added capabilities (-want +got):\n%s", diff)
	}

	podLabels := dig(t, ds, "spec", "template", "metadata", "labels").(map[string]any)
	pdb := objs["PodDisruptionBudget/rel-gantry-agent"]
	if got := dig(t, pdb, "spec", "maxUnavailable"); got != 1 {
		t.Errorf("PDB maxUnavailable %v, want 1", got)
	}
	selects(t, "PDB", dig(t, pdb, "spec", "selector", "matchLabels"), podLabels)
	selects(t, "DaemonSet", dig(t, ds, "spec", "selector", "matchLabels"), podLabels)

	dep := objs["Deployment/rel-gantry-tracker"]
	if got := dig(t, dep, "spec", "replicas"); got != 1 {
		t.Errorf("tracker replicas %v, want 1", got)
	}
	tc := dig(t, dep, "spec", "template", "spec", "containers", 0)
	if diff := cmp.Diff([]string{"tracker", "--listen=:7070", "--lease-timeout=10s"}, strs(t, dig(t, tc, "args"))); diff != "" {
		t.Errorf("tracker args (-want +got):\n%s", diff)
	}
	if got := dig(t, tc, "securityContext", "runAsNonRoot"); got != true {
		t.Errorf("tracker runAsNonRoot %v, want true", got)
	}
	svc := objs["Service/rel-gantry-tracker"]
	if got := dig(t, svc, "spec", "ports", 0, "port"); got != 7070 {
		t.Errorf("tracker Service port %v, want 7070", got)
	}
	trackerPod := dig(t, dep, "spec", "template", "metadata", "labels").(map[string]any)
	selects(t, "tracker Service", dig(t, svc, "spec", "selector"), trackerPod)
	if dig(t, trackerPod, "app.kubernetes.io/component") == dig(t, podLabels, "app.kubernetes.io/component") {
		t.Errorf("tracker and agent pods share their component label %v", dig(t, podLabels, "app.kubernetes.io/component"))
	}
}

// selects fails unless every label of selector is on the pod.
func selects(t *testing.T, what string, selector any, pod map[string]any) {
	t.Helper()
	sel := selector.(map[string]any)
	if len(sel) == 0 {
		t.Errorf("%s selects every pod", what)
	}
	for k, v := range sel {
		if pod[k] != v {
			t.Errorf("%s selects %s=%v, the pod has %v", what, k, v, pod[k])
		}
	}
}

func TestHelmTemplateEmptyDir(t *testing.T) {
	objs := render(t, "--set", "agent.data.type=emptyDir", "--set", "agent.data.sizeLimit=25Gi", "--set", "agent.podDisruptionBudget.enabled=false")
	if _, ok := objs["PodDisruptionBudget/rel-gantry-agent"]; ok {
		t.Errorf("PDB rendered though disabled")
	}
	data := byName(t, dig(t, objs["DaemonSet/rel-gantry-agent"], "spec", "template", "spec", "volumes"), "data")
	if diff := cmp.Diff(map[string]any{"name": "data", "emptyDir": map[string]any{"sizeLimit": "25Gi"}}, data); diff != "" {
		t.Errorf("data volume (-want +got):\n%s", diff)
	}
}

// With agent.leaves.nodeLabel a second DaemonSet runs the agents of the
// nodes so labelled, with --leaf, and the first keeps off them: each node
// selector term of agent.affinity gets the label's condition (In "true" for
// the leaves, NotIn "true" for the others), the two DaemonSets' selectors
// each take only their own pods, and each has its disruption budget.
// Without the value the chart renders as it did before leaves (no
// affinity but the one given).
func TestHelmTemplateLeaves(t *testing.T) {
	const label = "gantry.dev/leaf"
	userTerms := `[{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]}]},{"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}]`
	for _, tc := range []struct {
		name string
		args []string
		// the node selector terms the first DaemonSet's pods must match,
		// without the leaf label's condition
		terms []any
	}{
		{"no affinity given", nil, []any{map[string]any{}}},
		{"affinity given", []string{"--set-json", `agent.affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":` + userTerms + `}}}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := render(t, tc.args...)
			if _, ok := plain["DaemonSet/rel-gantry-agent-leaf"]; ok {
				t.Fatalf("a leaf DaemonSet rendered without agent.leaves.nodeLabel")
			}
			aff, given := dig(t, plain["DaemonSet/rel-gantry-agent"], "spec", "template", "spec").(map[string]any)["affinity"]
			if given != (tc.terms == nil) {
				t.Fatalf("without leaves the pod's affinity is %v", aff)
			}
			terms := tc.terms
			if given {
				terms = dig(t, aff, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms").([]any)
			}

			objs := render(t, append(tc.args, "--set", "agent.leaves.nodeLabel="+label)...)
			for _, k := range []string{"DaemonSet/rel-gantry-agent-leaf", "PodDisruptionBudget/rel-gantry-agent-leaf", "PodDisruptionBudget/rel-gantry-agent"} {
				if _, ok := objs[k]; !ok {
					t.Fatalf("no %s with agent.leaves.nodeLabel", k)
				}
			}
			others, leaves := objs["DaemonSet/rel-gantry-agent"], objs["DaemonSet/rel-gantry-agent-leaf"]
			for _, ds := range []struct {
				obj map[string]any
				op  string
			}{{others, "NotIn"}, {leaves, "In"}} {
				got := dig(t, ds.obj, "spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
				var want []any
				for _, term := range terms {
					term := maps.Clone(term.(map[string]any))
					exprs, _ := term["matchExpressions"].([]any)
					term["matchExpressions"] = append(slices.Clone(exprs), map[string]any{"key": label, "operator": ds.op, "values": []any{"true"}})
					want = append(want, term)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%v's node selector terms (-want +got):\n%s", dig(t, ds.obj, "metadata", "name"), diff)
				}
			}

			// The same agents, the leaves with --leaf.
			pods := func(ds map[string]any) map[string]any { return dig(t, ds, "spec", "template", "spec").(map[string]any) }
			oc, lc := pods(others)["containers"].([]any), pods(leaves)["containers"].([]any)
			if len(oc) != len(lc) {
				t.Fatalf("%d agent containers on the others, %d on the leaves", len(oc), len(lc))
			}
			for i := range oc {
				o, l := oc[i].(map[string]any), lc[i].(map[string]any)
				if diff := cmp.Diff(append(strs(t, o["args"]), "--leaf"), strs(t, l["args"])); diff != "" {
					t.Errorf("leaf agent %v's args against the others' and --leaf (-want +got):\n%s", l["name"], diff)
				}
			}

			// Each DaemonSet and budget takes its own pods and not the other's.
			podLabels := func(ds map[string]any) map[string]any {
				return dig(t, ds, "spec", "template", "metadata", "labels").(map[string]any)
			}
			for _, c := range []struct {
				what         string
				sel          any
				mine, theirs map[string]any
			}{
				{"DaemonSet rel-gantry-agent", dig(t, others, "spec", "selector", "matchLabels"), podLabels(others), podLabels(leaves)},
				{"DaemonSet rel-gantry-agent-leaf", dig(t, leaves, "spec", "selector", "matchLabels"), podLabels(leaves), podLabels(others)},
				{"PDB rel-gantry-agent", dig(t, objs["PodDisruptionBudget/rel-gantry-agent"], "spec", "selector", "matchLabels"), podLabels(others), podLabels(leaves)},
				{"PDB rel-gantry-agent-leaf", dig(t, objs["PodDisruptionBudget/rel-gantry-agent-leaf"], "spec", "selector", "matchLabels"), podLabels(leaves), podLabels(others)},
			} {
				selects(t, c.what, c.sel, c.mine)
				taken := true
				for k, v := range c.sel.(map[string]any) {
					taken = taken && c.theirs[k] == v
				}
				if taken {
					t.Errorf("%s selects the other DaemonSet's pods too", c.what)
				}
			}
			// The first DaemonSet's selector is as before leaves: it cannot
			// change on an upgrade.
			if diff := cmp.Diff(dig(t, plain["DaemonSet/rel-gantry-agent"], "spec", "selector"), dig(t, others, "spec", "selector")); diff != "" {
				t.Errorf("the agents' DaemonSet selector moved with leaves (-before +after):\n%s", diff)
			}
		})
	}
}

// Tracker replicas share their state through the Redis given, and are
// replaced one at a time.
func TestHelmTemplateTrackerReplicas(t *testing.T) {
	objs := render(t, "--set", "tracker.replicas=3", "--set", "tracker.redis=redis://redis.p2p.svc:6379/0")
	dep := objs["Deployment/rel-gantry-tracker"]
	if got := dig(t, dep, "spec", "replicas"); got != 3 {
		t.Errorf("tracker replicas %v, want 3", got)
	}
	if got := dig(t, dep, "spec", "strategy", "type"); got != "RollingUpdate" {
		t.Errorf("tracker strategy %v, want RollingUpdate", got)
	}
	tc := dig(t, dep, "spec", "template", "spec", "containers", 0)
	if diff := cmp.Diff([]string{"tracker", "--listen=:7070", "--lease-timeout=10s", "--redis=redis://redis.p2p.svc:6379/0"}, strs(t, dig(t, tc, "args"))); diff != "" {
		t.Errorf("tracker args (-want +got):\n%s", diff)
	}
}

// Bad values stop helm template with one line saying what to give.
func TestHelmTemplateRejects(t *testing.T) {
	helm := testenv.GoTool(t, "helm")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no upstream", []string{"--set", "upstreams=null"}, "upstreams is required"},
		{"not a URL", []string{"--set", "upstreams={registry.example.com}"}, `upstreams[0] "registry.example.com": want an http:// or https:// URL`},
		{"IPv6 upstream", []string{"--set", "upstreams={http://[fd00::1]:5000}"}, "want a host name or IPv4 address"},
		{"one host twice", []string{"--set", "upstreams={https://index.docker.io,https://registry-1.docker.io}"}, "docker.io is mirrored twice"},
		{"no image", []string{"--set", "image.repository="}, "image.repository is required"},
		{"no tag", []string{"--set", "image.tag="}, "image: give a tag or a digest"},
		{"two trackers", []string{"--set", "tracker.replicas=2"}, "tracker.replicas 2: replicas share their state through Redis: give tracker.redis"},
		{"redis not a URL", []string{"--set", "tracker.redis=redis.example.com:6379"}, "tracker.redis: want redis://HOST:PORT/DB"},
		{"data type", []string{"--set", "agent.data.type=nfs"}, `agent.data.type "nfs": want hostPath or emptyDir`},
		{"leaf label", []string{"--set", "agent.leaves.nodeLabel=slow node"}, `agent.leaves.nodeLabel "slow node": want a node label's key`},
		{"registry without TLS", []string{"--set", "registry.enabled=true"}, "registry.tls.secretName is required"},
		{"registry with TLS and plain", []string{"--set", "registry.enabled=true", "--set", "registry.tls.secretName=t", "--set", "registry.tls.insecureHTTP=true"}, "give one of them"},
		{"two registries on one store", []string{"--set", "registry.enabled=true", "--set", "registry.tls.secretName=t", "--set", "registry.replicas=2"}, "registry.replicas 2: gantry serve's disk store is used by one process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", "rel", chartDir(), "--values", ciValues()}, tc.args...)
			r := testenv.Run(t, timeout, helm, args...)
			if r.Code == 0 {
				t.Fatalf("helm template succeeded; want an error with %q", tc.want)
			}
			if !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("helm template's error lacks %q:\n%s", tc.want, r.Stderr)
			}
		})
	}
}
