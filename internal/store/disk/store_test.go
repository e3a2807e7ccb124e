package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store { return openT(t, t.TempDir()) },
		Reopen: func(t *testing.T, s cas.Store) cas.Store {
			ds := s.(*Store)
			if err := ds.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openT(t, ds.Dir())
		},
	})
}

// pushImage stores a config, a layer and a manifest and returns them.
func pushImage(t testing.TB, r cas.Target) (manifest, config, layer ocispec.Descriptor) {
	t.Helper()
	cb, cdesc := castest.Blob(t, 50)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	lb, ldesc := castest.Blob(t, 3000)
	mb, mdesc := castest.Manifest(t, cdesc, ldesc)
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
		if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	return mdesc, cdesc, ldesc
}

func readIndex(t *testing.T, dir string) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON: %v\n%s", err, b)
	}
	return idx
}

func refNames(idx ocispec.Index) []string {
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations[ocispec.AnnotationRefName])
	}
	return names
}

func TestOpenLayout(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string // substring; "" = success
		is      error
	}{
		{"missing dir", func(t *testing.T, dir string) { os.Remove(dir) }, "", nil},
		{"empty dir", func(*testing.T, string) {}, "", nil},
		{"not a layout", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
		}, "not an OCI image layout", cas.ErrInvalid},
		{"bad oci-layout", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "oci-layout"), []byte("nonsense"), 0o644)
		}, "not an image layout file", cas.ErrInvalid},
		{"garbage index.json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
			os.WriteFile(filepath.Join(dir, "index.json"), []byte("{\"manifests\": [garbage"), 0o644)
		}, "index.json is not valid JSON", cas.ErrInvalid},
		{"index.json not an object", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
			os.WriteFile(filepath.Join(dir, "index.json"), []byte(`[1,2]`), 0o644)
		}, "index.json is not a JSON object", cas.ErrInvalid},
		{"layout without index.json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			os.Mkdir(dir, 0o755)
			tc.setup(t, dir)
			s, err := Open(dir, Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				readIndex(t, dir)
				if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), dir) || !errors.Is(err, tc.is) {
				t.Fatalf("Open: %v; want an error naming %s, containing %q and wrapping %v", err, dir, tc.wantErr, tc.is)
			}
		})
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by process") {
		t.Fatalf("second Open: %v, want an error saying the store is in use by a process", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	openT(t, dir) // free again
}

func TestClosedStoreRefusesTags(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "a")
	m, _, _ := pushImage(t, r)
	s.Close()
	if err := r.Tag(t.Context(), m, "v1"); err == nil {
		t.Fatal("Tag on a closed store succeeded")
	}
}

// TestForeignEntries checks that index.json entries gantry does not own
// survive a rewrite and do not resolve.
func TestForeignEntries(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	s.Close()

	bare, _ := json.Marshal(ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size,
		Annotations: map[string]string{ocispec.AnnotationRefName: "latest", "x.custom": "kept"}})
	none, _ := json.Marshal(ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size})
	skopeoStyle, _ := json.Marshal(ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size,
		Annotations: map[string]string{ocispec.AnnotationRefName: "other/repo:v2"}})
	index := `{"schemaVersion":2,"annotations":{"made.by":"someone"},"manifests":[` + string(bare) + `,` + string(none) + `,` + string(skopeoStyle) + `]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}

	s = openT(t, dir)
	r, _ = s.Repository(t.Context(), "app")
	if _, err := r.Resolve(t.Context(), "latest"); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("a bare-tag entry resolved in a repository: %v", err)
	}
	other, _ := s.Repository(t.Context(), "other/repo")
	if got, err := other.Resolve(t.Context(), "v2"); err != nil || got.Digest != m.Digest {
		t.Fatalf("Resolve(other/repo:v2) = %v, %v", got, err)
	}
	if err := r.Tag(t.Context(), m, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	for _, want := range []string{string(bare), string(none), `"made.by":"someone"`, `"app:v1"`, `"other/repo:v2"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("rewritten index.json lacks %s:\n%s", want, b)
		}
	}
	readIndex(t, dir)
}

