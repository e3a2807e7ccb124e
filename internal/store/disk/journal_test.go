package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// crashCopy copies the open store s's directory, as a crash would leave it
// (index.json not yet rewritten, the journal holding every change), closes
// s and returns the copy.
func crashCopy(t *testing.T, s *Store) string {
	t.Helper()
	crashed := t.TempDir()
	copyTree(t, s.Dir(), crashed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed
}

// bigReferrer is a referrer descriptor carrying size bytes of annotations,
// as a signature or SBOM manifest with large annotations gives one.
func bigReferrer(size int, fill string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sbom",
		Digest:       digest.FromString(fill + "big"),
		Size:         1234,
		Annotations:  map[string]string{"org.example.blob": strings.Repeat(fill, size/len(fill))},
	}
}

// TestJournalKeepsLargeRecords: a referrer record over the old 1 MiB bound
// and the tags after it survive a crash (replay used to stop at it and
// truncate the journal, losing the tags).
func TestJournalKeepsLargeRecords(t *testing.T) {
	tests := []struct {
		name string
		size int
		fill string
	}{
		{"2 MiB of annotations", 2 << 20, "a"},
		// The worst a 4 MiB manifest's annotations can become: every byte
		// one JSON escapes as \u003c, six bytes.
		{"largest manifest, all escaped", oci.MaxManifestSize - 1024, "<"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{FlushInterval: time.Hour, JournalLimit: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			r, _ := s.Repository(t.Context(), "app")
			m, _, _ := pushImage(t, r)
			ref := bigReferrer(tc.size, tc.fill)
			if err := r.(*Repo).AddReferrer(t.Context(), m.Digest, ref); err != nil {
				t.Fatalf("AddReferrer: %v", err)
			}
			for _, tag := range []string{"after1", "after2"} {
				if err := r.Tag(t.Context(), m, tag); err != nil {
					t.Fatal(err)
				}
			}
			crashed := crashCopy(t, s)

			s2 := openT(t, crashed)
			r2, _ := s2.Repository(t.Context(), "app")
			for _, tag := range []string{"after1", "after2"} {
				if d, err := r2.Resolve(t.Context(), tag); err != nil || d.Digest != m.Digest {
					t.Errorf("tag %s after the crash: %v, %v; want %s", tag, d.Digest, err, m.Digest)
				}
			}
			list, _ := r2.(*Repo).Referrers(t.Context(), m.Digest)
			if len(list) != 1 || list[0].Annotations["org.example.blob"] != ref.Annotations["org.example.blob"] {
				t.Errorf("referrers after the crash: %d, want the large one", len(list))
			}
		})
	}
}

// TestJournalRecordLimit: a record replay would reject is refused before
// anything is written, with cas.ErrInvalid, and the store goes on.
func TestJournalRecordLimit(t *testing.T) {
	// No background flush: it would empty the journal under the test.
	s, err := Open(t.TempDir(), Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	before := journalSize(t, s)
	huge := bigReferrer(maxRecord+1, "x")

	tests := []struct {
		name string
		do   func() error
	}{
		{"referrer", func() error { return r.(*Repo).AddReferrer(t.Context(), m.Digest, huge) }},
		{"tag", func() error {
			d := m
			d.Annotations = huge.Annotations
			return r.Tag(t.Context(), d, "huge")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, cas.ErrInvalid) {
				t.Fatalf("oversized record: %v, want cas.ErrInvalid", err)
			}
			if got := journalSize(t, s); got != before {
				t.Fatalf("journal grew from %d to %d bytes", before, got)
			}
		})
	}
	if err := r.Tag(t.Context(), m, "small"); err != nil {
		t.Fatalf("Tag after a refused record: %v", err)
	}
}

func journalSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.path(stateDir, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// journalWith writes a store holding app's image, then a journal of one
// tag record per name (as a crash before any flush leaves it), passed
// through damage. It returns the directory, the manifest and the records'
// offsets.
func journalWith(t *testing.T, tags []string, damage func(b []byte, offs []int) []byte) (string, ocispec.Descriptor, []int) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	m, _, _ := pushImage(t, r)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var b []byte
	var offs []int
	for _, tag := range tags {
		rec, err := encodeRecord(record{Op: "tag", Repo: "app", Tag: tag, Desc: &m})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, len(b))
		b = append(b, rec...)
	}
	offs = append(offs, len(b))
	b = damage(b, offs)
	if err := os.WriteFile(filepath.Join(dir, stateDir, journalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, m, offs
}

// TestJournalDamage: a damaged record in the middle costs that record
// only; the ones after it are applied, a copy of the journal is kept and
// Fsck reports it. A torn tail is dropped without a copy.
func TestJournalDamage(t *testing.T) {
	tags := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name   string
		damage func(b []byte, offs []int) []byte
		want   []string // tags after reopen
		// skipped is the damaged records, by index, reported as one span
		// each; nil for none.
		skipped [][2]int
	}{
		{"intact", func(b []byte, _ []int) []byte { return b }, tags, nil},
		{"payload byte flipped", func(b []byte, o []int) []byte {
			b[o[1]+recordHeader+5] ^= 0x40
			return b
		}, []string{"a", "c", "d", "e"}, [][2]int{{1, 2}}},
		{"checksum flipped", func(b []byte, o []int) []byte {
			b[o[2]+5] ^= 1
			return b
		}, []string{"a", "b", "d", "e"}, [][2]int{{2, 3}}},
		{"garbage length", func(b []byte, o []int) []byte {
			binary.LittleEndian.PutUint32(b[o[1]:], 0xfffffff0)
			return b
		}, []string{"a", "c", "d", "e"}, [][2]int{{1, 2}}},
		{"plausible wrong length", func(b []byte, o []int) []byte {
			binary.LittleEndian.PutUint32(b[o[1]:], uint32(o[2]-o[1]-recordHeader+7))
			return b
		}, []string{"a", "c", "d", "e"}, [][2]int{{1, 2}}},
		{"short length", func(b []byte, o []int) []byte {
			binary.LittleEndian.PutUint32(b[o[1]:], 3)
			return b
		}, []string{"a", "c", "d", "e"}, [][2]int{{1, 2}}},
		{"zeroed record", func(b []byte, o []int) []byte {
			clear(b[o[1]:o[2]])
			return b
		}, []string{"a", "c", "d", "e"}, [][2]int{{1, 2}}},
		{"first record", func(b []byte, o []int) []byte {
			b[o[0]+recordHeader+1] = '!'
			return b
		}, []string{"b", "c", "d", "e"}, [][2]int{{0, 1}}},
		{"two damaged records", func(b []byte, o []int) []byte {
			b[o[1]+recordHeader+3] ^= 1
			binary.LittleEndian.PutUint32(b[o[3]:], 0x7fffffff)
			return b
		}, []string{"a", "c", "e"}, [][2]int{{1, 2}, {3, 4}}},
		{"two adjacent damaged records", func(b []byte, o []int) []byte {
			b[o[1]+recordHeader+3] ^= 1
			b[o[2]+recordHeader+3] ^= 1
			return b
		}, []string{"a", "d", "e"}, [][2]int{{1, 3}}},
		{"torn tail", func(b []byte, o []int) []byte {
			return b[:len(b)-4]
		}, []string{"a", "b", "c", "d"}, nil},
		{"torn header", func(b []byte, o []int) []byte {
			return b[:o[4]+5]
		}, []string{"a", "b", "c", "d"}, nil},
		{"tail of zeros", func(b []byte, o []int) []byte {
			clear(b[o[4]:])
			return b
		}, []string{"a", "b", "c", "d"}, nil},
		// A last record cannot be told from a torn append, whatever its
		// damage: its Tag may never have returned.
		{"damaged last record", func(b []byte, o []int) []byte {
			b[o[4]+recordHeader+3] ^= 1
			return b
		}, []string{"a", "b", "c", "d"}, nil},
		{"damage, then a torn tail", func(b []byte, o []int) []byte {
			b[o[1]+recordHeader+3] ^= 1
			return b[:len(b)-2]
		}, []string{"a", "c", "d"}, [][2]int{{1, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, m, offs := journalWith(t, tags, tc.damage)
			log := &logBuffer{}
			s, err := Open(dir, Options{Logger: log.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r, _ := s.Repository(t.Context(), "app")
			var got []string
			for _, tag := range tags {
				if d, err := r.Resolve(t.Context(), tag); err == nil && d.Digest == m.Digest {
					got = append(got, tag)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("tags after reopen: %v, want %v", got, tc.want)
			}
			if got := refNames(readIndex(t, dir)); len(got) != len(tc.want) {
				t.Errorf("index.json after reopen: %v, want %d tags", got, len(tc.want))
			}
			if fi, err := os.Stat(filepath.Join(dir, stateDir, journalFile)); err != nil || fi.Size() != 0 {
				t.Errorf("journal after reopen: %v; want compacted", err)
			}
			checkJournalDamage(t, s, log, offs, tc.skipped)
		})
	}
}

// checkJournalDamage checks that Open logged, kept and Fsck reports the
// skipped records (as indexes into offs) and nothing else.
func checkJournalDamage(t *testing.T, s *Store, log *logBuffer, offs []int, skipped [][2]int) {
	t.Helper()
	rep, err := s.Fsck(t.Context(), FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []JournalDamage
	for _, sk := range skipped {
		want = append(want, JournalDamage{Offset: int64(offs[sk[0]]), Bytes: int64(offs[sk[1]] - offs[sk[0]])})
	}
	var got []JournalDamage
	copies := map[string]bool{}
	for _, d := range rep.JournalDamage {
		copies[d.Copy] = true
		d.Copy = ""
		got = append(got, d)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Fsck's journal damage: %+v, want %+v", got, want)
	}
	if !rep.Clean() {
		t.Errorf("Fsck not clean: %+v", rep)
	}
	matches, _ := filepath.Glob(filepath.Join(s.Dir(), stateDir, damagedPrefix+"*"))
	switch {
	case len(skipped) == 0 && len(matches) > 0:
		t.Errorf("a copy of an undamaged journal was kept: %v", matches)
	case len(skipped) > 0 && (len(matches) != 1 || !copies[matches[0]]):
		t.Errorf("copies of the damaged journal: %v, Fsck names %v", matches, copies)
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != len(skipped) {
		t.Errorf("%d errors logged, want %d:\n%s", n, len(skipped), log)
	}
}

// logBuffer collects a store's log for tests; the flusher may log at any
// time.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
