package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestCheckCacheFleet: two gantry check processes at once on a fleet share
// one scan cache directory; a re-check with one new image then reads only
// that image's new layer, and reports what a check without the cache
// reports.
func TestCheckCacheFleet(t *testing.T) {
	imgs, err := testimage.Fleet(10, 2, 200_000, 20_000, 13)
	if err != nil {
		t.Fatal(err)
	}
	// A process locks the OCI layout it reads: each check at once reads
	// its own copy of the images.
	byRef := map[string]testimage.Image{}
	refs := make([][]string, 2)
	for i, img := range imgs {
		ref := fmt.Sprintf("fleet/app%d:1", i)
		byRef[ref] = img
	}
	for c := range refs {
		layout := filepath.Join(t.TempDir(), "layout")
		layoutWith(t, layout, byRef)
		for i := range imgs {
			refs[c] = append(refs[c], fmt.Sprintf("oci:%s:fleet/app%d:1", layout, i))
		}
	}
	cache := filepath.Join(t.TempDir(), "scans")
	check := func(extra []string, refs ...string) (string, string) {
		args := append([]string{"check", "--log-level", "debug", "--format", "json", "--failure-threshold", "none"}, extra...)
		r := gantry(t, append(args, refs...)...)
		if r.Code != 0 {
			t.Errorf("check: exit %d: %s\n%s", r.Code, r.Stderr, r.Stdout)
		}
		return r.Stdout, r.Stderr
	}
	var wg sync.WaitGroup
	for c := range refs {
		wg.Go(func() { check([]string{"--cache-dir", cache}, refs[c][:9]...) })
	}
	wg.Wait()
	out, log := check([]string{"--cache-dir", cache}, refs[0]...)
	m := regexp.MustCompile(`msg="layer scans" read=(\d+) from_cache_dir=(\d+)`).FindStringSubmatch(log)
	// 10 images of 2 layers: the new image's own layer is read; the other
	// 11 distinct layers come from the directory.
	if m == nil || m[1] != "1" || m[2] != "11" {
		t.Errorf("re-check: %q, want 1 layer read and 11 from the cache directory; log:\n%s", m, log)
	}
	plain, _ := check([]string{"--no-cache"}, refs[0]...)
	if out != plain {
		t.Errorf("cached check output differs from --no-cache:\n%s\n---\n%s", out, plain)
	}
}
