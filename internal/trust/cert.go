package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// Annotations of a signature layer made with a certificate (cosign's
// keyless signing, or "cosign sign --certificate" with one's own PKI).
const (
	// CertificateAnnotation holds the signing certificate, PEM.
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	// ChainAnnotation holds the certificates between it and a root, PEM.
	ChainAnnotation = "dev.sigstore.cosign/chain"
)

// The certificate extensions Fulcio (and cosign's verifier) read the OIDC
// issuer from: v1 holds the issuer's bytes as they are, v2 a DER UTF8String.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// CertPolicy says which certificates may sign: those that chain to Roots
// (through the intermediates given here or carried by the signature), are
// for code signing, valid at the time of the check, and name Identity
// (and Issuer when set).
//
// The check uses the current time: certificates from the public Sigstore
// (Fulcio's last ten minutes) are then expired, and need the transparency
// log's timestamp, which this package does not check yet.
type CertPolicy struct {
	// Roots are the trust anchors.
	Roots *x509.CertPool
	// Intermediates may complete a chain.
	Intermediates *x509.CertPool
	// Identity must be one of the certificate's subject alternative names
	// (an e-mail address, a URI or a DNS name), exactly.
	Identity string
	// Issuer, if set, must be the OIDC issuer the certificate names
	// (Fulcio's extension 1.3.6.1.4.1.57264.1.8 or .1.1).
	Issuer string
	// Now, if set, replaces time.Now.
	Now func() time.Time
}

// ParseCertPolicy makes a policy from a PEM file of CA certificates (the
// self-signed ones are the roots, the others intermediates), an identity
// and an optional issuer.
func ParseCertPolicy(chainPEM []byte, identity, issuer string) (*CertPolicy, error) {
	if identity == "" {
		return nil, fmt.Errorf("a certificate identity is required: %w", ErrBadKey)
	}
	certs, err := parseCerts(chainPEM)
	if err != nil {
		return nil, err
	}
	p := &CertPolicy{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), Identity: identity, Issuer: issuer}
	roots := 0
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			p.Roots.AddCert(c)
			roots++
		} else {
			p.Intermediates.AddCert(c)
		}
	}
	if roots == 0 {
		return nil, fmt.Errorf("certificate chain has no self-signed root: %w", ErrBadKey)
	}
	return p, nil
}

// LoadCertPolicy reads the CA certificates of ParseCertPolicy from a file.
func LoadCertPolicy(chainFile, identity, issuer string) (*CertPolicy, error) {
	data, err := readKeyFile(chainFile)
	if err != nil {
		return nil, err
	}
	p, err := ParseCertPolicy(data, identity, issuer)
	if err != nil {
		return nil, fmt.Errorf("certificates %s: %w", chainFile, err)
	}
	return p, nil
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %v: %w", err, ErrBadKey)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate: %w", ErrBadKey)
	}
	return out, nil
}

// issuerOf returns the OIDC issuer a certificate names, or "".
func issuerOf(c *x509.Certificate) string {
	v1 := ""
	for _, e := range c.Extensions {
		switch {
		case e.Id.Equal(oidIssuerV2):
			var s string
			if rest, err := asn1.UnmarshalWithParams(e.Value, &s, "utf8"); err == nil && len(rest) == 0 {
				return s
			}
		case e.Id.Equal(oidIssuerV1):
			v1 = string(e.Value)
		}
	}
	return v1
}

// identities returns the certificate's subject alternative names.
func identities(c *x509.Certificate) []string {
	ids := append([]string(nil), c.EmailAddresses...)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	return append(ids, c.DNSNames...)
}

// VerifyImageSignature checks one cosign signature layer made with a
// certificate: certPEM (the layer's CertificateAnnotation) must chain to
// the policy's roots (chainPEM, the ChainAnnotation, may supply
// intermediates, never roots), be valid now for code signing, and name
// the policy's identity and issuer; then sigB64 must be the certificate
// key's signature of payload, and the payload must name image. An error
// wraps ErrBadSignature for a certificate or signature that does not
// satisfy the policy.
func (p *CertPolicy) VerifyImageSignature(certPEM, chainPEM string, payload []byte, sigB64 string, image digest.Digest) (*Payload, error) {
	certs, err := parseCerts([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w: %w", err, ErrBadSignature)
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	if p.Intermediates != nil {
		inter = p.Intermediates.Clone()
	}
	if chainPEM != "" {
		chain, err := parseCerts([]byte(chainPEM))
		if err != nil {
			return nil, fmt.Errorf("certificate chain: %w: %w", err, ErrBadSignature)
		}
		for _, c := range chain {
			inter.AddCert(c) // only as intermediates: the roots are the policy's
		}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.Roots, Intermediates: inter, CurrentTime: now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return nil, fmt.Errorf("signing certificate of %v: %v: %w", identities(leaf), err, ErrBadSignature)
	}
	if ids := identities(leaf); !slices.Contains(ids, p.Identity) {
		return nil, fmt.Errorf("signing certificate names %v, not %s: %w", ids, p.Identity, ErrBadSignature)
	}
	if p.Issuer != "" {
		if got := issuerOf(leaf); got != p.Issuer {
			return nil, fmt.Errorf("signing certificate of %s was issued for OIDC issuer %q, not %q: %w", p.Identity, got, p.Issuer, ErrBadSignature)
		}
	}
	key, err := newPublicKey(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w: %w", err, ErrBadSignature)
	}
	return VerifyImageSignature(key, payload, sigB64, image)
}
