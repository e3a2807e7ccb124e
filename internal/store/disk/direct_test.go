package disk

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas/castest"
)

// TestDirectWrites pushes and uploads blobs whose pieces end anywhere
// (appends over several requests, a resume after a restart, unaligned
// memory) with O_DIRECT in use and with O_DIRECT refused, on the test's
// disk and on a tmpfs: every byte must land where it belongs.
func TestDirectWrites(t *testing.T) {
	dirs := map[string]func(*testing.T) string{"disk": func(t *testing.T) string { return t.TempDir() }}
	if os.Geteuid() == 0 {
		dirs["tmpfs"] = func(t *testing.T) string {
			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a tmpfs: %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", mnt).Run() })
			return mnt
		}
	}
	for fs, mkdir := range dirs {
		for _, refuse := range []bool{false, true} {
			name := fs + "/direct"
			if refuse {
				name = fs + "/refused"
			}
			t.Run(name, func(t *testing.T) {
				var opened, refused atomic.Int64
				orig := openDirect
				openDirect = func(p string) (*os.File, error) {
					if refuse {
						refused.Add(1)
						return nil, syscall.EINVAL
					}
					f, err := orig(p)
					if err == nil {
						opened.Add(1)
					}
					return f, err
				}
				t.Cleanup(func() { openDirect = orig })
				testDirectWrites(t, filepath.Join(mkdir(t), "store"))
				if refuse && (refused.Load() == 0 || opened.Load() != 0) || !refuse && opened.Load() == 0 {
					t.Fatalf("O_DIRECT opened %d times, refused %d times", opened.Load(), refused.Load())
				}
			})
		}
	}
}

func testDirectWrites(t *testing.T, dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	r := ingest(t, s, "app")

	// Push: sizes around the block and buffer boundaries.
	for _, n := range []int{100, directAlign, 3<<20 + 5, 4 << 20} {
		b, desc := castest.Blob(t, n)
		if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
			t.Fatalf("push of %d bytes: %v", n, err)
		}
		checkBlob(t, s, desc.Digest.Encoded(), b)
	}

	// An upload in pieces that end anywhere, resumed after a restart.
	data, desc := castest.Blob(t, 12<<20+777)
	pieces := []struct {
		n   int
		how string
	}{{100, "Write"}, {3<<20 + 7, "ReadFrom"}, {5000, "Write"}, {2<<20 + 1, "Write"}, {1 << 20, "ReadFrom"}, {0, "restart"}, {2<<20 + 123, "ReadFrom"}, {1 << 20, "Write"}}
	u, err := r.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	off := 0
	for _, p := range pieces {
		switch p.how {
		case "Write":
			if _, err := u.Write(data[off : off+p.n]); err != nil {
				t.Fatal(err)
			}
		case "ReadFrom":
			if _, err := io.Copy(u, onlyReader{bytes.NewReader(data[off : off+p.n])}); err != nil {
				t.Fatal(err)
			}
		case "restart":
			u.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(dir, Options{}); err != nil {
				t.Fatal(err)
			}
			r = ingest(t, s, "app")
			if u, err = r.ResumeUpload(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}
		off += p.n
		if u.Size() != int64(off) {
			t.Fatalf("after %s of %d bytes: Size %d, want %d", p.how, p.n, u.Size(), off)
		}
		// A new request each time: a new handle on the session.
		u.Close()
		if u, err = r.ResumeUpload(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.Copy(u, onlyReader{bytes.NewReader(data[off:])}); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatal(err)
	}
	u.Close()
	checkBlob(t, s, desc.Digest.Encoded(), data)
}

func checkBlob(t *testing.T, s *Store, hex string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(s.path(blobsDir, "sha256", hex))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s: %d bytes differ from the %d pushed", hex, len(got), len(want))
	}
}
