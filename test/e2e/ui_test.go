package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
)

// TestUIInChromium builds two images with buildah on the busybox image,
// pushes them with skopeo into gantry serve, waits for the background
// analysis, and drives the web view in headless Chromium: screenshots at
// a phone's and a desktop's size must show a page (not one flat colour),
// and the DOM Chromium built must hold the repositories, tags and the
// findings of the image that wastes bytes. GANTRY_UI_SCREENSHOTS=DIR keeps
// the screenshots (the README's picture comes from there).
func TestUIInChromium(t *testing.T) {
	requireRoot(t, "buildah builds as root here")
	buildah := testenv.Tool(t, "buildah")
	skopeo := testenv.Tool(t, "skopeo")
	chromium := testenv.Tool(t, "chromium")
	s := startServer(t, t.TempDir())
	pushBusybox(t, s, "base/busybox:1")

	const bigBytes = 2_000_000
	builds := map[string][]string{
		// Writes a file in one layer and deletes it in the next: wasted
		// bytes, priced and blamed on the instruction.
		"apps/web:1": {
			"FROM " + s.Addr + "/base/busybox:1",
			fmt.Sprintf("RUN dd if=/dev/zero of=/big.bin bs=1000 count=%d", bigBytes/1000),
			"RUN rm /big.bin",
			`CMD ["/bin/sh"]`,
		},
		"apps/worker:2": {
			"FROM " + s.Addr + "/base/busybox:1",
			"RUN echo worker > /worker.txt",
			`CMD ["/bin/sh"]`,
		},
	}
	work := t.TempDir()
	b := buildahIn(t, buildah, work)
	for ref, lines := range builds {
		dir := filepath.Join(work, strings.NewReplacer("/", "_", ":", "_").Replace(ref))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		local := "localhost/" + ref
		b("bud", "--isolation", "chroot", "--layers", "--tls-verify=false", "-q", "-t", local, dir)
		layout := filepath.Join(dir, "layout")
		b("push", local, "oci:"+layout+":img")
		must(t, skopeo, "copy", "--dest-tls-verify=false", "oci:"+layout+":img", "docker://"+s.Addr+"/"+ref)
	}

	// The analysis runs in the background: wait for it through the
	// page's own JSON.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var p struct {
			Pending      int
			Repositories []struct {
				Name  string
				Known bool
			}
		}
		getJSON(t, s.URL("/ui/"), &p)
		known := 0
		for _, r := range p.Repositories {
			if r.Known {
				known++
			}
		}
		if p.Pending == 0 && known == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("analysis not done after 2 minutes: %+v", p)
		}
		time.Sleep(200 * time.Millisecond)
	}

	browse := func(args ...string) string {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
		return must(t, chromium, append(base, args...)...).Stdout
	}
	keep := os.Getenv("GANTRY_UI_SCREENSHOTS")
	for _, page := range []string{"/ui/", "/ui/repo/apps/web", "/ui/image/apps/web:1", "/ui/fleet"} {
		for _, size := range []string{"390,844", "1440,900"} {
			name := strings.NewReplacer("/", "-", ":", "-").Replace(strings.Trim(page, "/")) + "-" + strings.Replace(size, ",", "x", 1) + ".png"
			shot := filepath.Join(t.TempDir(), name)
			browse("--screenshot="+shot, "--window-size="+size, s.URL(page))
			checkScreenshot(t, shot)
			if keep != "" {
				data, _ := os.ReadFile(shot)
				if err := os.WriteFile(filepath.Join(keep, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	dom := browse("--dump-dom", s.URL("/ui/?sort=size"))
	for _, want := range []string{`href="/ui/repo/apps/web"`, `href="/ui/repo/apps/worker"`, `href="/ui/repo/base/busybox"`, `id="count">3<`} {
		if !strings.Contains(dom, want) {
			t.Errorf("repositories page lacks %q", want)
		}
	}
	dom = browse("--dump-dom", s.URL("/ui/repo/apps/web"))
	for _, want := range []string{`data-tag="1"`, "linux/amd64", `href="/ui/image/apps/web:1"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("tags page lacks %q", want)
		}
	}
	dom = browse("--dump-dom", s.URL("/ui/image/apps/web:1"))
	for _, want := range []string{`data-rule="GC005"`, `data-rule="GC004"`, "rm /big.bin", "1.9 MiB", "apps/worker:2", `data-state="ready"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("image page lacks %q", want)
		}
	}
	dom = browse("--dump-dom", s.URL("/ui/fleet"))
	for _, want := range []string{"<svg", "apps/web:1", "apps/worker:2", "base/busybox:1"} {
		if !strings.Contains(dom, want) {
			t.Errorf("fleet page lacks %q", want)
		}
	}
}

// getJSON fetches url asking for JSON.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// checkScreenshot decodes a PNG and fails unless it shows something: at
// least a few colours, and no one colour on nearly every pixel.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot %s: %v", filepath.Base(path), err)
	}
	r := img.Bounds()
	counts := map[[4]uint32]int{}
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			c0, c1, c2, c3 := img.At(x, y).RGBA()
			counts[[4]uint32{c0, c1, c2, c3}]++
		}
	}
	total, top := 0, 0
	for _, n := range counts {
		total += n
		top = max(top, n)
	}
	if len(counts) < 8 || top*100 > total*97 {
		t.Errorf("screenshot %s (%dx%d) is nearly one flat colour: %d colours, the commonest on %d%% of pixels", filepath.Base(path), r.Dx(), r.Dy(), len(counts), top*100/total)
	}
}
