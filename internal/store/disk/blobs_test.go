package disk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas/castest"
)

// cancelAfter is a reader that cancels its context once n bytes were read,
// then keeps yielding data: only the store's own check can stop the push.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestPushCancelledMidway(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	b, desc := castest.Blob(t, 8<<20)
	ctx, cancel := context.WithCancel(t.Context())
	err := r.Push(ctx, desc, &cancelAfter{r: bytes.NewReader(b), n: 1 << 20, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Push: %v, want context.Canceled", err)
	}
	if ok, _ := r.Exists(t.Context(), desc); ok {
		t.Fatal("cancelled blob visible")
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".gantry", "ingest")); len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// TestPushDiskFull fills a small tmpfs (root only): the error names the
// digest and says the disk is full, and no temporary file is left.
func TestPushDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	s, err := Open(filepath.Join(mnt, "store"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ := s.Repository(t.Context(), "app")
	b, desc := castest.Blob(t, 2<<20)
	err = r.Push(t.Context(), desc, bytes.NewReader(b))
	if err == nil || !strings.Contains(err.Error(), desc.Digest.String()) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Push on a full disk: %v; want an error naming %s and the lack of space", err, desc.Digest)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".gantry", "ingest")); len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
	small, sdesc := castest.Blob(t, 1000)
	if err := r.Push(t.Context(), sdesc, bytes.NewReader(small)); err != nil {
		t.Fatalf("a small push after the failure: %v", err)
	}
}
