package castest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func ingester(t *testing.T, s cas.Store, name string) (cas.Target, cas.Ingester) {
	t.Helper()
	r := repo(t, s, name)
	in, ok := r.(cas.Ingester)
	if !ok {
		t.Skip("no cas.Ingester")
	}
	return r, in
}

func newUpload(t *testing.T, in cas.Ingester) cas.Upload {
	t.Helper()
	u, err := in.NewUpload(t.Context())
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func resume(t *testing.T, in cas.Ingester, id string) cas.Upload {
	t.Helper()
	u, err := in.ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload(%s): %v", id, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func write(t *testing.T, u cas.Upload, b []byte) {
	t.Helper()
	n, err := u.Write(b)
	if err != nil || n != len(b) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(b), n, err)
	}
}

func commit(t *testing.T, u cas.Upload, desc ocispec.Descriptor) {
	t.Helper()
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatalf("Commit(%s): %v", desc.Digest, err)
	}
}

// writeChunks writes b in n nearly equal pieces.
func writeChunks(t *testing.T, u cas.Upload, b []byte, n int) {
	t.Helper()
	step := (len(b) + n - 1) / n
	for off := 0; off < len(b); off += step {
		write(t, u, b[off:min(off+step, len(b))])
	}
}

func testUpload(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload")
	before := time.Now()
	u := newUpload(t, in)
	if st := u.StartedAt(); st.Before(before.Add(-time.Second)) || st.After(time.Now().Add(time.Second)) {
		t.Fatalf("StartedAt = %v, want about %v", st, before)
	}
	if u.Size() != 0 {
		t.Fatalf("Size of a new upload = %d", u.Size())
	}
	b, desc := Blob(t, 300000)
	writeChunks(t, u, b, 7)
	if u.Size() != int64(len(b)) {
		t.Fatalf("Size = %d after writing %d bytes", u.Size(), len(b))
	}
	if exists(t, r, desc) {
		t.Fatal("content visible before Commit")
	}
	commit(t, u, desc)
	if !exists(t, r, desc) {
		t.Fatal("content absent after Commit")
	}
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("committed content differs from the bytes written")
	}
	_, err := in.ResumeUpload(t.Context(), u.ID())
	wantErr(t, "ResumeUpload of a committed session", err, cas.ErrNotFound)
}

func testUploadResume(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/resume")
	b, desc := Blob(t, 100000)
	u := newUpload(t, in)
	id, started := u.ID(), u.StartedAt()
	write(t, u, b[:40000])
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, end := range []int{70000, 100000} {
		u = resume(t, in, id)
		if u.ID() != id || !u.StartedAt().Equal(started) {
			t.Fatalf("resumed session is %s started %v, want %s started %v", u.ID(), u.StartedAt(), id, started)
		}
		start := []int{40000, 70000}[i]
		if u.Size() != int64(start) {
			t.Fatalf("resumed Size = %d, want %d", u.Size(), start)
		}
		write(t, u, b[start:end])
		if i == 0 {
			if err := u.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	}
	commit(t, u, desc)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content written over three sessions differs")
	}
}

func testUploadOtherRepository(t *testing.T, _ Config, s cas.Store) {
	_, a := ingester(t, s, "test/upload/a")
	_, b := ingester(t, s, "test/upload/b")
	u := newUpload(t, a)
	write(t, u, []byte("hello"))
	_, err := b.ResumeUpload(t.Context(), u.ID())
	wantErr(t, "ResumeUpload from another repository", err, cas.ErrNotFound)
	for _, id := range []string{"nosuchupload", strings.Repeat("0", 32), strings.Repeat("a", 43), "../../etc", ""} {
		_, err = a.ResumeUpload(t.Context(), id)
		wantErr(t, fmt.Sprintf("ResumeUpload(%q)", id), err, cas.ErrNotFound)
	}
	resume(t, a, u.ID()) // still there for its own repository
}

