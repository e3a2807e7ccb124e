package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// onlyReader hides a reader's WriterTo, so io.Copy uses the upload's
// ReadFrom as it does with an HTTP request body.
type onlyReader struct{ io.Reader }

func ingest(t *testing.T, s *Store, repo string) *Repo {
	t.Helper()
	r, err := s.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Repo)
}

func TestUploadSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := ingest(t, s, "app")
	b, desc := castest.Blob(t, 3<<20)
	u, err := r.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	if _, err := u.Write(b[:1<<20]); err != nil {
		t.Fatal(err)
	}
	u.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, dir)
	rep, err := s.Fsck(t.Context(), FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || len(rep.StrayTempsRemoved) != 0 || rep.UploadSessions != 1 || rep.UploadBytes != 1<<20 {
		t.Fatalf("Fsck with a live session: clean %v, strays %v, sessions %d (%d bytes); want clean, none, 1 (1 MiB)",
			rep.Clean(), rep.StrayTempsRemoved, rep.UploadSessions, rep.UploadBytes)
	}
	r = ingest(t, s, "app")
	u, err = r.ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload after reopen: %v", err)
	}
	defer u.Close()
	if _, err := io.Copy(u, onlyReader{bytes.NewReader(b[1<<20:])}); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatalf("Commit after reopen (re-hashed): %v", err)
	}
	if _, err := os.Stat(s.uploadPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("session directory left after Commit: %v", err)
	}
}

