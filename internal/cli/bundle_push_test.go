package cli

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// makeBundle writes images into a layout as REPO:TAG and bundles them,
// each under host/REPO:TAG.
func makeBundle(t *testing.T, host string, images map[string]testimage.Image, opts bundle.CreateOptions) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	layout(t, src, images, nil)
	locs := &locations{}
	defer locs.Close()
	var imgs []bundle.Image
	for ref := range images {
		r, err := parseRef("SRC", "oci:"+src+":"+ref)
		if err != nil {
			t.Fatal(err)
		}
		target, err := locs.open(t.Context(), r, true)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, bundle.Image{Name: host + "/" + ref, Source: target, Reference: r.Tag})
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := bundle.Create(t.Context(), out, imgs, opts); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBundlePushLoad(t *testing.T) {
	fleet, err := testimage.Fleet(3, 1, 32<<10, 8<<10, 11)
	if err != nil {
		t.Fatal(err)
	}
	file := makeBundle(t, "registry.example.com", map[string]testimage.Image{"team/a:1": fleet[0], "team/b:1": fleet[1], "c:2": fleet[2]}, bundle.CreateOptions{})

	srv := httptest.NewServer(registry.New(memory.New(), registry.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	code, out, errs := gantry(t, "bundle", "push", file, "--to", host+"/site", "--insecure", "--json")
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, errs)
	}
	var sum bundleImportSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(sum.Images) != 3 || sum.Copied != 10 /* one shared base, 3 app layers, configs, manifests */ {
		t.Fatalf("summary %+v", sum)
	}
	want := map[string]string{
		host + "/site/team/a:1@" + fleet[0].ManifestDesc.Digest.String(): "",
		host + "/site/team/b:1@" + fleet[1].ManifestDesc.Digest.String(): "",
		host + "/site/c:2@" + fleet[2].ManifestDesc.Digest.String():      "",
	}
	for _, img := range sum.Images {
		if _, ok := want[img.Target]; !ok {
			t.Errorf("pushed %s, not one of %v", img.Target, want)
		}
	}
	// Again: everything is there, nothing moves.
	code, out, errs = gantry(t, "bundle", "push", file, "--to", host+"/site", "--insecure", "--json")
	if code != 0 {
		t.Fatalf("push again: exit %d: %s", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Copied != 0 {
		t.Fatalf("second push copied %d blobs (%v)", sum.Copied, err)
	}

	root := filepath.Join(t.TempDir(), "store")
	code, out, errs = gantry(t, "bundle", "load", file, "--root", root)
	if code != 0 {
		t.Fatalf("load: exit %d: %s", code, errs)
	}
	// The source registry's host is dropped, as bundle push drops it.
	if !strings.Contains(out, "oci:"+root+":team/a:1@"+fleet[0].ManifestDesc.Digest.String()) {
		t.Fatalf("load printed %q", out)
	}
	if code, _, errs := gantry(t, "copy", "-q", "oci:"+root+":c:2", "oci:"+filepath.Join(t.TempDir(), "x")+":c:2"); code != 0 {
		t.Fatalf("copy out of the loaded store: %s", errs)
	}
	// --keep-registry-host keeps it as the first path component.
	kept := filepath.Join(t.TempDir(), "kept")
	code, out, errs = gantry(t, "bundle", "load", "-q", "--keep-registry-host", file, "--root", kept)
	if code != 0 {
		t.Fatalf("load --keep-registry-host: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "oci:"+kept+":registry.example.com/team/a:1@"+fleet[0].ManifestDesc.Digest.String()) {
		t.Fatalf("load --keep-registry-host printed %q", out)
	}
}

func TestBundlePushRefusesDamage(t *testing.T) {
	fleet, err := testimage.Fleet(1, 1, 64<<10, 8<<10, 12)
	if err != nil {
		t.Fatal(err)
	}
	file := makeBundle(t, "registry.example.com", map[string]testimage.Image{"team/a:1": fleet[0]}, bundle.CreateOptions{})
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	layer := fleet[0].Layers[0]
	i := strings.Index(string(data), string(layer.Data[:64]))
	if i < 0 {
		t.Fatal("layer not found in the bundle")
	}
	data[i+1000] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := memory.New()
	srv := httptest.NewServer(registry.New(mem, registry.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	code, _, errs := gantry(t, "bundle", "push", bad, "--to", host, "--insecure")
	if code != 1 || !strings.Contains(errs, layer.Desc.Digest.String()) || !strings.Contains(errs, "nothing written") {
		t.Fatalf("push of a damaged bundle: exit %d: %s", code, errs)
	}
	var repos []string
	_ = mem.Repositories(t.Context(), "", func(p []string) error { repos = append(repos, p...); return nil })
	if len(repos) != 0 {
		t.Fatalf("the target has %v after a refused push", repos)
	}
}
