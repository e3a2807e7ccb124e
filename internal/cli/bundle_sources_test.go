package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestBundleSources(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "images.txt")
	if err := os.WriteFile(list, []byte("# site A\nnginx:1.25 --platform=linux/arm64\nlocalhost:5000/team/app:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k8s := filepath.Join(dir, "k8s")
	if err := os.MkdirAll(k8s, 0o755); err != nil {
		t.Fatal(err)
	}
	deploy := "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - image: localhost:5000/team/app:2\n      - image: redis:7\n"
	if err := os.WriteFile(filepath.Join(k8s, "app.yaml"), []byte(deploy), 0o644); err != nil {
		t.Fatal(err)
	}
	var s bundleSources
	fl := pflag.NewFlagSet("create", pflag.ContinueOnError)
	s.addFlags(fl)
	if err := fl.Parse([]string{"-f", list, "--from", k8s}); err != nil {
		t.Fatal(err)
	}
	e := &env{stdin: strings.NewReader("")}
	got, err := s.collect(e, []string{"oci:layout:app:1"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, b := range got {
		p := ""
		if b.platform != nil {
			p = " " + b.platform.Architecture
		}
		lines = append(lines, b.arg+p+" from "+strings.TrimPrefix(b.from, dir+"/"))
	}
	want := []string{
		"oci:layout:app:1 from command line",
		"docker.io/library/nginx:1.25 arm64 from images.txt:2",
		"localhost:5000/team/app:2 from images.txt:3",
		"docker.io/library/redis:7 from k8s/app.yaml:7",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestBundleSourcesOpen(t *testing.T) {
	imgs, err := testimage.Fleet(2, 1, 16<<10, 4<<10, 5)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	layout(t, src, map[string]testimage.Image{"team/a:1": imgs[0]}, nil)
	tarball := skopeoArchive(t, imgs[1], "registry.example.com/team/b:2")

	var s bundleSources
	locs := &locations{}
	defer locs.Close()
	e := &env{stdin: strings.NewReader("")}
	got, err := s.images(t.Context(), e, locs, []string{"oci:" + src + ":team/a:1", "docker-archive:" + tarball})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "team/a:1" || got[1].Name != "registry.example.com/team/b:2" {
		t.Fatalf("images %+v", got)
	}
	for _, img := range got {
		if _, err := img.Source.Resolve(t.Context(), img.Reference); err != nil {
			t.Errorf("%s: resolve %s: %v", img.Name, img.Reference, err)
		}
	}
	if _, err := s.images(t.Context(), e, locs, []string{"docker-archive:" + tarball + ":nginx"}); err == nil || !strings.Contains(err.Error(), "no image nginx") {
		t.Errorf("absent image of an archive: %v", err)
	}
	if _, err := s.images(t.Context(), e, locs, nil); err == nil {
		t.Error("no image at all accepted")
	}
}
