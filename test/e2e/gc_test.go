package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// smallTar writes a tar holding one file of n bytes of content, for crane
// append.
func smallTar(t *testing.T, name string, n int) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := make([]byte, n)
	rand.Read(body) // incompressible: the layer is about n bytes
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	p := filepath.Join(t.TempDir(), name+".tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gcFixture serves a store holding busybox in demo/a:1 and demo/b:1, and
// an image pushed by crane to demo/c:1 whose manifest is then deleted
// (its three blobs are garbage), as well as demo/a's manifest (whose
// blobs demo/b still holds).
func gcFixture(t *testing.T, root string, extra ...string) (*server, string) {
	t.Helper()
	crane := testenv.GoTool(t, "crane")
	s := startServer(t, root, extra...)
	img := pushBusybox(t, s, "demo/a:1")
	pushBusybox(t, s, "demo/b:1")
	must(t, crane, "append", "--insecure", "--oci-empty-base", "-f", smallTar(t, "garbage", 20000), "-t", s.Addr+"/demo/c:1")
	d := strings.TrimSpace(must(t, crane, "digest", "--insecure", s.Addr+"/demo/c:1").Stdout)
	must(t, crane, "delete", "--insecure", s.Addr+"/demo/c@"+d)
	must(t, crane, "delete", "--insecure", s.Addr+"/demo/a@"+img.ManifestDesc.Digest.String())
	return s, crane
}

// pullAll pulls every tag of every repository with crane.
func pullAll(t *testing.T, crane string, s *server) int {
	t.Helper()
	n := 0
	for _, repo := range strings.Fields(must(t, crane, "catalog", "--insecure", s.Addr).Stdout) {
		for _, tag := range strings.Fields(must(t, crane, "ls", "--insecure", s.Addr+"/"+repo).Stdout) {
			must(t, crane, "pull", "--insecure", "--format", "oci", s.Addr+"/"+repo+":"+tag, filepath.Join(t.TempDir(), "pulled"))
			n++
		}
	}
	return n
}

// TestGCDryRunAndCollect: gantry gc --dry-run on the stopped store says
// what would go and how many bytes, and changes nothing; gantry gc takes
// exactly that; fsck is clean and crane pulls every image left.
func TestGCDryRunAndCollect(t *testing.T) {
	root := t.TempDir()
	s, crane := gcFixture(t, root)
	s.Stop()
	r := mustGantry(t, "gc", "--root", root, "--grace", "0", "--dry-run", "--json")
	var dry struct {
		DryRun         bool
		BlobsReclaimed int
		BytesReclaimed int64
		Unlinked       []struct{ Repository string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &dry); err != nil {
		t.Fatalf("gc --dry-run --json: %v\n%s", err, r.Stdout)
	}
	// demo/c's manifest, config and layer; demo/a lets go of busybox's
	// config and layer, which demo/b keeps.
	if !dry.DryRun || dry.BlobsReclaimed != 3 || dry.BytesReclaimed < 20000 || len(dry.Unlinked) != 4 {
		t.Fatalf("dry run: %+v", dry)
	}
	r = mustGantry(t, "gc", "--root", root, "--grace", "0", "--dry-run")
	if !strings.Contains(r.Stdout, "would remove") || !strings.Contains(r.Stdout, "3 blob files") {
		t.Fatalf("gc --dry-run:\n%s", r.Stdout)
	}
	r = mustGantry(t, "gc", "--root", root, "--grace", "0", "--json")
	var done struct {
		BlobsReclaimed int
		BytesReclaimed int64
	}
	json.Unmarshal([]byte(r.Stdout), &done)
	if done.BlobsReclaimed != dry.BlobsReclaimed || done.BytesReclaimed != dry.BytesReclaimed {
		t.Fatalf("gc took %+v, the dry run said %+v", done, dry)
	}
	mustGantry(t, "fsck", root)
	s = startServer(t, root)
	if n := pullAll(t, crane, s); n != 1 {
		t.Fatalf("pulled %d images, want demo/b:1 only", n)
	}
}

// TestServeOnlineGC: gantry serve --gc-interval collects while it serves,
// counts it in /metrics, and every image left still pulls.
func TestServeOnlineGC(t *testing.T) {
	root := t.TempDir()
	// A grace of 2 s, not 0: the collector runs while gcFixture pushes,
	// and with no grace it may unlink demo/b's blobs between their upload
	// and the manifest that refers to them (as a CI run once showed).
	s, crane := gcFixture(t, root, "--gc-interval", "300ms", "--gc-grace", "2s")
	re := regexp.MustCompile(`(?m)^gantry_gc_blobs_reclaimed_total (\d+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := re.FindSubmatch(b); m != nil {
			if n, _ := strconv.Atoi(string(m[1])); n >= 3 {
				if !bytes.Contains(b, []byte("gantry_gc_max_pause_seconds")) {
					t.Fatal("no pause metric")
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("online GC reclaimed nothing in 20s; metrics:\n%s\nlog:\n%s", b, s.logs.tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := pullAll(t, crane, s); n != 1 {
		t.Fatalf("pulled %d images, want 1", n)
	}
	if !strings.Contains(s.logs.String(), "garbage collection") {
		t.Fatal("no log line per run")
	}
	s.Stop()
	mustGantry(t, "fsck", root)
}

// TestS3OnlineGC: two `gantry serve --s3` replicas on one bucket; the
// images of gcFixture are pushed and deleted through one, and the other
// collects (--gc-interval): what was deleted goes, the image left pulls
// through both. gantry gc --s3 --dry-run reports on the same bucket while
// they serve.
func TestS3OnlineGC(t *testing.T) {
	loc := s3test.Start(t).URL()
	for _, kv := range s3test.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, crane := gcFixture(t, loc)
	r := mustGantry(t, "gc", "--s3", loc, "--grace", "0", "--dry-run", "--json")
	var dry struct {
		DryRun   bool
		Unlinked []struct{ Repository string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &dry); err != nil || !dry.DryRun || len(dry.Unlinked) != 4 {
		t.Fatalf("gc --s3 --dry-run: %v %+v\n%s", err, dry, r.Stdout)
	}
	a := startServer(t, loc, "--gc-interval", "300ms", "--gc-grace", "0")
	re := regexp.MustCompile(`(?m)^gantry_gc_blobs_reclaimed_total (\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.URL("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := re.FindSubmatch(body); m != nil {
			if n, _ := strconv.Atoi(string(m[1])); n >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("online GC on S3 reclaimed fewer than 3 blobs in 30s; metrics:\n%s\nlog:\n%s", body, a.logs.tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range []*server{a, b} {
		if n := pullAll(t, crane, s); n != 1 {
			t.Fatalf("pulled %d images through %s, want 1", n, s.Addr)
		}
	}
}
