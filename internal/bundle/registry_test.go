package bundle

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
)

// TestRegistryRoundTrip bundles from a real registry (gantry's handler
// over HTTP), takes an inventory of it through the catalog, and checks
// that a delta against it is empty but for manifests and configs.
func TestRegistryRoundTrip(t *testing.T) {
	ctx := t.Context()
	backing, images, _ := fleet(t, 3, 1, 40000, 10000)
	srv := httptest.NewServer(registry.New(backing, registry.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	reg, err := remote.New(host, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var remoteImages []Image
	for _, img := range images {
		repo := strings.TrimSuffix(strings.TrimPrefix(img.Name, "registry.example.com/"), ":v1")
		r, err := reg.Repository(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		remoteImages = append(remoteImages, Image{Name: host + "/" + repo + ":v1", Source: r, Reference: "v1"})
	}
	out, rep := create(t, remoteImages, CreateOptions{})
	if len(rep.Manifest.Blobs) != 1+3*3 {
		t.Fatalf("%d blobs, want 10", len(rep.Manifest.Blobs))
	}
	r := open(t, out)
	if v := verify(t, r); !v.OK() {
		t.Fatal(v.Problems)
	}
	copyOut(t, r)

	inv, err := TakeInventory(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Len() != 10 {
		t.Fatalf("inventory of the registry: %d digests, want 10", inv.Len())
	}
	_, delta := create(t, remoteImages, CreateOptions{Have: inv})
	if len(delta.Manifest.Blobs) != 6 || delta.Manifest.Base.Blobs != 4 {
		t.Fatalf("delta against the same registry: %d blobs held, %d left out; want 6 (manifests and configs) and 4 layers", len(delta.Manifest.Blobs), delta.Manifest.Base.Blobs)
	}
	// Pushing the delta back: everything it leaves out is at the target.
	if v, err := open(t, delta.Files...).VerifyAgainst(ctx, backing, func(e ImageEntry) string {
		return strings.TrimPrefix(e.Repository(), host+"/")
	}); err != nil || !v.OK() {
		t.Fatalf("VerifyAgainst the registry's store: %v %v", err, v.Problems)
	}
}
