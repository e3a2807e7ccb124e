package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// leaf issues a code-signing certificate for a fresh key, naming email and,
// when issuer is set, the OIDC issuer (Fulcio's v2 extension, or v1 when
// v1 is set). It returns the certificate (PEM) and the key.
func (ca *testCA) leaf(t *testing.T, email, issuer string, v1 bool, notAfter time.Time) (string, *PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, EmailAddresses: []string{email},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if issuer != "" {
		if v1 {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV1, Value: []byte(issuer)})
		} else {
			v, _ := asn1.MarshalWithParams(issuer, "utf8")
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV2, Value: v})
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	priv, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), priv
}

func TestCertPolicy(t *testing.T) {
	root := newCA(t, "root", nil)
	inter := newCA(t, "intermediate", root)
	otherRoot := newCA(t, "other root", nil)
	image := digest.FromString("image")
	payload := []byte(fmt.Sprintf(`{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, image))
	sign := func(k *PrivateKey) string {
		s, err := k.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(s)
	}
	week := time.Now().Add(7 * 24 * time.Hour)
	good, goodKey := inter.leaf(t, "release@example.com", "https://issuer.example.com", false, week)
	goodV1, goodV1Key := inter.leaf(t, "release@example.com", "https://issuer.example.com", true, week)
	other, otherKey := inter.leaf(t, "intruder@example.com", "https://issuer.example.com", false, week)
	otherInter := newCA(t, "other intermediate", otherRoot)
	foreign, foreignKey := otherInter.leaf(t, "release@example.com", "https://issuer.example.com", false, week)
	expired, expiredKey := inter.leaf(t, "release@example.com", "https://issuer.example.com", false, time.Now().Add(-time.Minute))
	_, strangerKey := inter.leaf(t, "release@example.com", "", false, week)

	policy, err := ParseCertPolicy([]byte(root.pem), "release@example.com", "https://issuer.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		policy      *CertPolicy
		cert, chain string
		sig         string
		ok          bool
	}{
		{"good, intermediate in the signature's chain", policy, good, inter.pem, sign(goodKey), true},
		{"issuer in Fulcio's v1 extension", policy, goodV1, inter.pem, sign(goodV1Key), true},
		{"intermediate missing", policy, good, "", sign(goodKey), false},
		{"other identity", policy, other, inter.pem, sign(otherKey), false},
		{"other root", policy, foreign, otherInter.pem, sign(foreignKey), false},
		{"root smuggled in the chain", policy, foreign, otherInter.pem + otherRoot.pem, sign(foreignKey), false},
		{"expired", policy, expired, inter.pem, sign(expiredKey), false},
		{"signed by another key", policy, good, inter.pem, sign(strangerKey), false},
		{"other issuer", &CertPolicy{Roots: policy.Roots, Identity: "release@example.com", Issuer: "https://elsewhere"}, good, inter.pem, sign(goodKey), false},
		{"any issuer", &CertPolicy{Roots: policy.Roots, Identity: "release@example.com"}, good, inter.pem, sign(goodKey), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.policy.VerifyImageSignature(tc.cert, tc.chain, payload, tc.sig, image)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
		})
	}
	if _, err := policy.VerifyImageSignature(good, inter.pem, payload, sign(goodKey), digest.FromString("other")); err == nil {
		t.Fatal("a certificate signature of another image passed")
	}
	if _, err := ParseCertPolicy([]byte(inter.pem), "x", ""); err == nil || !strings.Contains(err.Error(), "no self-signed root") {
		t.Fatalf("chain without a root: %v", err)
	}
	if _, err := ParseCertPolicy([]byte(root.pem), "", ""); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no identity: %v", err)
	}
}
