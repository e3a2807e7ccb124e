package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// checkLayout makes an OCI layout holding app:v1, a small image.
func checkLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := testimage.Fleet(1, 1, 1000, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	if err := imgs[0].Push(t.Context(), r, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckCacheDirUnusable: a user cache directory that cannot hold the
// scan cache costs the cache, not the check; a --cache-dir given that
// cannot is an error naming it.
func TestCheckCacheDirUnusable(t *testing.T) {
	layout := checkLayout(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", blocker) // a file: nothing can be made under it
	ref := "oci:" + layout + ":app:v1"
	code, _, stderr := runMain(t, "check", "--failure-threshold", "none", ref)
	if code != 0 {
		t.Errorf("default cache directory unusable: exit %d, want 0: %s", code, stderr)
	}
	code, _, stderr = runMain(t, "check", "--failure-threshold", "none", "--cache-dir", filepath.Join(blocker, "scans"), ref)
	if code != 1 || !strings.Contains(stderr, blocker) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("--cache-dir unusable: exit %d, want 1 and one line naming it: %s", code, stderr)
	}
	code, _, stderr = runMain(t, "check", "--no-cache", "--cache-dir", t.TempDir(), ref)
	if code != 2 {
		t.Errorf("--no-cache with --cache-dir: exit %d, want 2 (usage): %s", code, stderr)
	}
}
