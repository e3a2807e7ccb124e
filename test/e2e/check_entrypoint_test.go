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

// TestCheckEntrypointScriptsBuildah builds small busybox images with
// buildah whose ENTRYPOINT/CMD is a shell script copied into the image,
// pushes them to gantry serve and checks them: gantry check must read the
// script from the image and report the process manager it execs, or the
// services it starts in the background (in an image built with --squash,
// located to the image), and stay quiet on a script that hands over to its
// CMD with exec "$@".
func TestCheckEntrypointScriptsBuildah(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "demo/busybox:1")

	ctx := t.TempDir()
	for name, body := range map[string]string{
		// runsvdir is a busybox applet: the link makes it a real program.
		"start":         "#!/bin/sh\nset -e\nmkdir -p /etc/service\nexec runsvdir -P /etc/service\n",
		"entrypoint.sh": "#!/bin/sh\nhttpd -f -p 8080 &\ncrond -f &\nwait\n",
		"handover.sh":   "#!/bin/sh\nset -e\n[ -d /data ] || mkdir -p /data\nexec \"$@\"\n",
	} {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	from := "FROM " + s.Addr + "/demo/busybox:1"
	images := []struct {
		name   string
		lines  []string
		squash bool
		want   string // a part of the GC020 message, "" for none
	}{
		{"runsvdir", []string{from, "COPY start /usr/local/bin/start", "ENV PATH=/usr/local/bin:/sbin:/bin", "RUN mkdir -p /sbin && ln -s /bin/busybox /sbin/runsvdir", `CMD ["start"]`}, false,
			"runs /usr/local/bin/start, which starts runsvdir"},
		{"background", []string{from, "COPY entrypoint.sh /entrypoint.sh", "ENV MODE=squashed", `ENTRYPOINT ["/entrypoint.sh"]`}, true,
			"runs /entrypoint.sh, which starts 2 processes in the background"},
		{"handover", []string{from, "COPY handover.sh /usr/local/bin/handover.sh", `ENTRYPOINT ["handover.sh"]`, `CMD ["httpd", "-f", "-p", "8080"]`}, false, ""},
	}
	base := t.TempDir()
	b := buildahIn(t, buildah, base)
	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			dockerfile := filepath.Join(ctx, "Dockerfile."+img.name)
			if err := os.WriteFile(dockerfile, []byte(strings.Join(img.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			mode := "--layers"
			if img.squash {
				mode = "--squash"
			}
			b("bud", "--isolation", "chroot", mode, "--tls-verify=false", "-q", "-t", "localhost/"+img.name, "-f", dockerfile, ctx)
			ref := s.Addr + "/demo/" + img.name + ":1"
			b("push", "--tls-verify=false", "localhost/"+img.name, "docker://"+ref)

			res := testenv.Run(t, 2*time.Minute, testenv.Gantry(t), "check", "--insecure", "--failure-threshold", "none", "--format", "json", ref)
			if res.Code != 0 {
				t.Fatalf("check: exit %d\nstderr: %s\nstdout: %s", res.Code, res.Stderr, res.Stdout)
			}
			var out struct {
				Findings []struct{ Rule, Severity, Message, Layer string }
			}
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("check output: %v\n%s", err, res.Stdout)
			}
			var pm []string
			for _, f := range out.Findings {
				if f.Rule == "GC001" && img.squash && !strings.Contains(f.Message, " in 1 layers") {
					t.Errorf("the --squash image is not one layer: %s", f.Message)
				}
				if f.Rule != "GC020" {
					continue
				}
				pm = append(pm, f.Message)
				if f.Severity != "error" || f.Layer != "" {
					t.Errorf("GC020 %s on layer %q, want an error on the image", f.Severity, f.Layer)
				}
			}
			switch {
			case img.want == "" && len(pm) > 0:
				t.Errorf("GC020 on a script that hands over to its CMD: %q", pm)
			case img.want != "" && (len(pm) != 1 || !strings.Contains(pm[0], img.want)):
				t.Errorf("GC020 %q, want one saying %q", pm, img.want)
			}
			if t.Failed() {
				t.Logf("check output:\n%s", res.Stdout)
			}
		})
	}
}
