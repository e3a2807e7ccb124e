package trust

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
)

// Media types, annotations and tag suffixes of cosign's signatures and
// attachments.
const (
	// SimpleSigningMediaType is the media type of a signature layer: its
	// bytes are a Payload.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation is the layer annotation holding the base64
	// signature of the layer's bytes.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// SignatureArtifactType is the artifact type cosign gives a signature
	// it attaches as an OCI 1.1 referrer.
	SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// TypeCosign is the critical.type of a cosign payload; TypeAtomic
	// that of the containers/image "atomic" format, which cosign accepts.
	TypeCosign = "cosign container image signature"
	TypeAtomic = "atomic container signature"
)

// Suffixes of cosign's tag scheme: an image sha256:HEX has its
// signatures under "sha256-HEX.sig", attestations under ".att", SBOMs under
// ".sbom", in its own repository.
var TagSuffixes = []string{".sig", ".att", ".sbom"}

// SignatureTag returns the tag under which cosign stores the signatures of
// d ("sha256-HEX.sig").
func SignatureTag(d digest.Digest) string { return TagPrefix(d) + ".sig" }

// TagPrefix returns the tag scheme's name for d ("sha256-HEX"), to which
// a suffix of TagSuffixes is added.
func TagPrefix(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// SubjectOfTag returns the digest a tag of cosign's scheme
// ("sha256-HEX.sig") is about, and whether tag is one.
func SubjectOfTag(tag string) (digest.Digest, bool) {
	for _, sfx := range TagSuffixes {
		base, ok := strings.CutSuffix(tag, sfx)
		if !ok {
			continue
		}
		alg, hex, ok := strings.Cut(base, "-")
		if !ok {
			return "", false
		}
		d := digest.Digest(alg + ":" + hex)
		if cas.ValidateDigest(d) != nil {
			return "", false
		}
		return d, true
	}
	return "", false
}

// MaxPayloadSize bounds a payload: cosign's are a few hundred bytes, with
// annotations a few kilobytes.
const MaxPayloadSize = 1 << 20

// Payload is the "simple signing" document a cosign signature signs.
type Payload struct {
	Critical struct {
		Identity struct {
			// DockerReference is the repository the signer named.
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			// DockerManifestDigest is the digest of the signed manifest.
			DockerManifestDigest digest.Digest `json:"docker-manifest-digest"`
		} `json:"image"`
		// Type is TypeCosign or TypeAtomic.
		Type string `json:"type"`
	} `json:"critical"`
	// Optional holds the signer's annotations (-a key=value), unchecked.
	Optional map[string]any `json:"optional"`
}

// ParsePayload decodes and checks a payload: valid JSON, a known type and
// a valid manifest digest. It does not check any signature.
func ParsePayload(data []byte) (*Payload, error) {
	if len(data) > MaxPayloadSize {
		return nil, fmt.Errorf("signature payload of %d bytes, over the %d-byte limit: %w", len(data), MaxPayloadSize, cas.ErrInvalid)
	}
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("signature payload is not simple signing JSON (%v): %w", err, cas.ErrInvalid)
	}
	if dec.More() {
		return nil, fmt.Errorf("signature payload has data after its JSON document: %w", cas.ErrInvalid)
	}
	if t := p.Critical.Type; !strings.EqualFold(t, TypeCosign) && !strings.EqualFold(t, TypeAtomic) {
		return nil, fmt.Errorf("signature payload of type %q, want %q: %w", t, TypeCosign, cas.ErrInvalid)
	}
	if err := cas.ValidateDigest(p.Critical.Image.DockerManifestDigest); err != nil {
		return nil, fmt.Errorf("signature payload: critical.image.docker-manifest-digest: %w", err)
	}
	return &p, nil
}

// VerifyImageSignature checks one cosign signature layer: sigB64 (the
// layer's SignatureAnnotation) must be key's signature of payload (the
// layer's bytes), and the payload must name image. An error wraps
// ErrBadSignature when the signature is not key's, or cas.ErrInvalid when
// the payload is malformed or names another image. It returns the
// payload.
func VerifyImageSignature(key *PublicKey, payload []byte, sigB64 string, image digest.Digest) (*Payload, error) {
	sig, err := DecodeSignature(sigB64)
	if err != nil {
		return nil, err
	}
	// The signature first: nothing of an unsigned payload is believed.
	if err := key.Verify(payload, sig); err != nil {
		return nil, err
	}
	p, err := ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	if got := p.Critical.Image.DockerManifestDigest; got != image {
		return nil, fmt.Errorf("the signed payload names %s, not %s (a signature of another image moved next to this one): %w", got, image, cas.ErrInvalid)
	}
	return p, nil
}
