package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/quota"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
)

// TestServeQuotasInProcess serves with quotas from the config file: a
// blob over a prefix's bytes is refused with 403 DENIED naming the quota,
// the usage is counted from the store at start, and /metrics shows usage
// and bounds per rule.
func TestServeQuotasInProcess(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	cfg := writeTestFile(t, dir, "gantry.yaml", "serve:\n  quotas:\n    - {repositories: \"team-a/**\", bytes: 1KiB, tags: 5}\n")
	root := filepath.Join(dir, "root")
	upload := func(addr, repo string, blob []byte) (int, string) {
		d := digest.FromBytes(blob)
		resp, err := http.Post("http://"+addr+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	addr, _, stop := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", root, "--config", cfg)
	if code, body := upload(addr, "team-a/app", bytes.Repeat([]byte("a"), 800)); code != http.StatusCreated {
		t.Fatalf("upload within the quota: %d %s", code, body)
	}
	code, body := upload(addr, "team-a/other", bytes.Repeat([]byte("b"), 800))
	var e struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	if code != http.StatusForbidden || len(e.Errors) != 1 || e.Errors[0].Code != "DENIED" || !strings.Contains(e.Errors[0].Message, `quota "team-a/**"`) {
		t.Errorf("upload over the quota: %d %s, want 403 DENIED naming the quota", code, body)
	}
	if code, body := upload(addr, "team-b/app", bytes.Repeat([]byte("b"), 800)); code != http.StatusCreated {
		t.Errorf("upload outside the quota's repositories: %d %s", code, body)
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`gantry_quota_bytes{repositories="team-a/**"} 800`, `gantry_quota_bytes_limit{repositories="team-a/**"} 1024`, `gantry_quota_tags_limit{repositories="team-a/**"} 5`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if c := stop(); c != 0 {
		t.Fatalf("serve exited %d", c)
	}
}

// TestServeQuotaSettings checks that bad quotas fail before anything is
// opened, on one line naming the rule.
func TestServeQuotaSettings(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	root := filepath.Join(t.TempDir(), "never")
	for _, tc := range []struct{ name, yaml, want string }{
		{"typo", "serve:\n  quotas:\n    - {repository: \"a/**\", bytes: 1GiB}\n", `unknown key "repository" in serve.quotas[0]; did you mean "repositories"?`},
		{"bad size", "serve:\n  quotas:\n    - {repositories: \"a/**\", bytes: lots}\n", `serve.quotas[0].bytes: size "lots"`},
		{"no bound", "serve:\n  quotas:\n    - {repositories: \"a/**\"}\n", `serve.quotas[0] (a/**): no bound`},
		{"not a list", "serve:\n  quotas: 5\n", "serve.quotas: want a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeTestFile(t, dir, tc.name+".yaml", tc.yaml)
			var stderr bytes.Buffer
			code := Main(context.Background(), []string{"serve", "--root", root, "--config", cfg}, strings.NewReader(""), io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.want) || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
				t.Errorf("exit %d, %q; want one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// FuzzDecodeQuotas feeds serve.quotas sections to the decoder: it never
// panics, and what it accepts has one rule per entry, none negative
// unless quota.New refuses it.
func FuzzDecodeQuotas(f *testing.F) {
	for _, s := range []string{
		"- {repositories: \"team-a/**\", bytes: 10GiB, tags: 500}\n",
		"- {repositories: \"a/*\", bytes: 1.073741824e+10}\n- {repositories: b, tags: 3}\n",
		"- {repositories: x, bytes: -1}\n",
		"5\n",
		"- {repository: x}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rules, err := decodeQuotas(raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", err)
			}
			return
		}
		q, err := quota.New(rules)
		if err != nil {
			return
		}
		if got := len(q.Usage()); got != len(rules) {
			t.Fatalf("%d rules decoded, %d kept", len(rules), got)
		}
		for _, r := range rules {
			if r.Bytes < 0 || r.Tags < 0 {
				t.Fatalf("a negative bound accepted: %+v", r)
			}
		}
	})
}

// TestServeQuotaRecountAfterGC pushes an image into a governed
// repository, deletes its manifest (the layers stay linked until garbage
// collection lets go of them) and checks that the online collection's run
// gives the quota its bytes back.
func TestServeQuotaRecountAfterGC(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	cfg := writeTestFile(t, dir, "gantry.yaml", "serve:\n  quotas:\n    - {repositories: \"team-a/**\", bytes: 10MiB}\n")
	addr, logs, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "root"), "--config", cfg, "--gc-interval", "300ms")
	imgs, err := testimage.Fleet(1, 1, 32<<10, 8<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := remote.New(addr, remote.Options{DockerConfig: os.DevNull})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := reg.Repository(t.Context(), "team-a/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := imgs[0].Push(t.Context(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	usage := func() string {
		_, m := get(t, "http://"+addr+"/metrics")
		return grepLines(m, `gantry_quota_bytes{`)
	}
	if u := usage(); strings.Contains(u, "} 0\n") {
		t.Fatalf("no usage after a push: %s", u)
	}
	if err := repo.(cas.Deleter).Delete(t.Context(), imgs[0].ManifestDesc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(usage(), `gantry_quota_bytes{repositories="team-a/**"} 0`) {
		if time.Now().After(deadline) {
			t.Fatalf("the usage after the delete and a garbage collection: %s\n%s", usage(), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "counted=\"garbage collection\"") {
		t.Errorf("no count after garbage collection in the log:\n%s", logs)
	}
}
