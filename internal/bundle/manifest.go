package bundle

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
)

// ManifestName is the name of the gantry manifest inside each bundle tar.
const ManifestName = "gantry-bundle.json"

// FormatVersion is the version of the bundle format this package writes.
// Readers refuse a newer major format.
const FormatVersion = 1

// MaxManifestSize bounds gantry-bundle.json, so a damaged or hostile file
// cannot make the reader allocate without limit.
const MaxManifestSize = 64 << 20

// Manifest is the content of gantry-bundle.json. Every volume of a bundle
// carries the same manifest but for Volume: any one volume names all the
// others, every blob and every image, so a reader holding some volumes knows
// exactly what the missing ones cost.
type Manifest struct {
	// FormatVersion is the bundle format version (FormatVersion).
	FormatVersion int `json:"formatVersion"`
	// ID identifies the bundle: the digest of its image and blob lists. All
	// volumes of one bundle share it, so volumes of different bundles are
	// never mixed.
	ID digest.Digest `json:"id"`
	// Created is when the bundle was made (UTC).
	Created time.Time `json:"created"`
	// Tool is the program and version that made it ("gantry/v0.1.0").
	Tool string `json:"tool,omitempty"`
	// Images lists the images, in the order they were given to Create.
	Images []ImageEntry `json:"images"`
	// Blobs lists every blob the bundle holds (manifests, configs, layers),
	// each once, sorted by digest. The digest is the checksum: readers
	// re-hash the bytes against it.
	Blobs []BlobEntry `json:"blobs"`
	// Base, set on an incremental bundle (a delta), says what it leaves out.
	// nil on a full bundle.
	Base *Base `json:"base,omitempty"`
	// Volume is this volume's number, from 1.
	Volume int `json:"volume"`
	// Volumes lists every volume of the bundle, in order (one entry for an
	// unsplit bundle).
	Volumes []VolumeEntry `json:"volumes"`
	// Signature, set on a signed bundle, is its maker's signature of ID.
	Signature *Signature `json:"signature,omitempty"`
}

// Signature is a bundle's signature of itself: the signature of the bytes
// of its ID ("sha256:…", no newline) with the maker's key, as
// package trust makes it. The ID is the digest of the image and blob lists
// (and the base of a delta), and every blob is checked against its digest,
// so the signature covers every byte an importer writes. It is what
// "cosign sign-blob --key" makes of a file holding the ID, and
// "cosign verify-blob" checks it.
type Signature struct {
	// KeyID names the key that made it (trust.PublicKey.ID), so that a
	// verifier holding another key says so.
	KeyID string `json:"keyID"`
	// Value is the signature, base64.
	Value string `json:"value"`
}

// ImageEntry is one image of a bundle.
type ImageEntry struct {
	// Name is the full reference recorded in index.json's
	// org.opencontainers.image.ref.name, e.g.
	// "registry.example.com/team/app:1.4".
	Name string `json:"name"`
	// Digest is the image's root: its manifest or index.
	Digest digest.Digest `json:"digest"`
	// MediaType is the root's media type.
	MediaType string `json:"mediaType"`
	// Size is the root's size in bytes.
	Size int64 `json:"size"`
	// Platform is the platform filter the image was bundled with
	// ("linux/arm64"); empty when every platform was kept. A filtered index
	// is kept as it is, sparse: other platforms' manifests are left out, so
	// Digest stays the one users pinned.
	Platform string `json:"platform,omitempty"`
	// Platforms lists the platforms of the image manifests kept ("linux/amd64").
	Platforms []string `json:"platforms,omitempty"`
	// Blobs lists every digest the image needs, root included, whether held
	// by the bundle or left out as part of its Base.
	Blobs []digest.Digest `json:"blobs"`
	// Bytes is the sum of the sizes of Blobs.
	Bytes int64 `json:"bytes"`
	// Subject, set on a referrer (a signature, SBOM or attestation the
	// bundle carries along with an image), is the manifest it is about:
	// the root of an image of the bundle or one of its manifests. A
	// referrer found through the referrers API is named REPO@DIGEST; one
	// found through cosign's tag scheme keeps its tag
	// (REPO:sha256-HEX.sig).
	Subject digest.Digest `json:"subject,omitempty"`
	// ArtifactType is a referrer's artifact type, as the referrers API
	// gave it.
	ArtifactType string `json:"artifactType,omitempty"`
}

// IsReferrer reports whether e is a referrer of another entry rather than
// an image given to Create.
func (e ImageEntry) IsReferrer() bool { return e.Subject != "" }

// Repository returns the repository part of Name: Name without its tag and
// digest ("registry.example.com/team/app").
func (e ImageEntry) Repository() string {
	repo, _ := splitName(e.Name)
	return repo
}

// Tag returns the tag part of Name, or "" when Name pins only a digest.
func (e ImageEntry) Tag() string {
	_, tag := splitName(e.Name)
	return tag
}

// splitName splits "REPO[:TAG][@DIGEST]" where REPO may start with
// "HOST:PORT/".
func splitName(name string) (repo, tag string) {
	repo, _, _ = strings.Cut(name, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		return repo[:i], repo[i+1:]
	}
	return repo, ""
}

