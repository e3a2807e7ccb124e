package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// TestHelmLintRegistry lints the chart with gantry serve enabled, alone
// and beside the agents.
func TestHelmLintRegistry(t *testing.T) {
	helm := testenv.GoTool(t, "helm")
	for _, extra := range [][]string{
		{"--set", "registry.enabled=true", "--set", "registry.tls.secretName=registry-tls"},
		{"--set", "registry.enabled=true", "--set", "registry.tls.insecureHTTP=true", "--set", "agent.enabled=false"},
	} {
		args := append([]string{"lint", "--strict", chartDir(), "--values", ciValues()}, extra...)
		r := testenv.Run(t, timeout, helm, args...)
		if r.Code != 0 || strings.Contains(r.Stdout+r.Stderr, "[ERROR]") || strings.Contains(r.Stdout+r.Stderr, "[WARNING]") {
			t.Errorf("helm lint %v: exit %d\n%s%s", extra, r.Code, r.Stdout, r.Stderr)
		}
	}
}

// TestHelmTemplateRegistry renders gantry serve as a StatefulSet with its
// store on a PVC and TLS from a Secret, and checks that gantry serve
// accepts the arguments the chart gives it.
func TestHelmTemplateRegistry(t *testing.T) {
	objs := render(t, "--set", "registry.enabled=true", "--set", "registry.tls.secretName=registry-tls",
		"--set", "registry.storage.size=500Gi", "--set", "registry.storage.storageClassName=fast",
		"--set", "registry.extraArgs={--allow-sparse}", "--set", "agent.enabled=false")
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	if diff := cmp.Diff([]string{"Service/rel-gantry-registry", "StatefulSet/rel-gantry-registry"}, kinds); diff != "" {
		t.Fatalf("rendered objects with agent.enabled=false (-want +got):\n%s", diff)
	}
	sts := objs["StatefulSet/rel-gantry-registry"]
	if got := dig(t, sts, "spec", "replicas"); got != 1 {
		t.Errorf("replicas %v, want 1", got)
	}
	if got := dig(t, sts, "spec", "serviceName"); got != "rel-gantry-registry" {
		t.Errorf("serviceName %v, want the registry's Service", got)
	}
	pod := dig(t, sts, "spec", "template", "spec")
	c := byName(t, dig(t, pod, "containers"), "registry")
	args := strs(t, c["args"])
	want := []string{"serve", "--addr=:5000", "--root=/var/lib/gantry",
		"--tls-cert=/etc/gantry/tls/tls.crt", "--tls-key=/etc/gantry/tls/tls.key", "--allow-sparse"}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	// gantry serve knows every flag the chart passes (--help after them
	// stops before anything is opened).
	if _, stderr, code := gantry(t, append(args, "--help")...); code != 0 {
		t.Errorf("gantry %s --help: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		got := dig(t, c, probe, "httpGet")
		if diff := cmp.Diff(map[string]any{"path": "/healthz", "port": "registry", "scheme": "HTTPS"}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", probe, diff)
		}
	}
	mounts := map[string]string{}
	for _, m := range dig(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		mounts[mm["name"].(string)] = mm["mountPath"].(string)
	}
	if diff := cmp.Diff(map[string]string{"data": "/var/lib/gantry", "tls": "/etc/gantry/tls"}, mounts); diff != "" {
		t.Errorf("volume mounts (-want +got):\n%s", diff)
	}
	if got := dig(t, byName(t, dig(t, pod, "volumes"), "tls"), "secret", "secretName"); got != "registry-tls" {
		t.Errorf("tls volume from Secret %v, want registry-tls", got)
	}
	claim := dig(t, sts, "spec", "volumeClaimTemplates", 0)
	if dig(t, claim, "metadata", "name") != "data" || dig(t, claim, "spec", "resources", "requests", "storage") != "500Gi" ||
		dig(t, claim, "spec", "storageClassName") != "fast" {
		t.Errorf("volume claim template: %v", claim)
	}
	if got := dig(t, pod, "securityContext", "fsGroup"); got != 65532 {
		t.Errorf("fsGroup %v, want 65532 (the volume's files for the image's user)", got)
	}
	for path, want := range map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false} {
		if got := dig(t, c, "securityContext", path); got != want {
			t.Errorf("securityContext.%s = %v, want %v", path, got, want)
		}
	}
	if g := dig(t, pod, "terminationGracePeriodSeconds").(int); g <= 30 {
		t.Errorf("terminationGracePeriodSeconds %d: want more than serve's --shutdown-timeout (30s)", g)
	}
	svc := objs["Service/rel-gantry-registry"]
	if got := dig(t, svc, "spec", "ports", 0, "port"); got != 5000 {
		t.Errorf("Service port %v, want 5000", got)
	}
	podLabels := dig(t, sts, "spec", "template", "metadata", "labels").(map[string]any)
	selects(t, "registry Service", dig(t, svc, "spec", "selector"), podLabels)
	selects(t, "StatefulSet", dig(t, sts, "spec", "selector", "matchLabels"), podLabels)

	// Plain HTTP only when asked for, and then the probes follow.
	objs = render(t, "--set", "registry.enabled=true", "--set", "registry.tls.insecureHTTP=true")
	if _, ok := objs["DaemonSet/rel-gantry-agent"]; !ok {
		t.Errorf("the agents are gone with the registry enabled beside them")
	}
	c = byName(t, dig(t, objs["StatefulSet/rel-gantry-registry"], "spec", "template", "spec", "containers"), "registry")
	if args := strs(t, c["args"]); !slices.Contains(args, "--insecure-http") || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--tls-") }) {
		t.Errorf("args with insecureHTTP: %v", args)
	}
	if got := dig(t, c, "readinessProbe", "httpGet", "scheme"); got != "HTTP" {
		t.Errorf("readiness probe scheme %v, want HTTP", got)
	}
}
