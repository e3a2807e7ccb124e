package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// skopeoArchive writes img into a layout and has skopeo save it as a
// docker-archive tarball tagged name.
func skopeoArchive(t *testing.T, img testimage.Image, name string) string {
	t.Helper()
	skopeo := testenv.Tool(t, "skopeo")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	layout(t, src, map[string]testimage.Image{"src:1": img}, nil)
	out := filepath.Join(dir, "saved.tar")
	if b, err := exec.Command(skopeo, "copy", "-q", "oci:"+src+":src:1", "docker-archive:"+out+":"+name).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, b)
	}
	return out
}

func TestCopyFromDockerArchive(t *testing.T) {
	imgs, err := testimage.Fleet(1, 1, 32<<10, 8<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	tarball := skopeoArchive(t, imgs[0], "nginx:1.25")
	dst := filepath.Join(t.TempDir(), "dst")

	tests := []struct{ name, src string }{
		{"sole image", "docker-archive:" + tarball},
		{"short name", "docker-archive:" + tarball + ":nginx:1.25"},
		{"full name", "docker-archive:" + tarball + ":docker.io/library/nginx:1.25"},
	}
	var first string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := gantry(t, "copy", "-q", tc.src, "oci:"+dst+":web/nginx:1")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if !strings.HasPrefix(out, "oci:"+dst+":web/nginx:1@sha256:") {
				t.Fatalf("printed %q", out)
			}
			if first == "" {
				first = out
			} else if out != first {
				t.Fatalf("copied %q, then %q", first, out)
			}
		})
	}
	if code, _, errs := gantry(t, "fsck", dst); code != 0 {
		t.Fatalf("fsck: %s", errs)
	}

	errTests := []struct{ name, src, dst, want string }{
		{"wrong image", "docker-archive:" + tarball + ":redis:7", "oci:" + dst + ":x:1", "docker.io/library/redis:7: tag not found"},
		{"as destination", "oci:" + dst + ":web/nginx:1", "docker-archive:" + filepath.Join(t.TempDir(), "x.tar"), "can only be read"},
		{"missing file", "docker-archive:" + filepath.Join(t.TempDir(), "none.tar"), "oci:" + dst + ":x:1", "no such file"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := gantry(t, "copy", "-q", tc.src, tc.dst)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, %q; want an error mentioning %q", code, errs, tc.want)
			}
		})
	}
}
