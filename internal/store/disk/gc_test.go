package disk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func repoT(t testing.TB, s *Store, name string) *Repo {
	t.Helper()
	r, err := s.Repository(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Repo)
}

func collect(t *testing.T, s *Store, opts GCOptions) *GCReport {
	t.Helper()
	rep, err := s.Collect(t.Context(), opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rep
}

func fileExists(s *Store, d ocispec.Descriptor) bool {
	_, err := os.Lstat(s.blobPath(d.Digest))
	return err == nil
}

func fsckClean(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.Fsck(t.Context(), FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || len(rep.Incomplete) > 0 {
		t.Fatalf("fsck not clean: %+v", rep)
	}
}

// age makes every link and released time of the store older by d, as if
// the content had been pushed and let go of that long ago.
func age(s *Store, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.links {
		for k, l := range set {
			l.Since -= int64(d / time.Second)
			set[k] = l
		}
	}
	for k := range s.released {
		s.released[k] -= int64(d / time.Second)
	}
	s.gcMu.Lock()
	for k := range s.touched {
		s.touched[k] -= int64(d)
	}
	s.gcMu.Unlock()
}

// TestCollectDeletedImage: a deleted manifest's config and layer leave the
// repository once no manifest of it reaches them, and their files go once
// no repository holds them and the grace period has passed; a dry run
// says exactly that and changes nothing.
func TestCollectDeletedImage(t *testing.T) {
	s := openT(t, t.TempDir())
	a, b := repoT(t, s, "team/a"), repoT(t, s, "team/b")
	m, c, l := pushImage(t, a)
	if err := a.Tag(t.Context(), m, "v1"); err != nil {
		t.Fatal(err)
	}
	pushAgain(t, a, b, c)
	pushAgain(t, a, b, l)
	pushAgain(t, a, b, m)
	if err := b.Tag(t.Context(), m, "v1"); err != nil {
		t.Fatal(err)
	}
	other, oc, ol := pushImage(t, a) // a second image, kept
	if err := a.Tag(t.Context(), other, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}

	// Within the grace period nothing goes.
	rep := collect(t, s, GCOptions{})
	if len(rep.Unlinked) != 0 || rep.BlobsReclaimed != 0 {
		t.Fatalf("within grace: %+v", rep)
	}
	age(s, 2*DefaultGrace)
	// team/a lets go of c and l, but team/b holds them: no file goes.
	rep = collect(t, s, GCOptions{})
	if len(rep.Unlinked) != 2 || rep.BlobsReclaimed != 0 {
		t.Fatalf("after deleting in team/a: %+v", rep)
	}
	if exists(t, s, "team/a", l) || !exists(t, s, "team/b", l) || !exists(t, s, "team/a", ol) {
		t.Fatal("links after the first run are wrong")
	}
	if err := b.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	age(s, 2*DefaultGrace)
	dry := collect(t, s, GCOptions{DryRun: true})
	// m was let go of long ago; c and l would be let go of now.
	if !dry.DryRun || len(dry.Unlinked) != 2 || dry.BlobsReclaimed != 1 || dry.BytesReclaimed != m.Size {
		t.Fatalf("dry run: %+v", dry)
	}
	if !fileExists(s, m) || !exists(t, s, "team/b", l) {
		t.Fatal("dry run changed the store")
	}
	age(s, 2*DefaultGrace) // the checks above looked l up, as a client would
	rep = collect(t, s, GCOptions{})
	if len(rep.Unlinked) != 2 || rep.BlobsReclaimed != 1 {
		t.Fatalf("second run: %+v", rep)
	}
	age(s, 2*DefaultGrace)
	rep = collect(t, s, GCOptions{})
	if rep.BlobsReclaimed != 2 || rep.BytesReclaimed != c.Size+l.Size {
		t.Fatalf("third run: %+v", rep)
	}
	for _, d := range []ocispec.Descriptor{m, c, l} {
		if fileExists(s, d) {
			t.Fatalf("%s still stored", d.Digest)
		}
	}
	for _, d := range []ocispec.Descriptor{other, oc, ol} {
		if !fileExists(s, d) || !exists(t, s, "team/a", d) {
			t.Fatalf("kept image lost %s", d.Digest)
		}
	}
	fsckClean(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, s.Dir())
	fsckClean(t, s)
	if _, err := s.Collect(t.Context(), GCOptions{Grace: NoGrace}); err != nil {
		t.Fatal(err)
	}
	if !exists(t, s, "team/a", ol) {
		t.Fatal("kept layer lost after reopen")
	}
}

// TestCollectNoGraceDryRunMatches: with no grace, a dry run predicts the
// blobs a real run removes in the same pass.
func TestCollectNoGraceDryRunMatches(t *testing.T) {
	s := openT(t, t.TempDir())
	a := repoT(t, s, "x")
	m, _, _ := pushImage(t, a)
	if err := a.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	dry := collect(t, s, GCOptions{Grace: NoGrace, DryRun: true})
	rep := collect(t, s, GCOptions{Grace: NoGrace})
	if dry.BlobsReclaimed != 3 || rep.BlobsReclaimed != 3 || dry.BytesReclaimed != rep.BytesReclaimed {
		t.Fatalf("dry %+v, real %+v", dry, rep)
	}
}

// TestCollectSparesPinnedAndGuarded: a blob a push is about to link (pinned
// before it looked for the file) survives a collection that finds it
// garbage, and a repository whose manifest PUT is checking its children
// loses nothing.
func TestCollectSparesPinnedAndGuarded(t *testing.T) {
	s := openT(t, t.TempDir())
	a := repoT(t, s, "x")
	m, c, l := pushImage(t, a)
	if err := a.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	release := a.Guard()
	rep := collect(t, s, GCOptions{Grace: NoGrace})
	if len(rep.Unlinked) != 0 || !slices.Equal(rep.Busy, []string{"x"}) {
		t.Fatalf("guarded repository: %+v", rep)
	}
	release()
	// Pin l as a push that found its file would.
	unpin := s.pin(l.Digest)
	rep = collect(t, s, GCOptions{Grace: NoGrace})
	if len(rep.Unlinked) != 2 || fileExists(s, m) || fileExists(s, c) || !fileExists(s, l) {
		t.Fatalf("pinned blob: %+v", rep)
	}
	lb, _ := os.ReadFile(s.blobPath(l.Digest))
	if err := a.Push(t.Context(), l, bytes.NewReader(lb)); err != nil {
		t.Fatal(err)
	}
	unpin()
	if !exists(t, s, "x", l) {
		t.Fatal("the push after the collection did not link its blob")
	}
	fsckClean(t, s)
}

// TestCollectRetention: keep the last N tags by push time, those younger
// than an age, never a protected one; only matching tags are considered;
// untagged manifests go only when asked.
func TestCollectRetention(t *testing.T) {
	s := openT(t, t.TempDir())
	r := repoT(t, s, "app")
	var ms []ocispec.Descriptor
	for i := range 6 {
		m, _, _ := pushImage(t, r)
		ms = append(ms, m)
		tag := []string{"v1", "v2", "v3", "v4", "stable", "dev-x"}[i]
		if err := r.Tag(t.Context(), m, tag); err != nil {
			t.Fatal(err)
		}
	}
	untagged, _, _ := pushImage(t, r)
	// Push times: v1 oldest, dev-x newest, an hour apart.
	s.mu.Lock()
	now := time.Now().Unix()
	for i, m := range ms {
		l := s.links["app"][m.Digest]
		l.Since = now - int64(10-i)*3600
		s.links["app"][m.Digest] = l
	}
	s.mu.Unlock()
	ret := Retention{Match: []string{`v.*|stable`}, Protect: []string{`stable`}, KeepLast: 2}
	rep := collect(t, s, GCOptions{Grace: NoGrace, DryRun: true, Retention: ret})
	if !slices.Equal(rep.TagsRemoved, []string{"app:v1", "app:v2"}) {
		t.Fatalf("keep last 2 of v*: removed %v", rep.TagsRemoved)
	}
	ret.KeepLast, ret.MaxAge = 0, 7*time.Hour+30*time.Minute
	rep = collect(t, s, GCOptions{Grace: NoGrace, DryRun: true, Retention: ret})
	if !slices.Equal(rep.TagsRemoved, []string{"app:v1", "app:v2", "app:v3"}) {
		t.Fatalf("max age: removed %v", rep.TagsRemoved)
	}
	ret.KeepLast = 1 // either rule keeps: v4 by count; nothing newer by age
	rep = collect(t, s, GCOptions{Grace: NoGrace, Retention: ret})
	if !slices.Equal(rep.TagsRemoved, []string{"app:v1", "app:v2", "app:v3"}) {
		t.Fatalf("both rules: removed %v", rep.TagsRemoved)
	}
	for i, m := range ms {
		if got := exists(t, s, "app", m); got != (i >= 3) {
			t.Fatalf("manifest %d held %v after retention", i, got)
		}
	}
	if !exists(t, s, "app", untagged) {
		t.Fatal("untagged manifest removed without RemoveUntagged")
	}
	collect(t, s, GCOptions{Grace: NoGrace, Retention: Retention{RemoveUntagged: true}})
	if exists(t, s, "app", untagged) || !exists(t, s, "app", ms[3]) {
		t.Fatal("RemoveUntagged: untagged kept or tagged removed")
	}
	fsckClean(t, s)
	if err := (Retention{Match: []string{"("}}).Validate(); err == nil {
		t.Fatal("bad pattern accepted")
	}
}

// TestCollectReferrers: a signature goes with its subject; the signature
// of a kept image stays, untagged as it is.
func TestCollectReferrers(t *testing.T) {
	s := openT(t, t.TempDir())
	r := repoT(t, s, "app")
	keep, _, _ := pushImage(t, r)
	gone, _, _ := pushImage(t, r)
	for _, m := range []ocispec.Descriptor{keep, gone} {
		if err := r.Tag(t.Context(), m, "t"+m.Digest.Encoded()[:8]); err != nil {
			t.Fatal(err)
		}
	}
	sig := func(subject ocispec.Descriptor) ocispec.Descriptor {
		cb, cd := castest.Blob(t, 10)
		cd.MediaType = "application/vnd.example.sig"
		pushBytes(t, r, cd, cb)
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.sig", Config: cd, Layers: []ocispec.Descriptor{}, Subject: &subject}
		m.SchemaVersion = 2
		b, _ := json.Marshal(m)
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: m.ArtifactType}
		pushBytes(t, r, d, b)
		if err := r.AddReferrer(t.Context(), subject.Digest, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	sigKeep, sigGone := sig(keep), sig(gone)
	if err := r.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	collect(t, s, GCOptions{Grace: NoGrace})
	if !exists(t, s, "app", sigKeep) || exists(t, s, "app", sigGone) {
		t.Fatal("referrers did not follow their subjects")
	}
	if refs, _ := r.Referrers(t.Context(), gone.Digest); len(refs) != 0 {
		t.Fatalf("index still lists %v", refs)
	}
	if refs, _ := r.Referrers(t.Context(), keep.Digest); len(refs) != 1 {
		t.Fatalf("kept subject's referrers: %v", refs)
	}
	fsckClean(t, s)
}

// TestCollectForeignAndTemps: images another tool tagged in index.json
// (entries without REPO:TAG) are not garbage; a stray ingest file is.
func TestCollectForeignAndTemps(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	m, c, l := pushImage(t, repoT(t, s, "tmp"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Drop the repository, keep the blobs, name the image as skopeo does
	// with a bare tag.
	os.Remove(filepath.Join(dir, stateDir, repositoriesFile))
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, Annotations: map[string]string{ocispec.AnnotationRefName: "latest"}}}}
	idx.SchemaVersion = 2
	b, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, indexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	orphan, _, _ := pushImage(t, repoT(t, s, "y"))
	if err := repoT(t, s, "y").Delete(t.Context(), orphan); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, stateDir, ingestDir, "deadbeef-1")
	if err := os.WriteFile(stray, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := collect(t, s, GCOptions{Grace: NoGrace})
	for _, d := range []ocispec.Descriptor{m, c, l} {
		if !fileExists(s, d) {
			t.Fatalf("foreign image lost %s", d.Digest)
		}
	}
	if fileExists(s, orphan) || rep.BlobsReclaimed != 3 || rep.TempsRemoved != 1 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatal("stray ingest file kept")
	}
	fsckClean(t, s)
}

// TestCollectSparesLookedUp: content a client looked up within the grace
// period (a HEAD before the manifest that refers to it) stays, however
// long ago it was let go of; what nobody looked at goes.
func TestCollectSparesLookedUp(t *testing.T) {
	s, err := Open(t.TempDir(), Options{OnlineGC: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := repoT(t, s, "x")
	m, c, l := pushImage(t, r)
	if err := r.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	age(s, 2*DefaultGrace)
	if !exists(t, s, "x", l) {
		t.Fatal("layer not held")
	}
	rep := collect(t, s, GCOptions{})
	if len(rep.Unlinked) != 1 || rep.Unlinked[0].Digest != c.Digest || !exists(t, s, "x", l) {
		t.Fatalf("looked-up layer not spared: %+v", rep)
	}
}