func testUploadMismatch(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/mismatch")
	b, desc := Blob(t, 5000)
	u := newUpload(t, in)
	write(t, u, b)
	_, other := Blob(t, 5000)
	wantErr(t, "Commit with a wrong digest", u.Commit(t.Context(), other), cas.ErrDigestMismatch)
	long := desc
	long.Size++
	wantErr(t, "Commit with a wrong size", u.Commit(t.Context(), long), cas.ErrSizeMismatch)
	if exists(t, r, desc) || exists(t, r, other) {
		t.Fatal("content visible after a failed Commit")
	}
	if u.Size() != int64(len(b)) {
		t.Fatalf("Size after failed Commits = %d, want %d", u.Size(), len(b))
	}
	resume(t, in, u.ID()).Close() // the session is still there
	commit(t, u, desc)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

func testUploadExisting(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/existing")
	b, desc := Blob(t, 1000)
	push(t, r, desc, b)
	u := newUpload(t, in)
	write(t, u, b)
	commit(t, u, desc)
	_, err := in.ResumeUpload(t.Context(), u.ID())
	wantErr(t, "ResumeUpload after Commit of existing content", err, cas.ErrNotFound)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

func testUploadCancel(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/cancel")
	b, desc := Blob(t, 1000)
	u := newUpload(t, in)
	write(t, u, b)
	if err := u.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err := in.ResumeUpload(t.Context(), u.ID())
	wantErr(t, "ResumeUpload after Cancel", err, cas.ErrNotFound)
	if exists(t, r, desc) {
		t.Fatal("content of a cancelled upload is visible")
	}
}

func testUploadSHA512(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/sha512")
	b, _ := Blob(t, 70000)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.SHA512.FromBytes(b), Size: int64(len(b))}
	u := newUpload(t, in)
	writeChunks(t, u, b, 3)
	// A sha256 digest of the same bytes is the right content under another
	// name, but a wrong sha512 is a mismatch.
	bad := ocispec.Descriptor{Digest: digest.SHA512.FromBytes(b[1:]), Size: int64(len(b))}
	wantErr(t, "Commit with a wrong sha512", u.Commit(t.Context(), bad), cas.ErrDigestMismatch)
	commit(t, u, desc)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("sha512 content differs")
	}
}

func testUploadEmpty(t *testing.T, _ Config, s cas.Store) {
	r, in := ingester(t, s, "test/upload/empty")
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(nil), Size: 0}
	u := newUpload(t, in)
	commit(t, u, desc)
	if got := fetch(t, r, desc); len(got) != 0 {
		t.Fatalf("empty upload fetched as %d bytes", len(got))
	}
}

// idBits estimates the randomness an ID can hold from its alphabet.
func idBits(id string) int {
	hexOnly := strings.Trim(id, "0123456789abcdef") == "" || strings.Trim(id, "0123456789ABCDEF") == ""
	if hexOnly {
		return 4 * len(id)
	}
	return 6 * len(id)
}

