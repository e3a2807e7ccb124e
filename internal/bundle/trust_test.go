package bundle

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newSigningKey(t testing.TB) *trust.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := trust.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pushJSON(t testing.TB, r cas.Target, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return pushBytes(t, r, mediaType, b)
}

func pushBytes(t testing.TB, r cas.Target, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := r.Push(context.Background(), d, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
		t.Fatal(err)
	}
	return d
}

// cosignSign stores a signature of image in r as "cosign sign --key" does
// with its default tag scheme: an image manifest under sha256-HEX.sig whose
// layer is the simple signing payload naming payloadFor, signed by key
// (tamper, if set, changes the signature before it is stored).
func cosignSign(t testing.TB, r cas.Target, image, payloadFor digest.Digest, key *trust.PrivateKey, tamper func([]byte)) {
	t.Helper()
	payload := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, payloadFor)
	sig, err := key.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(sig)
	}
	layer := pushBytes(t, r, trust.SimpleSigningMediaType, []byte(payload))
	layer.Annotations = map[string]string{trust.SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	config := pushJSON(t, r, ocispec.MediaTypeImageConfig, map[string]any{"architecture": "", "os": "", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer.Digest.String()}}})
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	md := pushJSON(t, r, ocispec.MediaTypeImageManifest, m)
	if err := r.Tag(context.Background(), md, trust.SignatureTag(image)); err != nil {
		t.Fatal(err)
	}
}

