package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/report/sariftest"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// TestCheckDockerfileBuildah builds an image with buildah from a Dockerfile,
// FROM the busybox image served by gantry serve, pushes it back, and runs
// gantry check --dockerfile on it: the findings must sit on the Dockerfile
// lines that made their layers, with the bytes the layers really hold.
func TestCheckDockerfileBuildah(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "demo/busybox:1")

	const (
		debBytes = 50_000    // a package "cache" left by line 2
		bigBytes = 1_500_000 // made by line 4, deleted by line 5
	)
	ctx := t.TempDir()
	files := map[string][]byte{
		"app/data.bin":  bytes.Repeat([]byte("gantry"), 20_000),
		"app/conf.txt":  []byte("key=value\n"),
		"app/lib/x.txt": bytes.Repeat([]byte{'x'}, 3_000),
	}
	var copied int64
	for name, data := range files {
		p := filepath.Join(ctx, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		copied += int64(len(data))
	}
	dockerfile := filepath.Join(ctx, "Dockerfile")
	lines := []string{
		"FROM " + s.Addr + "/demo/busybox:1",
		// busybox's sh runs its applets without links to them.
		"RUN mkdir -p /var/cache/apt/archives && dd if=/dev/zero of=/var/cache/apt/archives/tool.deb bs=1000 count=" + fmt.Sprint(debBytes/1000),
		"COPY app /app",
		"RUN dd if=/dev/zero of=/big bs=1000 count=" + fmt.Sprint(bigBytes/1000),
		"RUN rm /big",
		"RUN chmod -R 700 /app",
		`CMD ["/bin/sh"]`,
	}
	if err := os.WriteFile(dockerfile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	base := t.TempDir()
	b := buildahIn(t, buildah, base)
	b("bud", "--isolation", "chroot", "--layers", "--tls-verify=false", "-q", "-t", "localhost/x", "-f", dockerfile, ctx)
	b("push", "--tls-verify=false", "localhost/x", "docker://"+s.Addr+"/demo/x:1")

	image := s.Addr + "/demo/x:1"
	res := testenv.Run(t, 2*time.Minute, testenv.Gantry(t), "check", "--insecure", "--failure-threshold", "none", "--format", "json", "--dockerfile", dockerfile, image)
	if res.Code != 0 {
		t.Fatalf("check: exit %d\nstderr: %s\nstdout: %s", res.Code, res.Stderr, res.Stdout)
	}
	// The same findings as SARIF, valid against the official schema.
	sres := testenv.Run(t, 2*time.Minute, testenv.Gantry(t), "check", "--insecure", "--failure-threshold", "none", "--format", "sarif", "--dockerfile", dockerfile, image)
	if sres.Code != 0 {
		t.Fatalf("check --format sarif: exit %d\nstderr: %s", sres.Code, sres.Stderr)
	}
	sariftest.Validate(t, []byte(sres.Stdout))

	var out struct {
		Findings []struct {
			Rule, Severity, Message, File, Image, Layer string
			Line                                        int
			Bytes                                       int64
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("check output: %v\n%s", err, res.Stdout)
	}
	var layers []string // digests, in the order findings name them by line
	get := func(rule string, line int) (found bool, bytes int64, layer string) {
		for _, f := range out.Findings {
			if f.Rule == rule && (line == 0 || f.Line == line) {
				if line > 0 && f.File != dockerfile {
					t.Errorf("%s on line %d names file %q, want %s", rule, line, f.File, dockerfile)
				}
				if f.Image != image {
					t.Errorf("%s: image %q, want %s", rule, f.Image, image)
				}
				return true, f.Bytes, f.Layer
			}
		}
		t.Errorf("no %s finding on line %d", rule, line)
		return false, 0, ""
	}
	for _, want := range []struct {
		rule  string
		line  int
		bytes int64
	}{
		{"GC004", 0, bigBytes + copied}, // the deleted file, and the first copy of what chmod -R copied again
		{"GC051", 2, debBytes},          // the .deb "cache" line 2 left
		{"GC006", 3, copied},            // COPY stored what chmod -R overwrites
		{"GC006", 4, bigBytes},          // line 4 stores what line 5 deletes
		{"GC005", 5, bigBytes},          // line 5 hides exactly the deleted file
		{"GL501", 6, copied},            // chmod -R stored the copied files again
		{"GC005", 6, copied},            // and hides their first copy
	} {
		ok, n, layer := get(want.rule, want.line)
		if !ok {
			continue
		}
		if n != want.bytes {
			t.Errorf("%s on line %d: %d bytes, want %d", want.rule, want.line, n, want.bytes)
		}
		if want.line > 0 {
			if layer == "" {
				t.Errorf("%s on line %d names no layer", want.rule, want.line)
			}
			layers = append(layers, layer)
		}
	}
	// Lines 2 to 6 made five different layers (GL501 and GC005 of line 6
	// name the same one).
	if len(layers) == 6 && (layers[4] != layers[5] || len(slices.Compact(slices.Clone(layers))) != 5) {
		t.Errorf("layers by line: %v", layers)
	}
	for _, f := range out.Findings {
		if f.Rule == "GC070" && (f.Severity != "info" || !strings.Contains(f.Message, "5 instructions linked to layers 2-6; layers 1-1 come from the base image (line 1)")) {
			t.Errorf("GC070: %s %s", f.Severity, f.Message)
		}
	}
	if t.Failed() {
		t.Logf("check output:\n%s", res.Stdout)
	}

	// tty output shows the bytes.
	res = testenv.Run(t, 2*time.Minute, testenv.Gantry(t), "check", "--insecure", "--failure-threshold", "none", "--dockerfile", dockerfile, image)
	if res.Code != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("%s:6:1 %s@", dockerfile, image)) || !strings.Contains(res.Stdout, "GL501") {
		t.Errorf("check tty: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
}

// TestCheckSquashedBuildah builds an image with buildah --squash, whose one
// layer holds the changes of every instruction while the history keeps an
// entry per instruction (all marked empty but the last, a CMD). gantry
// check must locate its findings to the squashed layer, never to the CMD,
// and with --dockerfile say that the image is squashed rather than that
// the Dockerfile does not match it.
func TestCheckSquashedBuildah(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "demo/busybox:1")

	ctx := t.TempDir()
	dockerfile := filepath.Join(ctx, "Dockerfile")
	lines := []string{
		"FROM " + s.Addr + "/demo/busybox:1",
		"RUN mkdir -p /var/cache/apt/archives && dd if=/dev/zero of=/var/cache/apt/archives/tool.deb bs=1000 count=50",
		"RUN dd if=/dev/zero of=/big bs=1000 count=1500",
		"RUN rm /big",
		"ENV MODE=squashed",
		`CMD ["/bin/sh"]`,
	}
	if err := os.WriteFile(dockerfile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	b := buildahIn(t, buildah, base)
	b("bud", "--isolation", "chroot", "--squash", "--tls-verify=false", "-q", "-t", "localhost/squashed", "-f", dockerfile, ctx)
	b("push", "--tls-verify=false", "localhost/squashed", "docker://"+s.Addr+"/demo/squashed:1")
	image := s.Addr + "/demo/squashed:1"

	type finding struct {
		Rule, Severity, Message, File, Layer string
		Line                                 int
	}
	check := func(extra ...string) []finding {
		t.Helper()
		args := append([]string{"check", "--insecure", "--failure-threshold", "none", "--format", "json"}, extra...)
		res := testenv.Run(t, 2*time.Minute, testenv.Gantry(t), append(args, image)...)
		if res.Code != 0 {
			t.Fatalf("check: exit %d\nstderr: %s\nstdout: %s", res.Code, res.Stderr, res.Stdout)
		}
		var out struct{ Findings []finding }
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("check output: %v\n%s", err, res.Stdout)
		}
		return out.Findings
	}
	for _, extra := range [][]string{nil, {"--dockerfile", dockerfile}} {
		fs := check(extra...)
		cache := false
		for _, f := range fs {
			if strings.Contains(f.Message, "CMD") {
				t.Errorf("%s blames the CMD for a squashed layer: %s", f.Rule, f.Message)
			}
			if f.Rule == "GC051" {
				cache = true
				if !strings.Contains(f.Message, "squashed") {
					t.Errorf("GC051 does not name the squashed layer: %s", f.Message)
				}
			}
			if f.Line > 0 && f.Layer != "" {
				t.Errorf("%s links line %d to a layer of a squashed image: %s", f.Rule, f.Line, f.Message)
			}
		}
		if !cache {
			t.Errorf("no GC051 finding for the .deb left in the squashed layer: %+v", fs)
		}
		if len(extra) > 0 {
			link := slices.IndexFunc(fs, func(f finding) bool { return f.Rule == "GC070" })
			if link < 0 || fs[link].Severity != "info" || !strings.Contains(fs[link].Message, "squashed") {
				t.Errorf("GC070 should say the image is squashed: %+v", fs)
			}
		}
	}
}
