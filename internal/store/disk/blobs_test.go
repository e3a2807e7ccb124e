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
	"testing/iotest"

	"github.com/gantry-dev/gantry/internal/cas"

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

// TestPushLargeFailures drives the pipelined copy of large blobs through
// each failure: nothing becomes visible and no temporary file stays.
func TestPushLargeFailures(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name  string
		input func(b []byte) io.Reader
		want  error
	}{
		{"wrong digest", func(b []byte) io.Reader { c := bytes.Clone(b); c[5<<20] ^= 1; return bytes.NewReader(c) }, cas.ErrDigestMismatch},
		{"short", func(b []byte) io.Reader { return bytes.NewReader(b[:7<<20]) }, cas.ErrSizeMismatch},
		{"long", func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b), strings.NewReader("x")) }, cas.ErrSizeMismatch},
		{"reader error", func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b[:3<<20]), iotest.ErrReader(boom)) }, boom},
	}
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	b, desc := castest.Blob(t, 8<<20)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Push(t.Context(), desc, tc.input(b)); !errors.Is(err, tc.want) {
				t.Fatalf("Push: %v, want %v", err, tc.want)
			}
			if ok, _ := r.Exists(t.Context(), desc); ok {
				t.Fatal("content visible after a failed push")
			}
			if entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".gantry", "ingest")); len(entries) != 0 {
				t.Fatalf("temporary files left: %v", entries)
			}
		})
	}
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	rc, _ := r.Fetch(t.Context(), desc)
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, b) {
		t.Fatal("large blob read back differs")
	}
}
