package bundle

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The kinds of Problem VerifySignatures reports.
const (
	// ProblemBundleSignature: the bundle's own signature does not verify
	// with the key given, or its ID does not match its contents.
	ProblemBundleSignature ProblemKind = "bundle-signature"
	// ProblemBadSignature: an image carries cosign signatures, none of
	// which verifies with the key given.
	ProblemBadSignature ProblemKind = "bad-signature"
	// ProblemUnsigned: an image carries no cosign signature, and one is
	// required.
	ProblemUnsigned ProblemKind = "unsigned"
)

// SignatureOptions says what VerifySignatures checks.
type SignatureOptions struct {
	// Key verifies the bundle's signature and the images' key-based
	// cosign signatures. Key or Certs is required.
	Key *trust.PublicKey
	// Certs verifies the images' cosign signatures made with a
	// certificate (keyless, or one's own PKI). A bundle's own signature
	// is key-based: without Key it is not checked (Bundle "not checked").
	Certs *trust.CertPolicy
	// RequireSignature makes an image without a cosign signature a
	// problem (ProblemUnsigned). Without it, only signatures present are
	// checked.
	RequireSignature bool
}

// SignatureReport says what VerifySignatures found. The bundle and its
// images are trusted when Problems is empty.
type SignatureReport struct {
	// Key is the ID of the key used (trust.PublicKey.ID), if one was.
	Key string `json:"key,omitempty"`
	// Identity is the certificate identity required, if one was.
	Identity string `json:"identity,omitempty"`
	// Bundle is "verified" when the bundle's own signature verified,
	// "unsigned" when it carries none, "bad" when it did not verify, "not
	// checked" when it is signed and no key was given.
	Bundle string `json:"bundle"`
	// Images lists every image (not its referrers) with its signatures.
	Images []SignatureStatus `json:"images"`
	// Problems lists what failed, each once.
	Problems []Problem `json:"problems,omitempty"`
}

// SignatureStatus is one image's signatures in a SignatureReport.
type SignatureStatus struct {
	// Name is the image's full reference.
	Name string `json:"name"`
	// Digest is its root.
	Digest digest.Digest `json:"digest"`
	// Signatures is the number of cosign signatures it carries.
	Signatures int `json:"signatures"`
	// Verified is the number of those that verify with the key.
	Verified int `json:"verified"`
}

// OK reports whether VerifySignatures found no problem.
func (r *SignatureReport) OK() bool { return len(r.Problems) == 0 }

// Signed reports whether the bundle carries a signature of its own.
func (r *Reader) Signed() bool { return r.m.Signature != nil }

// VerifyBundleSignature checks the bundle's own signature with key: the
// manifest's ID must be the digest of its contents, and the signature
// key's signature of that ID. It returns an error wrapping
// trust.ErrBadSignature when it does not verify, and cas.ErrNotFound when
// the bundle is not signed.
func (r *Reader) VerifyBundleSignature(key *trust.PublicKey) error {
	s := r.m.Signature
	if s == nil {
		return fmt.Errorf("bundle %s is not signed: %w", shortID(r.m.ID), cas.ErrNotFound)
	}
	id, err := computeID(&r.m)
	if err != nil {
		return err
	}
	if id != r.m.ID {
		return fmt.Errorf("bundle %s: its image and blob lists hash to %s: the manifest was changed after it was signed: %w", shortID(r.m.ID), shortID(id), trust.ErrBadSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Value)
	if err != nil {
		return fmt.Errorf("bundle %s: signature is not base64 (%v): %w", shortID(r.m.ID), err, trust.ErrBadSignature)
	}
	if err := key.Verify([]byte(r.m.ID.String()), sig); err != nil {
		if s.KeyID != key.ID() {
			return fmt.Errorf("bundle %s: signed by key %s, not by the key given (%s): %w", shortID(r.m.ID), s.KeyID, key.ID(), err)
		}
		return fmt.Errorf("bundle %s: %w", shortID(r.m.ID), err)
	}
	return nil
}

// VerifySignatures checks, offline, the bundle's own signature (first:
// when it fails, nothing else is checked) and the cosign signatures each
// image carries among its referrers (a "sha256-HEX.sig" tag or a referrer
// of cosign's signature artifact type): an image with signatures needs one
// that verifies with opts.Key and names its digest; with
// opts.RequireSignature, an image without any is a problem too. The error
// is for failures to read at all.
func (r *Reader) VerifySignatures(ctx context.Context, opts SignatureOptions) (*SignatureReport, error) {
	if opts.Key == nil && opts.Certs == nil {
		return nil, fmt.Errorf("verify signatures: no key and no certificate policy given: %w", cas.ErrInvalid)
	}
	rep := &SignatureReport{Bundle: "unsigned", Images: []SignatureStatus{}}
	var verifiers []string
	if opts.Key != nil {
		rep.Key = opts.Key.ID()
		verifiers = append(verifiers, "key "+opts.Key.ID())
	}
	if opts.Certs != nil {
		rep.Identity = opts.Certs.Identity
		verifiers = append(verifiers, "a certificate of "+opts.Certs.Identity)
	}
	switch {
	case r.Signed() && opts.Key == nil:
		rep.Bundle = "not checked"
	case r.Signed():
		if err := r.VerifyBundleSignature(opts.Key); err != nil {
			rep.Bundle = "bad"
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemBundleSignature, Detail: err.Error() + ": the bundle is not the one its maker signed, or another key signed it; nothing in it is trusted"})
			return rep, nil
		}
		rep.Bundle = "verified"
	}
	by := strings.Join(verifiers, " or ")
	sigs := map[digest.Digest][]ImageEntry{} // subject -> its signature manifests
	for _, e := range r.m.Images {
		if e.IsReferrer() && isSignature(e) {
			sigs[e.Subject] = append(sigs[e.Subject], e)
		}
	}
	for _, img := range r.m.Images {
		if img.IsReferrer() {
			continue
		}
		st := SignatureStatus{Name: img.Name, Digest: img.Digest}
		var firstErr error
		seen := map[digest.Digest]bool{}
		for _, s := range sigs[img.Digest] {
			if seen[s.Digest] {
				continue // one manifest under two names
			}
			seen[s.Digest] = true
			n, ok, err := r.checkSignatureManifest(ctx, s, img.Digest, opts)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			st.Signatures += n
			st.Verified += ok
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		switch {
		case st.Verified > 0:
		case st.Signatures > 0 || firstErr != nil:
			detail := fmt.Sprintf("%d cosign signature(s), none verifies with %s", st.Signatures, by)
			if firstErr != nil {
				detail += ": " + firstErr.Error()
			}
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemBadSignature, Digest: img.Digest, Images: []string{img.Name}, Detail: detail})
		case opts.RequireSignature:
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemUnsigned, Digest: img.Digest, Images: []string{img.Name},
				Detail: "no cosign signature in the bundle (sign the image with cosign before making the bundle, and do not give --no-referrers)"})
		}
		rep.Images = append(rep.Images, st)
	}
	return rep, nil
}

