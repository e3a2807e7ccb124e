package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestAnalyze pushes generated images to gantry serve, runs gantry check and
// gantry fleet on them, and opens fleet's HTML report in headless Chromium
// to check that every image appears in the rendered page.
func TestAnalyze(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	s := startServer(t, t.TempDir())
	reg, err := remote.New(s.Addr, remote.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := testimage.Fleet(4, 2, 200000, 10000, 11)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, img := range imgs {
		repo, err := reg.Repository(t.Context(), fmt.Sprintf("team/app%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(t.Context(), repo, "v1"); err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s/team/app%d:v1", s.Addr, i))
	}
	// One image with everything check looks for.
	bad := imagetest.Image([]testimage.Layer{
		imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), imagetest.Sized("usr/bin/supervisord", 100), imagetest.Sized("tmp/big", 300000)),
		imagetest.Layer(imagetest.Zstd, imagetest.Whiteout("tmp/big"), imagetest.File("app/.env", "API_KEY=abc123\n")),
	}, imagetest.Config{Cmd: []string{"supervisord", "-n"}, CreatedBy: []string{"ADD rootfs /", "RUN rm /tmp/big"}})
	repo, err := reg.Repository(t.Context(), "team/bad")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Push(t.Context(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	gantry := testenv.Gantry(t)

	res := testenv.Run(t, 2*time.Minute, gantry, "check", "--insecure", "--format", "json", names[0], s.Addr+"/team/bad:v1")
	if res.Code != 1 {
		t.Fatalf("check: exit %d, want 1 (error findings); stderr:\n%s", res.Code, res.Stderr)
	}
	var out struct {
		Findings []struct {
			Rule, Image, Layer string
			Bytes              int64
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("check output: %v\n%s", err, res.Stdout)
	}
	rules := map[string]bool{}
	for _, f := range out.Findings {
		rules[f.Rule] = true
		if f.Rule == "GC004" && strings.HasSuffix(f.Image, "team/bad:v1") && f.Bytes != 300000 {
			t.Errorf("wasted %d, want 300000", f.Bytes)
		}
	}
	for _, r := range []string{"GC001", "GC004", "GC005", "GC020", "GC030", "GC042"} {
		if !rules[r] {
			t.Errorf("check: no %s finding in\n%s", r, res.Stdout)
		}
	}

	html := filepath.Join(t.TempDir(), "fleet.html")
	res = testenv.Run(t, 2*time.Minute, gantry, "fleet", "--insecure", "--json", "--html", html, "--registry", s.Addr+"/team")
	if res.Code != 0 {
		t.Fatalf("fleet: exit %d; stderr:\n%s", res.Code, res.Stderr)
	}
	var fr struct {
		Images          []struct{ Name string }
		Recommendations []struct{ Saves int64 }
	}
	if err := json.Unmarshal([]byte(res.Stdout), &fr); err != nil {
		t.Fatalf("fleet output: %v\n%s", err, res.Stdout)
	}
	if len(fr.Images) != 5 {
		t.Errorf("fleet: %d images, want 5", len(fr.Images))
	}
	if len(fr.Recommendations) == 0 || fr.Recommendations[0].Saves <= 0 {
		t.Errorf("fleet: no saving recommended: %s", res.Stdout)
	}
	profile := t.TempDir()
	res = testenv.Run(t, 2*time.Minute, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile, "--dump-dom", "file://"+html)
	if res.Code != 0 {
		t.Fatalf("chromium: exit %d:\n%s", res.Code, res.Stderr)
	}
	for _, n := range append(names, s.Addr+"/team/bad:v1") {
		if !strings.Contains(res.Stdout, n) {
			t.Errorf("%s not in the rendered report", n)
		}
	}
	if !strings.Contains(res.Stdout, "<svg") {
		t.Error("no SVG in the rendered report")
	}
	if b, err := os.ReadFile(html); err == nil && strings.Contains(string(b), "<script") {
		t.Error("the report should need no script")
	}
}
