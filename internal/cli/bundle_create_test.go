package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestBundleCommands runs create, inspect, verify, diff and inventory
// end to end on OCI layouts.
func TestBundleCommands(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	base := image(t, 200000)
	v1 := image(t, 50000)
	v1.Layers = append([]testimage.Layer{base.Layers[0]}, v1.Layers...)
	v1, _ = testimage.NewImage(v1.Layers, []string{"/app"})
	v2 := image(t, 50000)
	v2, _ = testimage.NewImage(append([]testimage.Layer{base.Layers[0]}, v2.Layers...), []string{"/app"})
	layout(t, src, map[string]testimage.Image{"team/app:1.0": v1, "team/app:1.1": v2, "team/base:1": base}, nil)

	old := filepath.Join(dir, "old.tar")
	code, out, errb := gantry(t, "bundle", "create", "-o", old, "oci:"+src+":team/app:1.0", "oci:"+src+":team/base:1")
	if code != 0 || strings.TrimSpace(out) != old {
		t.Fatalf("create: %d %q %s", code, out, errb)
	}

	// inspect names the images by repository:tag.
	code, out, errb = gantry(t, "bundle", "inspect", old)
	if code != 0 || !strings.Contains(out, "team/app:1.0") || !strings.Contains(out, "team/base:1") || !strings.Contains(out, "present") {
		t.Fatalf("inspect: %d\n%s%s", code, out, errb)
	}
	code, out, errb = gantry(t, "bundle", "verify", old)
	if code != 0 || !strings.Contains(out, "2 of 2 images complete") {
		t.Fatalf("verify: %d\n%s%s", code, out, errb)
	}

	// A delta with --since holds the new layer, config and manifest.
	delta := filepath.Join(dir, "delta.tar")
	code, out, errb = gantry(t, "bundle", "create", "--json", "-o", delta, "--since", old, "oci:"+src+":team/app:1.1")
	if code != 0 {
		t.Fatalf("create --since: %d %s", code, errb)
	}
	var sum struct {
		Blobs int
		Base  *struct{ Blobs int }
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Blobs != 3 || sum.Base == nil || sum.Base.Blobs != 1 {
		t.Fatalf("delta summary %+v (%v):\n%s", sum, err, out)
	}
	code, out, _ = gantry(t, "bundle", "verify", delta)
	if code != 0 || !strings.Contains(out, "1 blob (") || !strings.Contains(out, "expected at the target") {
		t.Fatalf("verify delta: %d\n%s", code, out)
	}

	// diff: the delta is on OLD, whose 1.0 stays at the site.
	code, out, _ = gantry(t, "bundle", "diff", old, delta)
	if code != 0 || !strings.Contains(out, "NEW is a delta on OLD") || !strings.Contains(out, "+ team/app:1.1") || !strings.Contains(out, "= team/app:1.0") || strings.Contains(out, "- team/app:1.0") {
		t.Fatalf("diff: %d\n%s", code, out)
	}

	// inventory of the layout, then --have: the same delta.
	have := filepath.Join(dir, "have.json")
	code, out, errb = gantry(t, "inventory", "oci:"+src, "-o", have)
	if code != 0 || !strings.Contains(out, "digests") {
		t.Fatalf("inventory: %d %s %s", code, out, errb)
	}
	code, _, errb = gantry(t, "bundle", "create", "-o", filepath.Join(dir, "d2.tar"), "--have", have, "oci:"+src+":team/app:1.1")
	if code != 0 {
		t.Fatalf("create --have: %s", errb)
	}

	// --split: volumes named app.002.tar..., each verifiable; a lost one
	// is named.
	split := filepath.Join(dir, "split.tar")
	code, out, errb = gantry(t, "bundle", "create", "-q", "-o", split, "--split", "250KiB", "oci:"+src+":team/app:1.0", "oci:"+src+":team/app:1.1", "oci:"+src+":team/base:1")
	files := strings.Fields(out)
	if code != 0 || len(files) < 2 || files[1] != filepath.Join(dir, "split.002.tar") {
		t.Fatalf("create --split: %d %q %s", code, out, errb)
	}
	code, _, errb = gantry(t, "bundle", "verify", files[0])
	if code != 1 || !strings.Contains(errb, "split.002.tar") || !strings.Contains(errb, "missing-volume") {
		t.Fatalf("verify without volume 2: %d %s", code, errb)
	}
	if code, _, errb = gantry(t, append([]string{"bundle", "verify"}, files...)...); code != 0 {
		t.Fatalf("verify all volumes: %s", errb)
	}

	// Damage: a flipped byte of a blob's bytes (past its 512-byte tar
	// header, which the name starts) is named with its image.
	b, _ := os.ReadFile(old)
	i := strings.Index(string(b), "blobs/sha256/")
	b[i-i%512+512+10] ^= 0xff
	bad := filepath.Join(dir, "bad.tar")
	_ = os.WriteFile(bad, b, 0o644)
	code, _, errb = gantry(t, "bundle", "verify", bad)
	if code != 1 || !strings.Contains(errb, "damaged") {
		t.Fatalf("verify damaged: %d %s", code, errb)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"bundle", "create", "oci:" + src + ":team/app:1.0"},
		{"bundle", "create", "-o", "x.tar", "--split", "lots", "oci:" + src + ":team/app:1.0"},
		{"bundle", "create", "-o", "x.tar", "--have", have, "--since", old, "oci:" + src + ":team/app:1.0"},
	} {
		if code, _, errb := gantry(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb)
		}
	}
}