// BlobEntry is one blob a bundle holds.
type BlobEntry struct {
	// Digest is the blob's digest: its name in blobs/ and its checksum.
	Digest digest.Digest `json:"digest"`
	// Size is the blob's size in bytes.
	Size int64 `json:"size"`
	// MediaType is the type the image's manifests give it.
	MediaType string `json:"mediaType,omitempty"`
	// Volume is the number of the volume holding it, from 1.
	Volume int `json:"volume"`
}

// Base says what an incremental bundle leaves out: the blobs its images need
// that the target site already has.
type Base struct {
	// Inventory is the digest of the inventory the delta was made against
	// (Inventory.Digest), when it was made with an inventory.
	Inventory digest.Digest `json:"inventory,omitempty"`
	// Bundle names the base bundle (its file name and ID) when the delta was
	// made with --since.
	Bundle string `json:"bundle,omitempty"`
	// Blobs is the number of blobs left out.
	Blobs int `json:"blobs"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// LeftOut lists them (Volume 0): they are expected at the target, and
	// VerifyAgainst checks that they are there.
	LeftOut []BlobEntry `json:"leftOut,omitempty"`
}

// VolumeEntry describes one volume of a bundle.
type VolumeEntry struct {
	// Number is the volume's number, from 1.
	Number int `json:"number"`
	// Name is the volume's file name, without directory ("app.002.tar").
	Name string `json:"name"`
	// Blobs is the number of blobs it holds.
	Blobs int `json:"blobs"`
	// Bytes is the total size of those blobs.
	Bytes int64 `json:"bytes"`
	// Images names the images whose graphs are complete within this volume
	// alone (those its index.json lists).
	Images []string `json:"images,omitempty"`
	// Oversize says that the volume holds one blob larger than the split
	// size, which got a volume of its own.
	Oversize bool `json:"oversize,omitempty"`
}

// computeID returns the bundle ID of m: the digest of its image and blob
// lists and its base, what a signature covers.
func computeID(m *Manifest) (digest.Digest, error) {
	b, err := json.Marshal(struct {
		I []ImageEntry
		B []BlobEntry
		L *Base
	}{m.Images, m.Blobs, m.Base})
	if err != nil {
		return "", err
	}
	return digest.FromBytes(b), nil
}

// parseManifest decodes and checks gantry-bundle.json.
func parseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v): %w", ManifestName, err, cas.ErrInvalid)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	return &m, nil
}

// validate checks the manifest's internal consistency: what a reader relies
// on before it trusts any of it.
func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, cas.ErrInvalid)...)
	}
	if m.FormatVersion < 1 {
		return bad("formatVersion %d: not a gantry bundle manifest", m.FormatVersion)
	}
	if m.FormatVersion > FormatVersion {
		return fmt.Errorf("format version %d is newer than this gantry reads (%d): upgrade gantry: %w", m.FormatVersion, FormatVersion, cas.ErrUnsupported)
	}
	if err := cas.ValidateDigest(m.ID); err != nil {
		return bad("bundle id: %v", err)
	}
	n := len(m.Volumes)
	if n == 0 {
		return bad("no volumes listed")
	}
	if m.Volume < 1 || m.Volume > n {
		return bad("volume %d of %d", m.Volume, n)
	}
	names := map[string]bool{}
	for i, v := range m.Volumes {
		if v.Number != i+1 {
			return bad("volume entry %d has number %d", i+1, v.Number)
		}
		if v.Name == "" || strings.ContainsAny(v.Name, "/\\") || names[v.Name] {
			return bad("volume %d has a bad or repeated name %q", v.Number, v.Name)
		}
		names[v.Name] = true
	}
	known := map[digest.Digest]bool{}
	for _, b := range m.Blobs {
		if err := cas.ValidateDescriptor(b.desc()); err != nil {
			return bad("blob: %v", err)
		}
		if b.Volume < 1 || b.Volume > n {
			return bad("blob %s: volume %d of %d", b.Digest, b.Volume, n)
		}
		if known[b.Digest] {
			return bad("blob %s listed twice", b.Digest)
		}
		known[b.Digest] = true
	}
	if m.Base != nil {
		for _, b := range m.Base.LeftOut {
			if err := cas.ValidateDescriptor(b.desc()); err != nil {
				return bad("left-out blob: %v", err)
			}
			if known[b.Digest] {
				return bad("blob %s both held and left out", b.Digest)
			}
			known[b.Digest] = true
		}
	}
	seen := map[string]bool{}
	for _, img := range m.Images {
		if img.Name == "" || seen[img.Name] {
			return bad("image with an empty or repeated name %q", img.Name)
		}
		seen[img.Name] = true
		if err := cas.ValidateDigest(img.Digest); err != nil {
			return bad("image %s: %v", img.Name, err)
		}
		for _, d := range img.Blobs {
			if !known[d] {
				return bad("image %s needs %s, which the bundle neither holds nor leaves out", img.Name, d)
			}
		}
		if !known[img.Digest] {
			return bad("image %s: root %s neither held nor left out", img.Name, img.Digest)
		}
		if img.Subject != "" && !known[img.Subject] {
			return bad("referrer %s: subject %s neither held nor left out", img.Name, img.Subject)
		}
	}
	return nil
}