func testUploadIDs(t *testing.T, _ Config, s cas.Store) {
	_, in := ingester(t, s, "test/upload/ids")
	seen := map[string]bool{}
	for range 50 {
		u := newUpload(t, in)
		id := u.ID()
		if seen[id] {
			t.Fatalf("ID %q given twice", id)
		}
		seen[id] = true
		if strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("ID %q is not URL-safe (want [A-Za-z0-9_-])", id)
		}
		if bits := idBits(id); bits < 128 {
			t.Fatalf("ID %q holds at most %d bits, want at least 128", id, bits)
		}
		if err := u.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func testPurgeUploads(t *testing.T, _ Config, s cas.Store) {
	p, ok := s.(cas.UploadPurger)
	if !ok {
		t.Skip("no cas.UploadPurger")
	}
	_, a := ingester(t, s, "test/purge/a")
	_, b := ingester(t, s, "test/purge/b")
	stale1, stale2 := newUpload(t, a), newUpload(t, b)
	write(t, stale1, make([]byte, 1000))
	write(t, stale2, make([]byte, 234))
	const idle = 200 * time.Millisecond
	time.Sleep(idle + 50*time.Millisecond)
	fresh := newUpload(t, a)
	write(t, fresh, []byte("fresh"))
	n, bytes, err := p.PurgeUploads(t.Context(), cas.PurgeOptions{Idle: idle})
	if err != nil {
		t.Fatalf("PurgeUploads: %v", err)
	}
	if n != 2 || bytes != 1234 {
		t.Fatalf("PurgeUploads = %d sessions, %d bytes; want 2, 1234", n, bytes)
	}
	for _, c := range []struct {
		in cas.Ingester
		id string
	}{{a, stale1.ID()}, {b, stale2.ID()}} {
		_, err := c.in.ResumeUpload(t.Context(), c.id)
		wantErr(t, "ResumeUpload of a purged session", err, cas.ErrNotFound)
	}
	if _, err := stale1.Write([]byte("x")); err == nil {
		t.Fatal("Write to a purged session succeeded")
	}
	u := resume(t, a, fresh.ID())
	if u.Size() != 5 {
		t.Fatalf("fresh session Size = %d after purge, want 5", u.Size())
	}
	if n, _, err := p.PurgeUploads(t.Context(), cas.PurgeOptions{Idle: time.Hour}); err != nil || n != 0 {
		t.Fatalf("second PurgeUploads = %d, %v; want 0", n, err)
	}
}

// testPurgeEmptySooner: sessions never written to expire after IdleEmpty,
// sessions with bytes only after Idle.
func testPurgeEmptySooner(t *testing.T, _ Config, s cas.Store) {
	p, ok := s.(cas.UploadPurger)
	if !ok {
		t.Skip("no cas.UploadPurger")
	}
	_, in := ingester(t, s, "test/purge/empty")
	empty, full := newUpload(t, in), newUpload(t, in)
	write(t, full, []byte("resumable"))
	empty.Close()
	full.Close()
	const short = 100 * time.Millisecond
	time.Sleep(short + 50*time.Millisecond)
	n, bytes, err := p.PurgeUploads(t.Context(), cas.PurgeOptions{Idle: time.Hour, IdleEmpty: short})
	if err != nil || n != 1 || bytes != 0 {
		t.Fatalf("PurgeUploads = %d sessions, %d bytes, %v; want 1, 0", n, bytes, err)
	}
	_, err = in.ResumeUpload(t.Context(), empty.ID())
	wantErr(t, "ResumeUpload of an expired empty session", err, cas.ErrNotFound)
	resume(t, in, full.ID()).Close()
}

// testOpenUploads: the count follows sessions as they begin and end, per
// repository, and requests for IDs that name no session add nothing.
func testOpenUploads(t *testing.T, _ Config, s cas.Store) {
	c, ok := s.(cas.UploadCounter)
	if !ok {
		t.Skip("no cas.UploadCounter")
	}
	count := func(name string) (int, int) {
		t.Helper()
		n, total, err := c.OpenUploads(t.Context(), name)
		if err != nil {
			t.Fatalf("OpenUploads(%s): %v", name, err)
		}
		return n, total
	}
	_, a := ingester(t, s, "test/count/a")
	_, b := ingester(t, s, "test/count/b")
	_, base := count("test/count/a")
	u1, u2, u3 := newUpload(t, a), newUpload(t, a), newUpload(t, b)
	if n, total := count("test/count/a"); n != 2 || total != base+3 {
		t.Fatalf("OpenUploads(a) = %d, %d; want 2, %d", n, total, base+3)
	}
	for i := range 100 {
		id := fmt.Sprintf("%032x", i+1)
		if _, err := a.ResumeUpload(t.Context(), id); err == nil {
			t.Fatalf("ResumeUpload of the made-up ID %s succeeded", id)
		}
	}
	write(t, u1, []byte("x"))
	if err := u1.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, d := Blob(t, 10)
	write(t, u3, []byte("not it"))
	_ = u3.Commit(t.Context(), d) // a mismatch: the session stays
	if n, _ := count("test/count/b"); n != 1 {
		t.Fatalf("OpenUploads(b) = %d after a failed Commit, want 1", n)
	}
	if n, total := count("test/count/a"); n != 1 || total != base+2 {
		t.Fatalf("OpenUploads(a) after a Cancel = %d, %d; want 1, %d (made-up IDs must add nothing)", n, total, base+2)
	}
	_ = u2.Cancel(t.Context())
	if n, _ := count("test/count/a"); n != 0 {
		t.Fatalf("OpenUploads(a) after every session ended = %d", n)
	}
}

func referrerIndex(t *testing.T, s cas.Store, name string) cas.ReferrerIndex {
	t.Helper()
	ri, ok := repo(t, s, name).(cas.ReferrerIndex)
	if !ok {
		t.Skip("no cas.ReferrerIndex")
	}
	return ri
}

func referrers(t *testing.T, ri cas.ReferrerIndex, subject digest.Digest) []digest.Digest {
	t.Helper()
	list, err := ri.Referrers(t.Context(), subject)
	if err != nil {
		t.Fatalf("Referrers(%s): %v", subject, err)
	}
	if list == nil {
		t.Fatalf("Referrers(%s) = nil, want an empty list", subject)
	}
	ds := make([]digest.Digest, len(list))
	for i, d := range list {
		ds[i] = d.Digest
	}
	return ds
}

// referrer returns the descriptor of a made-up artifact manifest.
func referrer(i int) ocispec.Descriptor {
	b := fmt.Appendf(nil, "referrer %d", i)
	return ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sbom",
		Digest:       digest.FromBytes(b),
		Size:         int64(len(b)),
		Annotations:  map[string]string{"n": fmt.Sprint(i)},
	}
}

