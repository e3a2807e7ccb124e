package oci

import (
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize is the largest manifest gantry reads or accepts, the limit
// distribution-spec v1.1 tells registries they may enforce (4 MiB).
const MaxManifestSize = 4 << 20

// Docker schema 2 media types, which gantry reads and stores as they are.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// IsIndex reports whether mediaType is an image index or manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsImageManifest reports whether mediaType is an image manifest (OCI or
// Docker schema 2).
func IsImageManifest(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == MediaTypeDockerManifest
}

// IsManifest reports whether mediaType is any manifest gantry parses: an
// image manifest or an index.
func IsManifest(mediaType string) bool { return IsIndex(mediaType) || IsImageManifest(mediaType) }

// ManifestMediaTypes lists every manifest media type gantry accepts, in the
// order it prefers them (for an HTTP Accept header).
var ManifestMediaTypes = []string{
	ocispec.MediaTypeImageIndex,
	ocispec.MediaTypeImageManifest,
	MediaTypeDockerManifestList,
	MediaTypeDockerManifest,
}

// IsNonDistributable reports whether a layer is one that registries do not
// hold (Docker foreign layers, the deprecated OCI non-distributable types):
// copies and completeness checks skip it.
func IsNonDistributable(mediaType string) bool {
	switch mediaType {
	case MediaTypeDockerForeignLayer,
		// image-spec v1.1 deprecates these; images made before still carry them.
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return true
	}
	return false
}

// Manifest is a parsed image manifest or index: the union of the fields
// gantry needs from both.
type Manifest struct {
	MediaType     string               `json:"mediaType,omitempty"`
	ArtifactType  string               `json:"artifactType,omitempty"`
	Config        *ocispec.Descriptor  `json:"config,omitempty"`
	Layers        []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests     []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject       *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations   map[string]string    `json:"annotations,omitempty"`
	SchemaVersion int                  `json:"schemaVersion"`
}

// Children returns the descriptors a manifest points at, the ones a copy
// must move before it: config then layers, or the index's manifests. The
// subject is not a child (it is a referrer link, moved separately).
func (m *Manifest) Children() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	return append(out, m.Manifests...)
}

// ParseManifest parses and validates data as the manifest described by desc.
// desc.MediaType may be empty: it is then taken from the document. It checks
// the size limit, that the document's own mediaType (if set) agrees with
// desc's, and that every descriptor inside is well formed.
func ParseManifest(desc ocispec.Descriptor, data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s: %d bytes is over the %d-byte limit: %w", desc.Digest, len(data), MaxManifestSize, cas.ErrInvalid)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: not valid JSON: %v: %w", desc.Digest, err, cas.ErrInvalid)
	}
	mt := desc.MediaType
	switch {
	case mt == "" && m.MediaType != "":
		mt = m.MediaType
	case mt == "":
		mt = guessMediaType(&m)
	case m.MediaType != "" && m.MediaType != mt:
		return nil, fmt.Errorf("manifest %s: document says media type %q, descriptor says %q: %w", desc.Digest, m.MediaType, mt, cas.ErrInvalid)
	}
	if !IsManifest(mt) {
		return nil, fmt.Errorf("manifest %s: media type %q is not a manifest or index (want one of %v): %w", desc.Digest, mt, ManifestMediaTypes, cas.ErrInvalid)
	}
	m.MediaType = mt
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("manifest %s: schemaVersion %d, want 2: %w", desc.Digest, m.SchemaVersion, cas.ErrInvalid)
	}
	if IsIndex(mt) {
		if m.Config != nil || len(m.Layers) > 0 {
			return nil, fmt.Errorf("manifest %s: an index has no config or layers: %w", desc.Digest, cas.ErrInvalid)
		}
	} else {
		if m.Config == nil {
			return nil, fmt.Errorf("manifest %s: image manifest without config: %w", desc.Digest, cas.ErrInvalid)
		}
		if len(m.Manifests) > 0 {
			return nil, fmt.Errorf("manifest %s: an image manifest has no manifests list: %w", desc.Digest, cas.ErrInvalid)
		}
	}
	for _, c := range m.Children() {
		if err := cas.ValidateDescriptor(c); err != nil {
			return nil, fmt.Errorf("manifest %s: child: %w", desc.Digest, err)
		}
		if IsIndex(mt) && !IsManifest(c.MediaType) {
			return nil, fmt.Errorf("manifest %s: index entry %s has media type %q, not a manifest: %w", desc.Digest, c.Digest, c.MediaType, cas.ErrInvalid)
		}
	}
	if m.Subject != nil {
		if err := cas.ValidateDescriptor(*m.Subject); err != nil {
			return nil, fmt.Errorf("manifest %s: subject: %w", desc.Digest, err)
		}
	}
	return &m, nil
}

// guessMediaType names a document that carries no mediaType, as some OCI
// writers leave it out: an index if it lists manifests, else an image
// manifest.
func guessMediaType(m *Manifest) string {
	if m.Manifests != nil && m.Config == nil {
		return ocispec.MediaTypeImageIndex
	}
	return ocispec.MediaTypeImageManifest
}

// ReferrerDescriptor returns the entry a referrers listing gives the
// manifest m (described by desc) under its subject: its media type, digest
// and size, its annotations, and its artifactType, which for an image
// manifest without one is its config's media type (distribution-spec
// v1.1). The registry and the copy engine both index referrers with it.
func ReferrerDescriptor(desc ocispec.Descriptor, m *Manifest) ocispec.Descriptor {
	at := m.ArtifactType
	if at == "" && m.Config != nil && IsImageManifest(m.MediaType) {
		at = m.Config.MediaType
	}
	return ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: at, Annotations: m.Annotations}
}
