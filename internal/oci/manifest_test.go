package oci

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	cfg   = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d256 + `","size":7}`
	layer = `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d256 + `","size":7}`
)

func desc(mt, body string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: digest.FromString(body), Size: int64(len(body))}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, mt, body string
		children       int
		wantMT         string
	}{
		{"oci image", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfg + `,"layers":[` + layer + `]}`, 2, ocispec.MediaTypeImageManifest},
		{"no mediaType field", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":` + cfg + `,"layers":[]}`, 1, ocispec.MediaTypeImageManifest},
		{"type from document", "", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":` + cfg + `,"layers":[` + layer + `]}`, 2, MediaTypeDockerManifest},
		{"index", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d256 + `","size":7,"platform":{"os":"linux","architecture":"amd64"}}]}`, 1, ocispec.MediaTypeImageIndex},
		{"guessed index", "", `{"schemaVersion":2,"manifests":[]}`, 0, ocispec.MediaTypeImageIndex},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseManifest(desc(tc.mt, tc.body), []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Children()) != tc.children || m.MediaType != tc.wantMT {
				t.Fatalf("got %d children, type %q; want %d, %q", len(m.Children()), m.MediaType, tc.children, tc.wantMT)
			}
		})
	}
}

func TestParseManifestErrors(t *testing.T) {
	tests := []struct{ name, mt, body, mention string }{
		{"not json", ocispec.MediaTypeImageManifest, `{`, "JSON"},
		{"media type disagrees", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfg + `}`, "media type"},
		{"not a manifest type", "application/octet-stream", `{"schemaVersion":2,"config":` + cfg + `}`, "not a manifest"},
		{"schema 1", ocispec.MediaTypeImageManifest, `{"schemaVersion":1,"config":` + cfg + `}`, "schemaVersion"},
		{"no config", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"layers":[]}`, "without config"},
		{"bad child digest", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"digest":"sha256:abc","size":1}}`, "sha256:abc"},
		{"negative size", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"digest":"` + d256 + `","size":-1}}`, "negative"},
		{"index of blobs", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[` + layer + `]}`, "not a manifest"},
		{"too big", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":` + cfg + `,"annotations":{"x":"` + strings.Repeat("a", MaxManifestSize) + `"}}`, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(desc(tc.mt, tc.body), []byte(tc.body))
			if !errors.Is(err, cas.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}
