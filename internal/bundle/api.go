package bundle

import (
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one image to put in a bundle.
type Image struct {
	// Name is the full reference recorded in index.json's
	// org.opencontainers.image.ref.name, e.g.
	// "registry.example.com/team/app:1.4". Names are unique in a bundle.
	Name string
	// Source is the repository the image is read from.
	Source cas.ReadOnlyTarget
	// Reference is the tag or digest to resolve in Source.
	Reference string
	// Platform, if set, keeps only this platform of an index (overriding
	// CreateOptions.Platform); nil uses CreateOptions.Platform.
	Platform *ocispec.Platform
}

// CreateOptions tunes Create. The zero value writes one file holding every
// platform of every image, four blobs at a time, silently.
type CreateOptions struct {
	// Platform, if set, keeps only this platform of every index, unless the
	// Image says otherwise. nil keeps every platform.
	Platform *ocispec.Platform
	// Have, if set, is what the target site already has: its layers are
	// left out and the bundle is a delta based on it (Manifest.Base).
	Have *Inventory
	// BaseName, with Have, records where the inventory came from when it was
	// taken from a bundle (--since OLD_BUNDLE): Manifest.Base.Bundle.
	BaseName string
	// Split, if > 0, is the largest volume size in bytes; 0 writes one file.
	Split int64
	// Concurrency bounds the blobs read at once; <= 0 means
	// copy.DefaultConcurrency. Writes into the tar are serialised.
	Concurrency int
	// Progress, if set, receives the copy engine's events for every blob.
	Progress func(copy.Event)
	// Log, if set, receives debug lines about the plan and the volumes.
	Log *slog.Logger
	// Tool is recorded in Manifest.Tool ("gantry/v0.1.0"); empty: "gantry".
	Tool string
	// NoReferrers leaves out the images' referrers. By default Create
	// carries along every referrer of every manifest of each image
	// (signatures, SBOMs, attestations): those the source's referrers API
	// lists (cas.ReferrerLister) and those under cosign's tags
	// (sha256-HEX.sig, .att, .sbom), and their own referrers in turn.
	NoReferrers bool
	// SignKey, if set, signs the bundle (Manifest.Signature).
	SignKey *trust.PrivateKey
	// Now, if set, replaces time.Now for Manifest.Created (reproducible
	// bundles in tests).
	Now func() time.Time
}

// CreateReport says what Create wrote.
type CreateReport struct {
	// Files lists the volume files written, in volume order, with their
	// paths as given (out for volume 1).
	Files []string `json:"files"`
	// Manifest is the bundle's manifest (as in volume 1).
	Manifest Manifest `json:"manifest"`
	// Size is the total size of the files written.
	Size int64 `json:"size"`
	// BlobBytes is the total size of the blobs written, each once.
	BlobBytes int64 `json:"blobBytes"`
	// Oversize lists the blobs larger than Split, each in a volume of its
	// own.
	Oversize []digest.Digest `json:"oversize,omitempty"`
	// Duration is how long Create took.
	Duration time.Duration `json:"duration"`
}

// VerifyReport says what Verify found. A bundle is sound when Problems is
// empty.
type VerifyReport struct {
	// Blobs is the number of blobs re-hashed and found right.
	Blobs int `json:"blobs"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// Images lists every image with what it lacks (empty: complete).
	Images []ImageStatus `json:"images"`
	// Problems lists what is missing or damaged, each once.
	Problems []Problem `json:"problems,omitempty"`
	// Expected lists the blobs a delta leaves out: not damage, but content
	// the target must have (VerifyAgainst checks it).
	Expected []BlobEntry `json:"expected,omitempty"`
	// MountFrom maps each left-out blob that the target holds, but not in
	// the repository of an image that needs it, to a repository of the
	// target that holds it (VerifyAgainst fills it). Repositories own their
	// content, so an importer mounts such a blob from there: a new image on
	// a base the site already has (in another repository) costs no upload.
	MountFrom map[digest.Digest]string `json:"mountFrom,omitempty"`
	// Signatures, when the caller checked them (Reader.VerifySignatures),
	// says what it found; its problems are also in Problems.
	Signatures *SignatureReport `json:"signatures,omitempty"`
}

// OK reports whether Verify found no problem.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// ImageStatus is one image's state in a VerifyReport.
type ImageStatus struct {
	// Name is the image's full reference.
	Name string `json:"name"`
	// Complete is true when every blob the image needs is in the bundle and
	// right (or, for a delta, expected at the target).
	Complete bool `json:"complete"`
	// Missing lists the digests it needs that are missing or damaged.
	Missing []digest.Digest `json:"missing,omitempty"`
}

// ProblemKind says what is wrong with a blob or volume.
type ProblemKind string

// The kinds of Problem.
const (
	// ProblemMissingVolume: a volume was not given to Open.
	ProblemMissingVolume ProblemKind = "missing-volume"
	// ProblemTruncated: a volume ends before one of its blobs does.
	ProblemTruncated ProblemKind = "truncated"
	// ProblemMissingBlob: the manifest lists a blob its volume lacks.
	ProblemMissingBlob ProblemKind = "missing-blob"
	// ProblemDamaged: a blob's bytes do not match its digest or size.
	ProblemDamaged ProblemKind = "damaged"
	// ProblemIncomplete: an image's graph names content that is neither in
	// the bundle nor in its base.
	ProblemIncomplete ProblemKind = "incomplete"
	// ProblemAbsentAtTarget: a blob a delta leaves out is not at the target
	// (VerifyAgainst).
	ProblemAbsentAtTarget ProblemKind = "absent-at-target"
)

// Problem is one thing Verify found wrong, named with what it costs.
type Problem struct {
	// Kind says what is wrong.
	Kind ProblemKind `json:"kind"`
	// Digest is the blob concerned, if any.
	Digest digest.Digest `json:"digest,omitempty"`
	// Volume is the file name of the volume concerned, if any.
	Volume string `json:"volume,omitempty"`
	// Detail says what was found, in words.
	Detail string `json:"detail"`
	// Images names the images it costs.
	Images []string `json:"images,omitempty"`
}

// String returns the problem as one line.
func (p Problem) String() string {
	s := string(p.Kind)
	if p.Volume != "" {
		s += " in " + p.Volume
	}
	if p.Digest != "" {
		s += " " + p.Digest.String()
	}
	s += ": " + p.Detail
	if len(p.Images) > 0 {
		s += " (costs " + joinNames(p.Images) + ")"
	}
	return s
}

// DiffReport compares two bundles.
type DiffReport struct {
	// Old and New, each set when that bundle is a delta, say what it
	// needs from its base.
	Old *Delta `json:"old,omitempty"`
	New *Delta `json:"new,omitempty"`
	// NewOnOld says that b is a delta made against a's content (--since
	// a, or an inventory listing exactly what a holds): b's images come on
	// top of a's at the site, and a's other images stay there (Kept).
	NewOnOld bool `json:"newOnOld,omitempty"`
	// Added names images in b but not in a.
	Added []string `json:"added,omitempty"`
	// Removed names images in a but not in b, unless b is a delta on a:
	// then they are in Kept.
	Removed []string `json:"removed,omitempty"`
	// Kept names, when b is a delta on a, a's images that b does not
	// name: loading b leaves them at the site as they are.
	Kept []string `json:"kept,omitempty"`
	// Changed lists images in both whose digest differs.
	Changed []ImageChange `json:"changed,omitempty"`
	// Unchanged names images in both with the same digest.
	Unchanged []string `json:"unchanged,omitempty"`
	// OnlyInA lists the blobs a holds and b does not, leaving out those b
	// takes from its base (FromBase).
	OnlyInA []BlobEntry `json:"onlyInA,omitempty"`
	// OnlyInB lists the blobs b holds and a does not.
	OnlyInB []BlobEntry `json:"onlyInB,omitempty"`
	// BytesOnlyInA is the total size of OnlyInA.
	BytesOnlyInA int64 `json:"bytesOnlyInA"`
	// BytesOnlyInB is the total size of OnlyInB.
	BytesOnlyInB int64 `json:"bytesOnlyInB"`
	// FromBase is the number of blobs a holds that b, a delta, leaves out
	// for its base to provide; FromBaseBytes is their total size.
	FromBase      int   `json:"fromBase,omitempty"`
	FromBaseBytes int64 `json:"fromBaseBytes,omitempty"`
	// Shared is the number of blobs both hold.
	Shared int `json:"shared"`
	// SharedBytes is their total size.
	SharedBytes int64 `json:"sharedBytes"`
}

// Delta describes a bundle that is a delta (an incremental bundle): the
// base it needs at the site and what each image takes from it.
type Delta struct {
	// Bundle names the base bundle (file name and ID) when the delta was
	// made with --since.
	Bundle string `json:"bundle,omitempty"`
	// Inventory is the digest of the inventory the delta was made against.
	Inventory digest.Digest `json:"inventory,omitempty"`
	// Blobs is the number of blobs left out, expected from the base, and
	// Bytes their total size.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Images lists the delta's images that need blobs from the base, in
	// the manifest's order.
	Images []DeltaImage `json:"images,omitempty"`
}

// BaseName names the base for people: "bundle NAME (ID)" or "inventory
// DIGEST".
func (d *Delta) BaseName() string {
	switch {
	case d.Bundle != "":
		return "bundle " + d.Bundle
	case d.Inventory != "":
		return "inventory " + d.Inventory.String()
	}
	return "its base"
}

// DeltaImage is what one image of a delta takes from the base.
type DeltaImage struct {
	// Name is the image's full reference.
	Name string `json:"name"`
	// Blobs is the number of blobs it needs from the base, and Bytes
	// their total size.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

// ImageChange is an image whose digest differs between two bundles.
type ImageChange struct {
	// Name is the image's full reference.
	Name string `json:"name"`
	// From is its digest in the old bundle.
	From digest.Digest `json:"from"`
	// To is its digest in the new bundle.
	To digest.Digest `json:"to"`
}

func (b BlobEntry) desc() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
}

func joinNames(names []string) string {
	const max = 5
	s := ""
	for i, n := range names {
		if i == max {
			s += ", …"
			break
		}
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
