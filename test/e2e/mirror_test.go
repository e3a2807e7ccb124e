package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
)

// mirrorBlobGets is the number of blob GETs a mirror answered 200.
func mirrorBlobGets(t *testing.T, mirror *server) float64 {
	return metricSum(scrape(t, mirror), "gantry_http_requests_total", `route="blob_get",status="200"`)
}

// Three crane pulls at once through gantry serve --mirror, then a skopeo
// copy: every client gets the image, the upstream sends each blob once, and
// a push to the mirrored name is refused.
func TestServeMirrorCraneSkopeo(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	skopeo := testenv.Tool(t, "skopeo")
	origin := startServer(t, t.TempDir())
	img := pushBusybox(t, origin, "demo/busybox:1")
	blobs := float64(len(img.Layers) + 1)
	mirror := startServer(t, t.TempDir(), "--mirror", "http://"+origin.Addr)

	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			out := filepath.Join(t.TempDir(), "image.tar")
			r := testenv.Run(t, timeout, crane, "pull", "--insecure", "--format", "oci", mirror.Addr+"/demo/busybox:1", out)
			if r.Code != 0 {
				t.Errorf("crane pull %d through the mirror: exit %d: %s", i, r.Code, r.Stderr)
			}
		})
	}
	wg.Wait()
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("the upstream answered %v blob GETs for 3 pulls at once, want %v (one per blob)", got, blobs)
	}
	dst := filepath.Join(t.TempDir(), "layout")
	must(t, skopeo, "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+mirror.Addr+"/demo/busybox:1", "oci:"+dst+":demo/busybox:1")
	if got := skopeoDigest(t, "oci:"+dst+":demo/busybox:1"); got != img.ManifestDesc.Digest.String() {
		t.Errorf("skopeo copied %s, want %s", got, img.ManifestDesc.Digest)
	}
	if got := originBlobGets(t, origin); got != blobs {
		t.Errorf("a warm pull sent %v more blob GETs upstream, want 0", got-blobs)
	}
	r := testenv.Run(t, timeout, crane, "copy", "--insecure", origin.Addr+"/demo/busybox:1", mirror.Addr+"/demo/busybox:mine")
	if r.Code == 0 {
		t.Error("crane pushed to a name the mirror serves from its upstream")
	} else if !strings.Contains(r.Stderr, "mirrored") {
		t.Errorf("a push to a mirrored name said %q, want it to say the name is mirrored", r.Stderr)
	}
}

// containerd pulls docker.io/library/busybox through gantry serve as the
// mirror of a fake docker.io (another gantry serve), with the hosts.toml
// that gantry serve containerd-config writes, and runs it.
func TestServeMirrorContainerd(t *testing.T) {
	requireRoot(t, "containerd runs containers as root")
	testenv.Tool(t, "containerd")
	ctrBin := testenv.Tool(t, "ctr")
	testenv.Tool(t, "runc")
	hub := startServer(t, t.TempDir()) // the fake docker.io
	img := pushBusybox(t, hub, "library/busybox:1")
	blobs := float64(len(img.Layers) + 1)
	mirrorArg := "docker.io/=http://" + hub.Addr
	mirror := startServer(t, t.TempDir(), "--mirror", mirrorArg)
	hosts := t.TempDir()
	mustGantry(t, "serve", "containerd-config", "--mirror", mirrorArg, "--url", "http://"+mirror.Addr, "-o", hosts)
	if _, err := os.Stat(filepath.Join(hosts, "docker.io", "hosts.toml")); err != nil {
		t.Fatalf("containerd-config wrote no docker.io/hosts.toml: %v", err)
	}
	sock := testenv.Containerd(t)
	ref := "docker.io/library/busybox:1"
	r := testenv.Run(t, timeout, ctrBin, "--address", sock, "images", "pull", "--hosts-dir", hosts, ref)
	if r.Code != 0 {
		t.Fatalf("ctr pull through the mirror: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	id := fmt.Sprintf("gantry-mirror-e2e-%d", os.Getpid())
	r = must(t, ctrBin, "--address", sock, "run", "--rm", ref, id)
	if strings.TrimSpace(r.Stdout) != "hello from gantry" {
		t.Fatalf("the container printed %q, want %q", r.Stdout, "hello from gantry")
	}
	if got := mirrorBlobGets(t, mirror); got != blobs {
		t.Errorf("the mirror served %v blob GETs, want %v: containerd went around it", got, blobs)
	}
	if got := originBlobGets(t, hub); got != blobs {
		t.Errorf("the fake docker.io answered %v blob GETs, want %v", got, blobs)
	}
}
