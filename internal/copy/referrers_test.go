package copy_test

import (
	"encoding/json"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCopyIndexesReferrers: a manifest with a subject copied into a store
// that keeps a referrer index is listed under its subject, as a registry
// lists one pushed to it, whether the copy moved it or found it there.
func TestCopyIndexesReferrers(t *testing.T) {
	g := newGraph()
	src, dst := repo(t, "src"), repo(t, "dst")
	img := g.image(t, src, 1, 100)
	sbom := g.blob(t, src, 50)
	sbom.MediaType = "application/spdx+json"
	empty := g.add(t, src, ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/spdx+json",
		Config: empty, Layers: []ocispec.Descriptor{sbom}, Subject: &img,
		Annotations: map[string]string{"org.example.kind": "sbom"}}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	art := g.add(t, src, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}, b)

	for _, run := range []string{"moved", "present"} {
		if _, err := copy.Copy(t.Context(), src, art.Digest.String(), dst, "", copy.Options{}); err != nil {
			t.Fatalf("%s: Copy: %v", run, err)
		}
		list, err := dst.(cas.ReferrerIndex).Referrers(t.Context(), img.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Digest != art.Digest || list[0].ArtifactType != "application/spdx+json" || list[0].Annotations["org.example.kind"] != "sbom" {
			t.Fatalf("%s: referrers of the subject = %+v, want the SBOM %s with its artifact type and annotations", run, list, art.Digest)
		}
	}
}