// TestJournalReplay checks that tags committed but not flushed (a crash)
// are in index.json after the next Open, and that a torn record is dropped.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	for _, tag := range []string{"a", "b", "c"} {
		if err := r.Tag(t.Context(), m, tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.(*Repo).Untag(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: copy the directory as it is now, as if the process
	// died, and add half a record.
	crashed := t.TempDir()
	copyTree(t, dir, crashed)
	s.Close()
	j := filepath.Join(crashed, ".gantry", "journal")
	rec, _ := encodeRecord(record{Op: "tag", Repo: "app", Tag: "torn", Desc: &m})
	f, _ := os.OpenFile(j, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(rec[:len(rec)-3])
	f.Close()
	if names := refNames(readIndex(t, crashed)); len(names) != 0 {
		t.Fatalf("index.json before replay already has %v", names)
	}

	s2 := openT(t, crashed)
	if got := refNames(readIndex(t, crashed)); strings.Join(got, " ") != "app:a app:c" {
		t.Fatalf("index.json after replay: %v, want [app:a app:c]", got)
	}
	if fi, err := os.Stat(j); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after replay: %v, %v; want empty", fi.Size(), err)
	}
	r2, _ := s2.Repository(t.Context(), "app")
	if _, err := r2.Resolve(t.Context(), "torn"); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("torn record was applied: %v", err)
	}
}

func TestBackgroundFlush(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	if err := r.Tag(t.Context(), m, "v1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if names := refNames(readIndex(t, dir)); len(names) == 1 && names[0] == "app:v1" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("index.json not flushed after the quiet interval")
}

func TestJournalLimitFlush(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Hour, JournalLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	for _, tag := range []string{"v1", "v2", "v3"} {
		if err := r.Tag(t.Context(), m, tag); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if names := refNames(readIndex(t, dir)); len(names) == 3 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("index.json not flushed although the journal passed its limit")
}

func TestResolveDigestMediaType(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	m, c, l := pushImage(t, r)
	for _, tc := range []struct {
		d    ocispec.Descriptor
		want string
	}{{m, ocispec.MediaTypeImageManifest}, {c, ""}, {l, ""}} {
		got, err := r.Resolve(t.Context(), tc.d.Digest.String())
		if err != nil || got.Size != tc.d.Size || got.MediaType != tc.want {
			t.Errorf("Resolve(%s) = %+v, %v; want size %d, media type %q", tc.d.Digest, got, err, tc.d.Size, tc.want)
		}
	}
}

func TestNoTempLeftAfterFailedPush(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	b, desc := castest.Blob(t, 1000)
	b[0] ^= 1
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); !errors.Is(err, cas.ErrDigestMismatch) {
		t.Fatalf("Push: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".gantry", "ingest"))
	if len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestBlobReadOnly(t *testing.T) {
	s := openT(t, t.TempDir())
	r, _ := s.Repository(t.Context(), "app")
	b, desc := castest.Blob(t, 10)
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.blobPath(desc.Digest))
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("blob mode %v, %v; want read-only", fi.Mode(), err)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode().Perm()|0o200)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// TestConcurrentTagsAndFlushes tags from several goroutines while the
// background flush runs all the time, then checks every tag after reopen.
func TestConcurrentTagsAndFlushes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Microsecond, JournalLimit: 512})
	if err != nil {
		t.Fatal(err)
	}
	r0, _ := s.Repository(t.Context(), "seed")
	m, _, _ := pushImage(t, r0)
	const workers, each = 4, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			r, _ := s.Repository(t.Context(), fmt.Sprintf("w%d", w))
			b, err := cas.FetchAll(t.Context(), r0, m, 0)
			if err == nil {
				err = r.Push(t.Context(), m, bytes.NewReader(b))
			}
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				if err := r.Tag(t.Context(), m, fmt.Sprintf("t%d", i)); err != nil {
					errs <- err
					return
				}
				if i%7 == 0 {
					if err := r.(*Repo).Untag(t.Context(), fmt.Sprintf("t%d", i)); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Fsck(t.Context(), FsckOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, dir)
	for w := range workers {
		r, _ := s.Repository(t.Context(), fmt.Sprintf("w%d", w))
		for i := range each {
			_, err := r.Resolve(t.Context(), fmt.Sprintf("t%d", i))
			if (i%7 == 0) != errors.Is(err, cas.ErrNotFound) {
				t.Fatalf("w%d:t%d after reopen: %v", w, i, err)
			}
		}
	}
	if n := len(refNames(readIndex(t, dir))); n != workers*(each-8)+0 {
		t.Fatalf("index.json has %d entries, want %d", n, workers*(each-8))
	}
}
