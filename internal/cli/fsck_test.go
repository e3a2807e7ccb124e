package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/disk"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// damagedStore makes a store holding app:v1 whose layer has a flipped byte.
func damagedStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	cb, cdesc := castest.Blob(t, 50)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	lb, ldesc := castest.Blob(t, 3000)
	mb, mdesc := castest.Manifest(t, cdesc, ldesc)
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
		if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Tag(t.Context(), mdesc, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", ldesc.Digest.Encoded())
	lb[7] ^= 1
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, lb, 0o444); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestFsckCommand(t *testing.T) {
	dir := damagedStore(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"report", []string{"fsck", dir}, 1, []string{"DAMAGED", "wrong hash", "INCOMPLETE  app:v1", "DAMAGE FOUND"}},
		{"json", []string{"fsck", "--json", dir}, 1, []string{`"reason": "wrong hash"`, `"ref": "app:v1"`}},
		{"repair", []string{"fsck", "--repair", dir}, 0, []string{"moved to", "tag dropped", "all damage repaired"}},
		{"clean after repair", []string{"fsck", dir}, 0, []string{"ok: no damage found"}},
		{"missing dir", []string{"fsck", filepath.Join(dir, "nope")}, 1, nil},
		{"too many args", []string{"fsck", dir, dir}, 2, nil},
	}
	for _, tc := range tests { // in order: each step sees the previous one's repairs
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.name == "json" {
				var rep disk.FsckReport
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("--json output: %v", err)
				}
			}
		})
	}
}

func TestDefaultRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		if got := defaultRoot(); got != "/var/lib/gantry" {
			t.Fatalf("defaultRoot() as root = %q", got)
		}
		return
	}
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := defaultRoot(); got != "/data/gantry" {
		t.Fatalf("defaultRoot() = %q, want /data/gantry", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := defaultRoot(); got != "/home/u/.local/share/gantry" {
		t.Fatalf("defaultRoot() = %q", got)
	}
}

// journalDamagedStore makes a store whose tag journal, as a crash left it,
// has a damaged record between two intact ones, and a temporary file of an
// interrupted index.json rewrite. It returns the directory and the damaged
// record's offset.
func journalDamagedStore(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	s, err := disk.Open(dir, disk.Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	cb, cdesc := castest.Blob(t, 50)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	mb, mdesc := castest.Manifest(t, cdesc)
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cdesc, cb}, {mdesc, mb}} {
		if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"a", "b", "c"} {
		if err := r.Tag(t.Context(), mdesc, tag); err != nil {
			t.Fatal(err)
		}
	}
	j := filepath.Join(dir, ".gantry", "journal")
	journal, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Records are a little-endian length, a checksum, then the payload.
	second := 8 + int(binary.LittleEndian.Uint32(journal))
	journal[second+8+2] ^= 1
	if err := os.WriteFile(j, journal, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gantry", ".index.json.123.tmp"), make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, second
}

func TestFsckJournalDamage(t *testing.T) {
	dir, off := journalDamagedStore(t)
	tests := []struct {
		name    string
		args    []string
		wantOut []string
		lacks   []string
	}{
		{"report", []string{"fsck", dir}, []string{
			"JOURNAL     ", fmt.Sprintf("at offset %d of the tag journal", off),
			"journal.damaged-", "removed 1 temporary file of interrupted index or journal rewrites", "the tag journal lost changes",
		}, nil},
		// The copy keeps the damage visible to later runs.
		{"again", []string{"fsck", dir}, []string{"JOURNAL ", "the tag journal lost changes"}, []string{"temporary"}},
		{"json", []string{"fsck", "--json", dir}, []string{`"journalDamage": [`, fmt.Sprintf(`"offset": %d`, off)}, nil},
	}
	for _, tc := range tests { // in order: the first run's Open compacts the journal
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.name == "report" && !strings.Contains(errOut, "level=ERROR") {
				t.Errorf("Open did not log the skipped records as an error:\n%s", errOut)
			}
			for _, w := range tc.lacks {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
		})
	}
}
