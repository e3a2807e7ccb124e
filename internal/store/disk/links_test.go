package disk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushAgain pushes content of repository from to repository to, as a
// client that read it from one and wrote it to the other would.
func pushAgain(t testing.TB, from, to cas.Target, d ocispec.Descriptor) {
	t.Helper()
	b, err := cas.FetchAll(t.Context(), from, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, s *Store, repo string, d ocispec.Descriptor) bool {
	t.Helper()
	r, err := s.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := r.Exists(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestOwnershipSurvivesReopen: which repository holds what, and deletes in
// one of them, survive a clean close and a crash (journal replay), and are
// written to repositories.json for garbage collection.
func TestOwnershipSurvivesReopen(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "close", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			a, _ := s.Repository(t.Context(), "team-a/app")
			b, _ := s.Repository(t.Context(), "team-b/app")
			m, c, l := pushImage(t, a)
			for _, d := range []ocispec.Descriptor{c, l} {
				if err := b.(*Repo).Mount(t.Context(), d, "team-a/app"); err != nil {
					t.Fatal(err)
				}
			}
			pushAgain(t, a, b, m) // a manifest is pushed, not mounted
			if err := b.Tag(t.Context(), m, "v1"); err != nil {
				t.Fatal(err)
			}
			if err := a.(*Repo).Delete(t.Context(), l); err != nil {
				t.Fatal(err)
			}
			if crash {
				// What a kill -9 leaves: the files as they are, changes
				// only in the journal (no flush in an hour).
				crashed := t.TempDir()
				copyTree(t, dir, crashed)
				dir = crashed
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir)
			if exists(t, s, "team-a/app", l) || !exists(t, s, "team-a/app", m) {
				t.Fatal("team-a/app after reopen: deleted layer back, or manifest gone")
			}
			for _, d := range []ocispec.Descriptor{c, l, m} {
				if !exists(t, s, "team-b/app", d) {
					t.Fatalf("team-b/app after reopen lacks %s", d.Digest)
				}
			}
			if exists(t, s, "team-c/app", m) {
				t.Fatal("a repository that never held the manifest serves it after reopen")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var st repositoriesState
			raw, err := os.ReadFile(filepath.Join(dir, stateDir, repositoriesFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatalf("repositories.json: %v", err)
			}
			if _, ok := st.Repositories["team-a/app"][l.Digest]; ok {
				t.Fatal("repositories.json still links the deleted layer to team-a/app")
			}
			if st.Repositories["team-b/app"][l.Digest].Since == 0 {
				t.Fatal("repositories.json lacks team-b/app's layer or the time it was linked")
			}
		})
	}
}

// TestReleasedRecorded: a blob that no repository holds any more is
// recorded with the time it was let go of, for garbage collection.
func TestReleasedRecorded(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	a, _ := s.Repository(t.Context(), "a")
	_, _, l := pushImage(t, a)
	if err := a.(*Repo).Delete(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var st repositoriesState
	raw, _ := os.ReadFile(filepath.Join(dir, stateDir, repositoriesFile))
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Released[l.Digest] == 0 {
		t.Fatalf("released blobs = %v, want %s with a time", st.Released, l.Digest)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", l.Digest.Encoded())); err != nil {
		t.Fatalf("the bytes of a deleted blob must stay until garbage collection: %v", err)
	}
}

// TestForeignLayoutOwnership: tags that another tool wrote into the layout
// (here: a store from before repositories.json, and an index.json entry
// added while gantry was stopped) make their whole graph their
// repository's, and only theirs.
func TestForeignLayoutOwnership(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	a, _ := s.Repository(t.Context(), "tool/app")
	m, c, l := pushImage(t, a)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Forget every link, as a layout gantry never opened has none, and add
	// a second repository's tag by hand, as skopeo would.
	if err := os.Remove(filepath.Join(dir, stateDir, repositoriesFile)); err != nil {
		t.Fatal(err)
	}
	idx := readIndex(t, dir)
	entry := m
	entry.Annotations = map[string]string{ocispec.AnnotationRefName: "tool/other:v2"}
	idx.Manifests = append(idx.Manifests, entry)
	b, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	for _, d := range []ocispec.Descriptor{m, c, l} {
		if exists(t, s, "tool/app", d) {
			t.Fatalf("tool/app has no tag but serves %s", d.Digest)
		}
		if !exists(t, s, "tool/other", d) {
			t.Fatalf("tool/other:v2 reaches %s but the repository does not serve it", d.Digest)
		}
		if exists(t, s, "tool/none", d) {
			t.Fatalf("a repository with no tags serves %s", d.Digest)
		}
	}
	r, _ := s.Repository(t.Context(), "tool/none")
	_, err := r.Fetch(t.Context(), l)
	if err == nil || !isNotFound(err) {
		t.Fatalf("Fetch from a repository that does not hold the blob: %v, want ErrNotFound", err)
	}
}

// TestRepairKeepsMovedTag: fsck --repair through the library while the
// store is open drops a tag of an incomplete image only if the tag still
// names that image when the drop is written (compare and swap under the
// journal's lock): a client that moved the tag meanwhile keeps it.
func TestRepairKeepsMovedTag(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	whole, _, _ := pushImage(t, r)
	broken, _, layer := pushImage(t, r)
	if err := s.deleteBlob(layer.Digest); err != nil { // as a lost file would
		t.Fatal(err)
	}
	for _, tag := range []string{"moved", "stays-broken"} {
		if err := r.Tag(t.Context(), broken, tag); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.Fsck(t.Context(), FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Incomplete) != 2 {
		t.Fatalf("incomplete images: %+v, want the two tags of the broken image", rep.Incomplete)
	}
	roots := s.roots()                                         // what fsck walked
	if err := r.Tag(t.Context(), whole, "moved"); err != nil { // a client, meanwhile
		t.Fatal(err)
	}
	if err := s.repair(rep, roots); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Resolve(t.Context(), "moved"); err != nil || got.Digest != whole.Digest {
		t.Fatalf("tag moved to a whole image during repair: %s, %v; want %s", got.Digest, err, whole.Digest)
	}
	if _, err := r.Resolve(t.Context(), "stays-broken"); err == nil {
		t.Fatal("repair kept the tag of the incomplete image")
	}
}
