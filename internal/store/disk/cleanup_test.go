package disk

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestStaleTemps: the temporaries a kill leaves during a rewrite of
// index.json or the journal are removed by Open and reported by Fsck;
// those that appear later are reported, and removed by Repair.
func TestStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, stateDir)
	write := func(name string, size int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(state, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(state, name))
		return err == nil
	}
	write(".index.json.2846153.tmp", 4096)
	write(".journal.77.tmp", 10)
	write("notes.tmp", 1) // not a name atomicfile makes: not ours to remove

	s = openT(t, dir)
	for _, name := range []string{".index.json.2846153.tmp", ".journal.77.tmp"} {
		if exists(name) {
			t.Errorf("Open left %s", name)
		}
	}
	if !exists("notes.tmp") {
		t.Error("Open removed notes.tmp, which is not an atomic-write temporary")
	}

	write(".referrers.json.5.tmp", 3) // a rewrite that could not clean up
	tests := []struct {
		name   string
		repair bool
		want   []StaleTemp
		left   bool
	}{
		{"report", false, []StaleTemp{
			{Name: ".index.json.2846153.tmp", Size: 4096, Removed: true},
			{Name: ".journal.77.tmp", Size: 10, Removed: true},
			{Name: ".referrers.json.5.tmp", Size: 3},
		}, true},
		{"report again", false, []StaleTemp{{Name: ".referrers.json.5.tmp", Size: 3}}, true},
		{"repair", true, []StaleTemp{{Name: ".referrers.json.5.tmp", Size: 3, Removed: true}}, false},
		{"after repair", false, []StaleTemp{}, false},
	}
	for _, tc := range tests { // in order: each sees what the one before left
		t.Run(tc.name, func(t *testing.T) {
			rep, err := s.Fsck(t.Context(), FsckOptions{Repair: tc.repair})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.StaleTemps, tc.want) {
				t.Errorf("StaleTemps = %+v, want %+v", rep.StaleTemps, tc.want)
			}
			if exists(".referrers.json.5.tmp") != tc.left {
				t.Errorf(".referrers.json.5.tmp present: %v, want %v", !tc.left, tc.left)
			}
			if !rep.Clean() {
				t.Errorf("a stale temporary made the store unclean: %+v", rep)
			}
		})
	}
}
