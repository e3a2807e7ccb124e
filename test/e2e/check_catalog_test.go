package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
)

// TestCheckCatalogBuildah builds, with buildah, the way golang's alpine
// image ships its toolchain: a build stage moves it under /target and the
// final stage copies /target/ to /. gantry lint finds it by following the
// build stage, gantry check by its installed files in the image; both
// name it from the same catalogue entry, with its typical size and advice.
func TestCheckCatalogBuildah(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "demo/busybox:1")

	ctx := t.TempDir()
	dockerfile := filepath.Join(ctx, "Dockerfile")
	lines := []string{
		"FROM " + s.Addr + "/demo/busybox:1 AS build",
		"RUN mkdir -p /usr/local/go/pkg/tool/linux_amd64 /usr/local/go/bin && dd if=/dev/zero of=/usr/local/go/pkg/tool/linux_amd64/compile bs=1000 count=300 && mkdir -p /target/usr/local && mv /usr/local/go /target/usr/local/go",
		"FROM " + s.Addr + "/demo/busybox:1",
		"COPY --from=build /target/ /",
		"USER 1000",
		`CMD ["/bin/sh"]`,
	}
	if err := os.WriteFile(dockerfile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	b := buildahIn(t, buildah, base)
	b("bud", "--isolation", "chroot", "--layers", "--tls-verify=false", "-q", "-t", "localhost/gotarget", "-f", dockerfile, ctx)
	b("push", "--tls-verify=false", "localhost/gotarget", "docker://"+s.Addr+"/demo/gotarget:1")

	type finding struct{ Rule, Message string }
	run := func(rule string, args ...string) finding {
		t.Helper()
		res := testenv.Run(t, 2*time.Minute, testenv.Gantry(t), append(args, "--failure-threshold", "none", "--format", "json")...)
		if res.Code != 0 {
			t.Fatalf("gantry %s: exit %d\nstderr: %s\nstdout: %s", args[0], res.Code, res.Stderr, res.Stdout)
		}
		var out struct{ Findings []finding }
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("gantry %s output: %v\n%s", args[0], err, res.Stdout)
		}
		var got []finding
		for _, f := range out.Findings {
			if f.Rule == rule {
				got = append(got, f)
			}
		}
		if len(got) != 1 {
			t.Fatalf("gantry %s: %d %s findings, want one: %+v", args[0], len(got), rule, out.Findings)
		}
		return got[0]
	}
	lint := run("GL301", "lint", dockerfile)
	check := run("GC010", "check", "--insecure", s.Addr+"/demo/gotarget:1")
	if !strings.Contains(check.Message, "a Go toolchain in /usr/local/go ") {
		t.Errorf("GC010 does not name the toolchain where it lives: %s", check.Message)
	}
	for _, want := range []string{"a Go toolchain", "typically 500 MB installed", "instead, build in a golang stage"} {
		for _, f := range []finding{lint, check} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("%s does not say %q: %s", f.Rule, want, f.Message)
			}
		}
	}
}