// isSignature reports whether a referrer is a cosign signature manifest.
func isSignature(e ImageEntry) bool {
	if e.ArtifactType == trust.SignatureArtifactType {
		return true
	}
	d, ok := trust.SubjectOfTag(e.Tag())
	return ok && d == e.Subject && strings.HasSuffix(e.Tag(), ".sig")
}

// checkSignatureManifest reads the cosign signature manifest s and checks
// each of its signature layers against key and image. It returns the
// number of signature layers, the number that verified, and the first
// reason one did not.
func (r *Reader) checkSignatureManifest(ctx context.Context, s ImageEntry, image digest.Digest, opts SignatureOptions) (n, ok int, firstErr error) {
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	data, err := r.readBlob(ctx, s.Digest, oci.MaxManifestSize)
	if err != nil {
		return 0, 0, fmt.Errorf("signature manifest %s: %w", s.Name, err)
	}
	m, err := oci.ParseManifest(ocispec.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size}, data)
	if err != nil {
		return 0, 0, fmt.Errorf("signature manifest %s: %w", s.Name, err)
	}
	for _, l := range m.Layers {
		if l.MediaType != trust.SimpleSigningMediaType {
			continue
		}
		n++
		sig, has := l.Annotations[trust.SignatureAnnotation]
		if !has {
			fail(fmt.Errorf("layer %s of %s has no %s annotation: %w", l.Digest, s.Name, trust.SignatureAnnotation, trust.ErrBadSignature))
			continue
		}
		if l.Size > trust.MaxPayloadSize {
			fail(fmt.Errorf("payload %s of %s is %d bytes: %w", l.Digest, s.Name, l.Size, cas.ErrInvalid))
			continue
		}
		payload, err := r.readBlob(ctx, l.Digest, trust.MaxPayloadSize)
		if err != nil {
			fail(fmt.Errorf("payload %s of %s: %w", l.Digest, s.Name, err))
			continue
		}
		// A layer with a certificate is checked against the policy, one
		// without against the key; with both given, either may vouch.
		var errs []error
		if cert := l.Annotations[trust.CertificateAnnotation]; cert != "" && opts.Certs != nil {
			_, err := opts.Certs.VerifyImageSignature(cert, l.Annotations[trust.ChainAnnotation], payload, sig, image)
			errs = append(errs, err)
		}
		if opts.Key != nil {
			_, err := trust.VerifyImageSignature(opts.Key, payload, sig, image)
			errs = append(errs, err)
		}
		if slices.Contains(errs, nil) {
			ok++
			continue
		}
		if len(errs) == 0 {
			errs = append(errs, fmt.Errorf("made without a certificate, and no --key given: %w", trust.ErrBadSignature))
		}
		fail(fmt.Errorf("%s: %w", s.Name, errs[0]))
	}
	return n, ok, firstErr
}

// readBlob reads a blob the bundle holds, checked against its digest.
func (r *Reader) readBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	s, b, err := r.section(d)
	if err != nil {
		return nil, err
	}
	data, err := cas.FetchAll(ctx, readerFetcher{s}, b.desc(), limit)
	if errors.Is(err, cas.ErrDigestMismatch) {
		r.record(d, err)
	}
	return data, err
}