// attachSBOM stores an SBOM artifact whose subject is image and indexes it
// as a registry does when it is pushed.
func attachSBOM(t testing.TB, r cas.Target, image ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	layer := pushBytes(t, r, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`))
	empty := pushBytes(t, r, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/spdx+json", Config: empty, Layers: []ocispec.Descriptor{layer}, Subject: &image}
	m.SchemaVersion = 2
	md := pushJSON(t, r, ocispec.MediaTypeImageManifest, m)
	md.ArtifactType = m.ArtifactType
	if err := r.(cas.ReferrerIndex).AddReferrer(context.Background(), image.Digest, md); err != nil {
		t.Fatal(err)
	}
	return md
}

func TestCreateCarriesReferrers(t *testing.T) {
	_, images, imgs := fleet(t, 2, 1, 1000, 500)
	key := newSigningKey(t)
	subject := imgs[0].ManifestDesc
	cosignSign(t, images[0].Source.(cas.Target), subject.Digest, subject.Digest, key, nil)
	sbom := attachSBOM(t, images[0].Source.(cas.Target), subject)
	// A signature of the SBOM: a referrer of a referrer.
	cosignSign(t, images[0].Source.(cas.Target), sbom.Digest, sbom.Digest, key, nil)

	out, rep := create(t, images, CreateOptions{})
	var got []string
	for _, e := range rep.Manifest.Images {
		if e.IsReferrer() {
			got = append(got, e.Name+" -> "+e.Subject.Encoded()[:8]+" "+e.ArtifactType)
		}
	}
	repo := "registry.example.com/team/app0"
	want := []string{
		repo + "@" + sbom.Digest.String() + " -> " + subject.Digest.Encoded()[:8] + " application/spdx+json",
		repo + ":" + trust.SignatureTag(subject.Digest) + " -> " + subject.Digest.Encoded()[:8] + " ",
		repo + ":" + trust.SignatureTag(sbom.Digest) + " -> " + sbom.Digest.Encoded()[:8] + " ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("referrers bundled:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r := open(t, out)
	if vr := verify(t, r); !vr.OK() {
		t.Fatalf("Verify: %v", vr.Problems)
	}
	sr, err := r.VerifySignatures(t.Context(), SignatureOptions{Key: key.Public()})
	if err != nil || !sr.OK() || sr.Images[0].Verified != 1 || sr.Images[1].Signatures != 0 {
		t.Fatalf("VerifySignatures = %+v, %v", sr, err)
	}
	// index.json lists referrers without a name, so tools that import
	// every named image do not take them for images.
	rr, err := r.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Resolve(t.Context(), trust.SignatureTag(subject.Digest)); err != nil {
		t.Fatalf("the bundle does not serve the signature tag: %v", err)
	}
	// The referrers API lists the SBOM (its manifest names the subject),
	// not the tag-scheme signature (its manifest does not).
	list, err := rr.(cas.ReferrerLister).Referrers(t.Context(), subject.Digest)
	if err != nil || len(list) != 1 || list[0].Digest != sbom.Digest || list[0].ArtifactType != "application/spdx+json" {
		t.Fatalf("Referrers(%s) = %+v, %v; want the SBOM", subject.Digest, list, err)
	}
	if list, err := rr.(cas.ReferrerLister).Referrers(t.Context(), sbom.Digest); err != nil || len(list) != 0 {
		t.Fatalf("Referrers of the SBOM = %+v, %v; want none (its signature is a tag)", list, err)
	}

	_, rep = create(t, images, CreateOptions{NoReferrers: true})
	if n := len(rep.Manifest.Images); n != 2 {
		t.Fatalf("--no-referrers: %d entries, want the 2 images", n)
	}
}

func TestVerifySignatures(t *testing.T) {
	key, other := newSigningKey(t), newSigningKey(t)
	for _, tc := range []struct {
		name    string
		sign    func(r cas.Target, img, other digest.Digest)
		require bool
		want    ProblemKind // "" for none
	}{
		{"signed", func(r cas.Target, img, _ digest.Digest) { cosignSign(t, r, img, img, key, nil) }, true, ""},
		{"unsigned, not required", func(cas.Target, digest.Digest, digest.Digest) {}, false, ""},
		{"unsigned, required", func(cas.Target, digest.Digest, digest.Digest) {}, true, ProblemUnsigned},
		{"other key", func(r cas.Target, img, _ digest.Digest) { cosignSign(t, r, img, img, other, nil) }, false, ProblemBadSignature},
		{"tampered signature", func(r cas.Target, img, _ digest.Digest) {
			cosignSign(t, r, img, img, key, func(sig []byte) { sig[len(sig)-2] ^= 1 })
		}, false, ProblemBadSignature},
		{"signature of another image", func(r cas.Target, img, o digest.Digest) { cosignSign(t, r, img, o, key, nil) }, false, ProblemBadSignature},
		{"signed again with the right key", func(r cas.Target, img, _ digest.Digest) {
			cosignSign(t, r, img, img, other, nil) // the tag moves to the second signature
			cosignSign(t, r, img, img, key, nil)
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, images, imgs := fleet(t, 2, 1, 1000, 500)
			tc.sign(images[0].Source.(cas.Target), imgs[0].ManifestDesc.Digest, imgs[1].ManifestDesc.Digest)
			out, _ := create(t, images[:1], CreateOptions{})
			r := open(t, out)
			rep, err := r.VerifySignatures(t.Context(), SignatureOptions{Key: key.Public(), RequireSignature: tc.require})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []ProblemKind
			for _, p := range rep.Problems {
				kinds = append(kinds, p.Kind)
			}
			if (tc.want == "" && len(kinds) > 0) || (tc.want != "" && (len(kinds) != 1 || kinds[0] != tc.want)) {
				t.Fatalf("problems %v (%v), want %q", kinds, rep.Problems, tc.want)
			}
		})
	}
}

func TestBundleSignature(t *testing.T) {
	_, images, _ := fleet(t, 2, 1, 1000, 500)
	key, other := newSigningKey(t), newSigningKey(t)
	out, rep := create(t, images, CreateOptions{SignKey: key})
	if rep.Manifest.Signature == nil || rep.Manifest.Signature.KeyID != key.Public().ID() {
		t.Fatalf("signature = %+v", rep.Manifest.Signature)
	}
	r := open(t, out)
	if err := r.VerifyBundleSignature(key.Public()); err != nil {
		t.Fatalf("VerifyBundleSignature: %v", err)
	}
	// The signature is over the ID's bytes: what cosign sign-blob signs
	// of a file holding the ID.
	sig, _ := base64.StdEncoding.DecodeString(rep.Manifest.Signature.Value)
	if err := key.Public().Verify([]byte(rep.Manifest.ID.String()), sig); err != nil {
		t.Fatalf("signature is not over the ID: %v", err)
	}
	if err := r.VerifyBundleSignature(other.Public()); !errors.Is(err, trust.ErrBadSignature) || !strings.Contains(err.Error(), "signed by key") {
		t.Fatalf("other key: %v", err)
	}
	sr, err := r.VerifySignatures(t.Context(), SignatureOptions{Key: other.Public(), RequireSignature: true})
	if err != nil || sr.Bundle != "bad" || len(sr.Problems) != 1 || sr.Problems[0].Kind != ProblemBundleSignature {
		t.Fatalf("VerifySignatures with another key = %+v, %v; want only the bundle's signature refused", sr, err)
	}

	t.Run("manifest changed after signing", func(t *testing.T) {
		r := open(t, out)
		r.m.Images[0].Name = "registry.example.com/evil/app:v1"
		if err := r.VerifyBundleSignature(key.Public()); !errors.Is(err, trust.ErrBadSignature) || !strings.Contains(err.Error(), "changed after it was signed") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		out, _ := create(t, images, CreateOptions{})
		r := open(t, out)
		if err := r.VerifyBundleSignature(key.Public()); !errors.Is(err, cas.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		sr, err := r.VerifySignatures(t.Context(), SignatureOptions{Key: key.Public()})
		if err != nil || sr.Bundle != "unsigned" || !sr.OK() {
			t.Fatalf("VerifySignatures = %+v, %v", sr, err)
		}
	})
}
