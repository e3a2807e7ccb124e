package deploy

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cli"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
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

// registrySiteValues enable the registry with access control, quotas and a
// mirror of two upstreams, one with credentials from a Secret.
var registrySiteValues = []string{
	"--set", "registry.enabled=true", "--set", "registry.tls.secretName=registry-tls", "--set", "agent.enabled=false",
	"--set", "registry.auth.htpasswdSecret=registry-users",
	"--set-json", `registry.auth.config={"groups":{"ci":["builder"]},"grants":[{"repositories":"**","users":["admin"],"actions":["*"]},{"repositories":"team-a/**","groups":["ci"],"actions":["pull","push"]}],"anonymous":[{"repositories":"public/**","actions":["pull"]}]}`,
	"--set-json", `registry.quotas=[{"repositories":"team-a/**","bytes":"10GiB","tags":500},{"repositories":"public/**","bytes":10737418240}]`,
	"--set-json", `registry.mirror.upstreams=[{"prefix":"docker.io/","upstream":"https://registry-1.docker.io"},{"prefix":"ghcr.io/","upstream":"https://ghcr.io","username":"bot","passwordKey":"ghcr"}]`,
	"--set", "registry.mirror.credentialsSecret=mirror-credentials", "--set", "registry.mirror.caSecret=mirror-ca", "--set", "registry.mirror.ttl=5m",
}

// TestHelmTemplateRegistrySite renders the registry with access control
// (an htpasswd Secret, grants in the ConfigMap's config), quotas and a
// mirror whose upstream password comes from a Secret, and starts gantry
// serve on the rendered config file and arguments, with the Secrets'
// files where the pod would mount them: the config must be one gantry
// serve accepts, and no password may be in the ConfigMap.
func TestHelmTemplateRegistrySite(t *testing.T) {
	helm := testenv.GoTool(t, "helm")
	r := testenv.Run(t, timeout, helm, append([]string{"lint", "--strict", chartDir(), "--values", ciValues()}, registrySiteValues...)...)
	if r.Code != 0 || strings.Contains(r.Stdout+r.Stderr, "[ERROR]") || strings.Contains(r.Stdout+r.Stderr, "[WARNING]") {
		t.Errorf("helm lint: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	objs := render(t, registrySiteValues...)
	cm, ok := objs["ConfigMap/rel-gantry-registry"]
	if !ok {
		t.Fatalf("no ConfigMap/rel-gantry-registry among %v", slices.Sorted(maps.Keys(objs)))
	}
	config := dig(t, cm, "data", "gantry.yaml").(string)
	if strings.Contains(config, "password:") {
		t.Errorf("the ConfigMap holds a password:\n%s", config)
	}
	sts := objs["StatefulSet/rel-gantry-registry"]
	pod := dig(t, sts, "spec", "template", "spec")
	c := byName(t, dig(t, pod, "containers"), "registry")
	args := strs(t, c["args"])
	for _, want := range []string{"--config=/etc/gantry/config/gantry.yaml", "--htpasswd=/etc/gantry/auth/htpasswd", "--ca-file=/etc/gantry/mirror-ca/ca.crt"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	mounts := map[string]string{}
	for _, m := range dig(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		mounts[mm["name"].(string)] = mm["mountPath"].(string)
	}
	wantMounts := map[string]string{"data": "/var/lib/gantry", "tls": "/etc/gantry/tls", "config": "/etc/gantry/config",
		"htpasswd": "/etc/gantry/auth", "mirror-credentials": "/etc/gantry/mirror", "mirror-ca": "/etc/gantry/mirror-ca"}
	if diff := cmp.Diff(wantMounts, mounts); diff != "" {
		t.Errorf("volume mounts (-want +got):\n%s", diff)
	}
	for vol, src := range map[string][]any{
		"config": {"configMap", "name", "rel-gantry-registry"}, "htpasswd": {"secret", "secretName", "registry-users"},
		"mirror-credentials": {"secret", "secretName", "mirror-credentials"}, "mirror-ca": {"secret", "secretName", "mirror-ca"},
	} {
		if got := dig(t, byName(t, dig(t, pod, "volumes"), vol), src[0], src[1]); got != src[2] {
			t.Errorf("volume %s from %v, want %v", vol, got, src[2])
		}
	}
	if got, _ := dig(t, sts, "spec", "template", "metadata", "annotations").(map[string]any)["checksum/config"].(string); len(got) != 64 {
		t.Errorf("no checksum/config annotation (a new config restarts the pod): %q", got)
	}

	// The pod's files, under a temporary /etc/gantry.
	etc := t.TempDir()
	ca := testenv.NewCA(t)
	write := func(path, body string) {
		t.Helper()
		p := filepath.Join(etc, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write("auth/htpasswd", "admin:"+string(hash)+"\nbuilder:"+string(hash)+"\n")
	write("mirror/ghcr", "s3cret\n")
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	write("mirror-ca/ca.crt", string(caPEM))
	if err := os.MkdirAll(filepath.Join(etc, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca.Issue(t, filepath.Join(etc, "tls", "tls.crt"), filepath.Join(etc, "tls", "tls.key"))
	write("config/gantry.yaml", strings.ReplaceAll(config, "/etc/gantry/", etc+"/"))
	var local []string
	for _, a := range args[1:] {
		a = strings.ReplaceAll(a, "/etc/gantry/", etc+"/")
		switch {
		case strings.HasPrefix(a, "--addr="):
			a = "--addr=127.0.0.1:0"
		case strings.HasPrefix(a, "--root="):
			a = "--root=" + filepath.Join(t.TempDir(), "store")
		}
		local = append(local, a)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append([]string{"serve"}, local...), strings.NewReader(""), io.Discard, logs)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "msg=listening") {
		select {
		case code := <-done:
			t.Fatalf("gantry serve %s: exit %d\n%s", strings.Join(local, " "), code, logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gantry serve did not listen:\n%s", logs)
		}
	}
	for _, want := range []string{"msg=\"access control\"", "users=2", "grants=2", "msg=mirroring names=ghcr.io/* upstream=https://ghcr.io", "credentials=true", "msg=quota repositories=team-a/**"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("gantry serve's log has no %s:\n%s", want, logs)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("gantry serve exited %d:\n%s", code, logs)
	}
}

// TestHelmTemplateRegistrySiteRejects checks that inconsistent registry
// values fail with a message.
func TestHelmTemplateRegistrySiteRejects(t *testing.T) {
	helm := testenv.GoTool(t, "helm")
	base := []string{"template", "rel", chartDir(), "--values", ciValues(), "--set", "registry.enabled=true", "--set", "registry.tls.secretName=tls"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"grants without users", []string{"--set-json", `registry.auth.config={"grants":[]}`, "--set-json", `registry.auth.config.anonymous=[{"repositories":"**","actions":["pull"]}]`}, "no registry.auth.htpasswdSecret"},
		{"password without its Secret", []string{"--set-json", `registry.mirror.upstreams=[{"upstream":"https://ghcr.io","username":"bot","passwordKey":"ghcr"}]`}, "credentialsSecret, which is not set"},
		{"upstream missing", []string{"--set-json", `registry.mirror.upstreams=[{"prefix":"docker.io/"}]`}, "upstreams[0]: upstream"},
		{"credentials without upstreams", []string{"--set", "registry.mirror.credentialsSecret=x"}, "go with registry.mirror.upstreams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.Run(t, timeout, helm, append(slices.Clone(base), tc.args...)...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, %s; want a failure saying %q", r.Code, r.Stderr, tc.want)
			}
		})
	}
}
