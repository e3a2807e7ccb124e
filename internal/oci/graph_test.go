package oci

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestChildren(t *testing.T) {
	d := func(s string) digest.Digest { return digest.FromString(s) }
	plat := func(s string) *ocispec.Platform {
		p, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	entry := func(name, platform string) ocispec.Descriptor {
		e := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d(name), Size: 1}
		if platform != "" {
			e.Platform = plat(platform)
		}
		return e
	}
	config := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: d("config"), Size: 1}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d("layer"), Size: 1}
	foreign := ocispec.Descriptor{MediaType: MediaTypeDockerForeignLayer, Digest: d("foreign"), Size: 1}
	image := &Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: &config, Layers: []ocispec.Descriptor{layer, foreign}}
	nested := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d("nested"), Size: 1}
	attestation := entry("attestation", "")
	index := &Manifest{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		entry("amd64", "linux/amd64"), entry("arm64", "linux/arm64"), entry("armv7", "linux/arm/v7"), attestation,
	}}
	withNested := &Manifest{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry("amd64", "linux/amd64"), nested}}
	empty := &Manifest{MediaType: ocispec.MediaTypeImageIndex}
	for _, tc := range []struct {
		name     string
		m        *Manifest
		platform string
		want     []digest.Digest
		wantErr  string // substring of a *PlatformError's message
	}{
		{"image: config and layers, no foreign layer", image, "", []digest.Digest{config.Digest, layer.Digest}, ""},
		{"image under a platform: all its own", image, "windows/amd64", []digest.Digest{config.Digest, layer.Digest}, ""},
		{"index, no filter: every entry", index, "", []digest.Digest{d("amd64"), d("arm64"), d("armv7"), attestation.Digest}, ""},
		{"index, one platform", index, "linux/arm64", []digest.Digest{d("arm64")}, ""},
		{"arm64/v8 matches arm64", index, "linux/arm64/v8", []digest.Digest{d("arm64")}, ""},
		{"nested index kept for later", withNested, "linux/s390x", []digest.Digest{nested.Digest}, ""},
		{"empty index", empty, "linux/amd64", nil, ""},
		{"platform the index lacks", index, "windows/amd64", nil, "no manifest for platform windows/amd64 (the index has linux/amd64, linux/arm64, linux/arm/v7)"},
		{"index of attestations only", &Manifest{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{attestation}}, "linux/amd64", nil, "(the index has no platform entries)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *ocispec.Platform
			if tc.platform != "" {
				p = plat(tc.platform)
			}
			desc := ocispec.Descriptor{MediaType: tc.m.MediaType, Digest: d(tc.name), Size: 1}
			got, err := Children(desc, tc.m, p)
			if tc.wantErr != "" {
				var pe *PlatformError
				if !errors.As(err, &pe) || !errors.Is(err, cas.ErrNotFound) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), desc.Digest.String()) {
					t.Fatalf("got %v, want a *PlatformError for %s saying %q", err, desc.Digest, tc.wantErr)
				}
				if FormatPlatform(&pe.Platform) != FormatPlatform(p) || pe.Index.Digest != desc.Digest {
					t.Fatalf("PlatformError %+v does not name the index and the platform", pe)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var digests []digest.Digest
			for _, c := range got {
				digests = append(digests, c.Digest)
			}
			if !slices.Equal(digests, tc.want) {
				t.Fatalf("got %v, want %v", digests, tc.want)
			}
		})
	}
}
