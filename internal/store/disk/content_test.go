package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas/castest"
)

// TestPlantedLinks: a symbolic link or a directory planted where content
// belongs is never followed, served or written through, and a write onto
// it is never acknowledged.
func TestPlantedLinks(t *testing.T) {
	secret := []byte("outside the store")
	outsideFile := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(p, secret, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unchanged := func(t *testing.T, p string) {
		t.Helper()
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, secret) {
			t.Fatalf("the file outside the store changed: %q, %v", b, err)
		}
	}

	t.Run("link at a blob path", func(t *testing.T) {
		s := openT(t, t.TempDir())
		r, _ := s.Repository(t.Context(), "app")
		blob, desc := castest.Blob(t, 100)
		if err := r.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
		out := outsideFile(t)
		p := s.blobPath(desc.Digest)
		os.Remove(p)
		if err := os.Symlink(out, p); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fetch(t.Context(), desc); err == nil || !isNotFound(err) {
			t.Fatalf("Fetch through a planted link: %v, want not found", err)
		}
		if ok, _ := r.Exists(t.Context(), desc); ok {
			t.Fatal("Exists through a planted link = true")
		}
		// A push of the real bytes replaces the link with the blob.
		if err := r.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
			t.Fatalf("Push over a planted link: %v", err)
		}
		rc, err := r.Fetch(t.Context(), desc)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		unchanged(t, out)
	})

	t.Run("link at an algorithm directory", func(t *testing.T) {
		s := openT(t, t.TempDir())
		r, _ := s.Repository(t.Context(), "app")
		blob, desc := castest.Blob(t, 100)
		if err := r.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
		// Move the whole sha256 directory out and link to it: the bytes
		// are right, but they are outside the store now.
		elsewhere := filepath.Join(t.TempDir(), "sha256")
		alg := filepath.Dir(s.blobPath(desc.Digest))
		if err := os.Rename(alg, elsewhere); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, alg); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fetch(t.Context(), desc); err == nil {
			t.Fatal("Fetch through a linked blobs/sha256 succeeded")
		}
		rep, err := s.Fsck(t.Context(), FsckOptions{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damaged) != 1 || rep.Damaged[0].Reason != DamageNotRegular {
			t.Fatalf("fsck: damaged %+v, want the linked directory", rep.Damaged)
		}
		if fi, err := os.Lstat(alg); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			t.Fatal("repair left the link in place")
		}
		if _, err := os.Stat(filepath.Join(elsewhere, desc.Digest.Encoded())); err != nil {
			t.Fatalf("repair touched what the link pointed at: %v", err)
		}
	})

	t.Run("directory at a blob path", func(t *testing.T) {
		s := openT(t, t.TempDir())
		r, _ := s.Repository(t.Context(), "app")
		blob, desc := castest.Blob(t, 100)
		if err := os.MkdirAll(filepath.Join(s.blobPath(desc.Digest), "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.Push(t.Context(), desc, bytes.NewReader(blob)); err == nil {
			t.Fatal("Push onto a directory was acknowledged")
		}
		if ok, _ := r.Exists(t.Context(), desc); ok {
			t.Fatal("a failed push onto a directory left the blob visible")
		}
	})

	t.Run("link at an upload's data file", func(t *testing.T) {
		s := openT(t, t.TempDir())
		r, _ := s.Repository(t.Context(), "app")
		u, err := r.(*Repo).NewUpload(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		id := u.ID()
		u.Close()
		// Drop the session's open file, as a restart would.
		s.umu.Lock()
		delete(s.uploads, id)
		s.umu.Unlock()
		out := outsideFile(t)
		data := s.uploadPath(id, uploadData)
		os.Remove(data)
		if err := os.Symlink(out, data); err != nil {
			t.Fatal(err)
		}
		u, err = r.(*Repo).ResumeUpload(t.Context(), id)
		if err == nil {
			_, err = u.Write([]byte("appended"))
			u.Close()
		}
		if err == nil {
			t.Fatal("an append through a planted link succeeded")
		}
		unchanged(t, out)
	})
}
