package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestCopyFullDisk copies an image onto a 2 MiB tmpfs that cannot hold it:
// the copy must fail with a clear error, leave no tag and no partial file.
func TestCopyFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("CI runs as root; this test mounts a tmpfs")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })

	layer, err := testimage.RandomLayer(3 << 20)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.NewImage([]testimage.Layer{layer}, []string{"/app"})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"big/app:1": img})
	dst := filepath.Join(small, "store")

	r := gantry(t, "copy", "oci:"+src+":big/app:1", "oci:"+dst+":big/app:1")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(strings.ToLower(r.Stderr), "no space") || !strings.Contains(r.Stderr, layer.Desc.Digest.String()) {
		t.Errorf("error %q should say the disk is full and name the blob %s", r.Stderr, layer.Desc.Digest)
	}
	if tags := indexTags(t, dst); len(tags) != 0 {
		t.Fatalf("tags %v after a failed copy", tags)
	}
	if _, err := os.Stat(filepath.Join(dst, "blobs", "sha256", layer.Desc.Digest.Encoded())); !os.IsNotExist(err) {
		t.Fatalf("partial layer visible: %v", err)
	}
	ingest, _ := os.ReadDir(filepath.Join(dst, ".gantry", "ingest"))
	if len(ingest) != 0 {
		t.Fatalf("%d temporary files left in .gantry/ingest", len(ingest))
	}
}