func addReferrer(t *testing.T, ri cas.ReferrerIndex, subject digest.Digest, desc ocispec.Descriptor) {
	t.Helper()
	if err := ri.AddReferrer(t.Context(), subject, desc); err != nil {
		t.Fatalf("AddReferrer(%s, %s): %v", subject, desc.Digest, err)
	}
}

func wantReferrers(t *testing.T, what string, got []digest.Digest, want ...ocispec.Descriptor) {
	t.Helper()
	ws := make([]digest.Digest, len(want))
	for i, d := range want {
		ws[i] = d.Digest
	}
	if fmt.Sprint(got) != fmt.Sprint(ws) {
		t.Fatalf("%s: Referrers = %v, want %v", what, got, ws)
	}
}

func testReferrers(t *testing.T, cfg Config, s cas.Store) {
	ri := referrerIndex(t, s, "test/referrers")
	subject, other := digest.FromString("subject"), digest.FromString("other")
	if got := referrers(t, ri, subject); len(got) != 0 {
		t.Fatalf("Referrers of an unknown subject = %v", got)
	}
	r0, r1, r2, r3 := referrer(0), referrer(1), referrer(2), referrer(3)
	for _, d := range []ocispec.Descriptor{r2, r0, r1, r0} {
		addReferrer(t, ri, subject, d)
	}
	addReferrer(t, ri, other, r3)
	wantReferrers(t, "after adds", referrers(t, ri, subject), r2, r0, r1)
	list, err := ri.Referrers(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	if list[0].ArtifactType != r2.ArtifactType || list[0].Annotations["n"] != "2" || list[0].Size != r2.Size || list[0].MediaType != r2.MediaType {
		t.Fatalf("Referrers returned %+v, want %+v", list[0], r2)
	}
	if err := ri.RemoveReferrer(t.Context(), subject, r0.Digest); err != nil {
		t.Fatalf("RemoveReferrer: %v", err)
	}
	if err := ri.RemoveReferrer(t.Context(), subject, r3.Digest); err != nil {
		t.Fatalf("RemoveReferrer of an absent entry: %v", err)
	}
	if err := ri.RemoveReferrer(t.Context(), digest.FromString("nothing"), r3.Digest); err != nil {
		t.Fatalf("RemoveReferrer for an unknown subject: %v", err)
	}
	wantReferrers(t, "after remove", referrers(t, ri, subject), r2, r1)
	wantReferrers(t, "other subject", referrers(t, ri, other), r3)

	elsewhere := referrerIndex(t, s, "test/referrers/elsewhere")
	if got := referrers(t, elsewhere, subject); len(got) != 0 {
		t.Fatalf("referrers of repository test/referrers visible in another: %v", got)
	}
	addReferrer(t, elsewhere, subject, r3)
	wantReferrers(t, "own repository after another's add", referrers(t, ri, subject), r2, r1)

	if cfg.Reopen == nil {
		return
	}
	s = cfg.Reopen(t, s)
	ri = referrerIndex(t, s, "test/referrers")
	wantReferrers(t, "after reopen", referrers(t, ri, subject), r2, r1)
	wantReferrers(t, "other subject after reopen", referrers(t, ri, other), r3)
	wantReferrers(t, "other repository after reopen", referrers(t, referrerIndex(t, s, "test/referrers/elsewhere"), subject), r3)
	list, err = ri.Referrers(t.Context(), subject)
	if err != nil || list[0].ArtifactType != r2.ArtifactType || list[0].Annotations["n"] != "2" {
		t.Fatalf("after reopen Referrers = %+v, %v; want %+v first", list, err, r2)
	}
	addReferrer(t, ri, subject, r0)
	wantReferrers(t, "add after reopen", referrers(t, ri, subject), r2, r1, r0)
}

// uploadReopen checks that an unfinished session survives a restart.
func testUploadReopen(t *testing.T, cfg Config, s cas.Store) {
	if cfg.Reopen == nil {
		t.Skip("the store does not persist")
	}
	_, in := ingester(t, s, "test/upload/reopen")
	b, desc := Blob(t, 200000)
	u := newUpload(t, in)
	id, started := u.ID(), u.StartedAt()
	write(t, u, b[:123456])
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	s = cfg.Reopen(t, s)
	r, in := ingester(t, s, "test/upload/reopen")
	u = resume(t, in, id)
	if u.Size() != 123456 || u.StartedAt().Sub(started).Abs() > time.Second {
		t.Fatalf("after reopen: Size %d, StartedAt %v; want 123456, %v", u.Size(), u.StartedAt(), started)
	}
	write(t, u, b[123456:])
	commit(t, u, desc)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content of a session resumed after reopen differs")
	}
}