// TestUploadCommitRenames checks that Commit moves the data file into
// blobs/ rather than copying it, and leaves the blob read-only.
func TestUploadCommitRenames(t *testing.T) {
	s := openT(t, t.TempDir())
	r := ingest(t, s, "app")
	b, desc := castest.Blob(t, 5<<20+7)
	u, err := r.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := io.Copy(u, onlyReader{bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(s.uploadPath(u.ID(), uploadData))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(s.blobPath(desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
		t.Fatal("the blob is not the session's data file: Commit copied the bytes")
	}
	if after.Mode().Perm()&0o222 != 0 {
		t.Fatalf("committed blob mode %v, want read-only", after.Mode())
	}
	rc, _ := r.Fetch(t.Context(), desc)
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

// TestUploadReadFromFailure: a body that breaks midway keeps the bytes it
// delivered, and the session goes on from there.
func TestUploadReadFromFailure(t *testing.T) {
	s := openT(t, t.TempDir())
	r := ingest(t, s, "app")
	b, desc := castest.Blob(t, 9<<20)
	boom := errors.New("connection reset")
	for _, cut := range []int{1000, 6<<20 + 3} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			u, err := r.NewUpload(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			n, err := io.Copy(u, io.MultiReader(bytes.NewReader(b[:cut]), iotest.ErrReader(boom)))
			if !errors.Is(err, boom) || n != int64(cut) || u.Size() != int64(cut) {
				t.Fatalf("io.Copy of a failing body = %d, %v; Size %d; want %d, the body's error", n, err, u.Size(), cut)
			}
			if _, err := io.Copy(u, onlyReader{bytes.NewReader(b[cut:])}); err != nil {
				t.Fatal(err)
			}
			if err := u.Commit(t.Context(), desc); err != nil {
				t.Fatal(err)
			}
			if err := r.Delete(t.Context(), desc); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUploadDiskFull fills a small tmpfs (root only): the error names the
// upload and the lack of space, the session stays consistent, and Cancel
// gives the space back.
func TestUploadDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	s, err := Open(filepath.Join(mnt, "store"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := ingest(t, s, "app")
	b, _ := castest.Blob(t, 4<<20)
	for _, how := range []string{"ReadFrom", "Write"} {
		t.Run(how, func(t *testing.T) {
			u, err := r.NewUpload(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if how == "Write" {
				_, err = u.Write(b)
			} else {
				_, err = io.Copy(u, onlyReader{bytes.NewReader(b)})
			}
			if err == nil || !strings.Contains(err.Error(), u.ID()) || !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("%s on a full disk: %v; want an error naming upload %s and the lack of space", how, err, u.ID())
			}
			fi, err := os.Stat(s.uploadPath(u.ID(), uploadData))
			if err != nil || fi.Size() != u.Size() {
				t.Fatalf("data file %d bytes (%v), Size %d: they must agree", fi.Size(), err, u.Size())
			}
			if err := u.Cancel(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, sdesc := castest.Blob(t, 1000)
	u, err := r.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write(small)
	if err := u.Commit(t.Context(), sdesc); err != nil {
		t.Fatalf("a small upload after the failures: %v", err)
	}
}

// TestPurgeAfterReopen: sessions from before a restart are expired by the
// age of their data, and a broken session directory is cleared.
func TestPurgeAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := ingest(t, s, "app")
	var ids []string
	for range 2 {
		u, err := r.NewUpload(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		u.Write(make([]byte, 100))
		u.Close()
		ids = append(ids, u.ID())
	}
	s.Close()
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".gantry", "uploads", ids[0], uploadData), old, old); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, ".gantry", "uploads", strings.Repeat("ab", 16))
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, uploadInfo), []byte(`{"repository":"app"`), 0o644)

	s = openT(t, dir)
	n, size, err := s.PurgeUploads(t.Context(), cas.PurgeOptions{Idle: time.Hour})
	if err != nil || n != 1 || size != 100 {
		t.Fatalf("PurgeUploads = %d, %d, %v; want 1, 100", n, size, err)
	}
	r = ingest(t, s, "app")
	if _, err := r.ResumeUpload(t.Context(), ids[0]); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("purged session: %v", err)
	}
	u, err := r.ResumeUpload(t.Context(), ids[1])
	if err != nil {
		t.Fatalf("fresh session after purge: %v", err)
	}
	u.Close()
	if _, err := os.Stat(broken); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("broken session directory kept: %v", err)
	}
}

// TestUploadCrashBeforeRename: a crash between Commit's chmod and its
// rename leaves a read-only data file; the session must still be usable.
func TestUploadCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := ingest(t, s, "app")
	b, desc := castest.Blob(t, 5000)
	u, _ := r.NewUpload(t.Context())
	u.Write(b[:2000])
	u.Close()
	s.Close()
	if err := os.Chmod(filepath.Join(dir, ".gantry", "uploads", u.ID(), uploadData), 0o444); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	r = ingest(t, s, "app")
	u, err = r.ResumeUpload(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write(b[2000:]); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatal(err)
	}
}

// TestReferrersFile checks that Close compacts referrer records into
// .gantry/referrers.json and empties the journal.
func TestReferrersFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := ingest(t, s, "app")
	subject := digest.FromString("subject")
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x.sig", Digest: digest.FromString("a"), Size: 1}
	if err := r.AddReferrer(t.Context(), subject, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".gantry", referrersFile))
	if err != nil || !bytes.Contains(b, []byte(a.Digest)) || !bytes.Contains(b, []byte(`"application/x.sig"`)) {
		t.Fatalf("referrers.json = %s, %v; want the entry", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, ".gantry", journalFile)); fi.Size() != 0 {
		t.Fatalf("journal holds %d bytes after Close", fi.Size())
	}
}

// TestReferrerReplayIdempotent replays journal records that referrers.json
// already reflects, as a crash between the flush and the journal trim
// leaves them: the order must not change.
func TestReferrerReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := ingest(t, s, "app")
	subject := digest.FromString("subject")
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a"), Size: 1}
	b := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("b"), Size: 1}
	ctx := t.Context()
	for _, err := range []error{
		r.AddReferrer(ctx, subject, a), r.RemoveReferrer(ctx, subject, a.Digest),
		r.AddReferrer(ctx, subject, a), r.AddReferrer(ctx, subject, b),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	journal, err := os.ReadFile(filepath.Join(dir, ".gantry", journalFile))
	if err != nil || len(journal) == 0 {
		t.Fatalf("journal: %d bytes, %v", len(journal), err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, ".gantry", journalFile), journal, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	list, err := ingest(t, s, "app").Referrers(ctx, subject)
	if err != nil || len(list) != 2 || list[0].Digest != a.Digest || list[1].Digest != b.Digest {
		t.Fatalf("after replaying applied records: %v, %v; want [a b]", list, err)
	}
}

// TestUnknownUploadIDsAllocateNothing: requests for upload IDs that name no
// session (made up, or of a session that ended) leave nothing in the
// session map, however many come.
func TestUnknownUploadIDsAllocateNothing(t *testing.T) {
	s := openT(t, t.TempDir())
	r := ingest(t, s, "app")
	u, err := r.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		id := fmt.Sprintf("%032x", i)
		if i == 0 {
			id = u.ID()
		}
		if _, err := r.ResumeUpload(t.Context(), id); !errors.Is(err, cas.ErrNotFound) {
			t.Fatalf("ResumeUpload(%s) = %v, want ErrNotFound", id, err)
		}
	}
	s.umu.Lock()
	n, perRepo := len(s.uploads), len(s.perRepo)
	s.umu.Unlock()
	if n != 0 || perRepo != 0 {
		t.Fatalf("after 1000 unknown IDs the store keeps %d sessions and %d repository counts, want 0", n, perRepo)
	}
}

// stallReader returns first (if any) from its first Read, then blocks
// until release is closed and ends; entered gets a value when it blocks.
type stallReader struct {
	first   []byte
	entered chan<- struct{}
	release <-chan struct{}
	once    sync.Once
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.first) > 0 {
		n := copy(p, r.first)
		r.first = r.first[n:]
		return n, nil
	}
	r.once.Do(func() { r.entered <- struct{}{} })
	<-r.release
	return 0, io.EOF
}

// TestStalledUploadHoldsLittle: uploads whose bodies send nothing, or a
// little and then nothing, hold no megabyte buffer while they wait, and
// those that sent nothing hold no data file either.
func TestStalledUploadHoldsLittle(t *testing.T) {
	for _, sent := range []int{0, 100, 100 << 10} {
		t.Run(fmt.Sprintf("after %d bytes", sent), func(t *testing.T) {
			testStalledUpload(t, sent)
		})
	}
}

func testStalledUpload(t *testing.T, sent int) {
	s := openT(t, t.TempDir())
	r := ingest(t, s, "app")
	const stalled = 64
	entered := make(chan struct{}, stalled)
	release := make(chan struct{})
	var ups []cas.Upload
	for range stalled {
		u, err := r.NewUpload(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		u.Close() // as the registry does between requests: no descriptor
		u, err = r.ResumeUpload(t.Context(), u.ID())
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for _, u := range ups {
		wg.Go(func() {
			if _, err := io.Copy(u, &stallReader{first: make([]byte, sent), entered: entered, release: release}); err != nil {
				t.Errorf("ReadFrom: %v", err)
			}
		})
	}
	for range stalled {
		<-entered
	}
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	t.Logf("%d stalled uploads: heap %d -> %d bytes", stalled, before.HeapAlloc, during.HeapAlloc)
	open := 0
	s.umu.Lock()
	for _, sess := range s.uploads {
		if sess.w.f != nil {
			open++
		}
	}
	s.umu.Unlock()
	close(release)
	wg.Wait()
	for _, u := range ups {
		if u.Size() != int64(sent) {
			t.Errorf("upload holds %d bytes, want %d", u.Size(), sent)
		}
		u.Close()
	}
	// Before the fix each stalled upload took a 1 MiB buffer and opened
	// its data file at once.
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc) - int64(stalled*sent); grew > stalled*128<<10 {
		t.Errorf("%d stalled uploads grew the heap by %d bytes, want under %d", stalled, grew, stalled*128<<10)
	}
	if sent == 0 && open != 0 {
		t.Errorf("%d stalled uploads hold their data file open", open)
	}
}
