package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
)

// signedDigest is the image testdata/payload.json names.
const signedDigest = digest.Digest("sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCosignFixture checks a signature "cosign sign-blob --key" made over a
// simple signing payload, with the key pair "cosign generate-key-pair"
// wrote (empty password): the formats are cosign's own, not ours.
func TestCosignFixture(t *testing.T) {
	pub, err := LoadPublicKey("testdata/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	payload := readFile(t, "payload.json")
	sig := strings.TrimSpace(string(readFile(t, "payload.json.sig")))
	p, err := VerifyImageSignature(pub, payload, sig, signedDigest)
	if err != nil {
		t.Fatalf("VerifyImageSignature: %v", err)
	}
	if p.Critical.Identity.DockerReference != "127.0.0.1:5000/team/app" {
		t.Errorf("docker-reference = %q", p.Critical.Identity.DockerReference)
	}

	t.Run("cosign private key", func(t *testing.T) {
		priv, err := LoadPrivateKey("testdata/cosign.key", nil)
		if err != nil {
			t.Fatal(err)
		}
		if priv.Public().ID() != pub.ID() {
			t.Fatalf("private key's public half %s, cosign.pub %s", priv.Public().ID(), pub.ID())
		}
		s, err := priv.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyImageSignature(pub, payload, base64.StdEncoding.EncodeToString(s), signedDigest); err != nil {
			t.Fatalf("our signature with cosign's key: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := LoadPrivateKey("testdata/cosign.key", []byte("nope"))
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "wrong password") {
			t.Fatalf("err = %v, want a wrong password", err)
		}
	})
}

func TestVerifyImageSignatureRefuses(t *testing.T) {
	pub, err := LoadPublicKey("testdata/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	payload := readFile(t, "payload.json")
	sig := strings.TrimSpace(string(readFile(t, "payload.json.sig")))
	other := newKey(t, "ecdsa")
	otherPayload := []byte(strings.Replace(string(payload), "6c3c", "7d3c", 1))
	otherSig, err := other.Sign(otherPayload)
	if err != nil {
		t.Fatal(err)
	}
	rawSig, _ := base64.StdEncoding.DecodeString(sig)
	rawSig[len(rawSig)-3] ^= 1
	for _, tc := range []struct {
		name    string
		key     *PublicKey
		payload []byte
		sig     string
		image   digest.Digest
		want    error
	}{
		{"bad key", other.Public(), payload, sig, signedDigest, ErrBadSignature},
		{"payload changed", pub, []byte(strings.Replace(string(payload), "team/app", "team/evil", 1)), sig, signedDigest, ErrBadSignature},
		{"signature changed", pub, payload, base64.StdEncoding.EncodeToString(rawSig), signedDigest, ErrBadSignature},
		{"signature not base64", pub, payload, "@@@", signedDigest, ErrBadSignature},
		{"empty signature", pub, payload, "", signedDigest, ErrBadSignature},
		{"wrong payload digest", pub, payload, sig, digest.FromString("another image"), cas.ErrInvalid},
		{"signed payload of another image", other.Public(), otherPayload, base64.StdEncoding.EncodeToString(otherSig), signedDigest, cas.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyImageSignature(tc.key, tc.payload, tc.sig, tc.image)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// newKey makes a private key of kind ecdsa, ecdsa384, ed25519 or rsa, read
// back from PEM as a user's file would be.
func newKey(t *testing.T, kind string) *PrivateKey {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestSignVerifyKeyTypes(t *testing.T) {
	msg := []byte("sha256:0123")
	for _, kind := range []string{"ecdsa", "ecdsa384", "ed25519", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			priv := newKey(t, kind)
			der, err := x509.MarshalPKIXPublicKey(priv.Public().key)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := priv.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Verify(msg, sig); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := pub.Verify([]byte("sha256:0124"), sig); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify of another message: %v", err)
			}
		})
	}
}

func TestParseKeyRefuses(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"not PEM", "hello"},
		{"private key as public", string(readFile(t, "cosign.key"))},
		{"garbage public", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePublicKey([]byte(tc.data)); !errors.Is(err, ErrBadKey) {
				t.Fatalf("err = %v, want ErrBadKey", err)
			}
		})
	}
	if _, err := ParsePrivateKey(readFile(t, "cosign.pub"), nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("public key as private: %v", err)
	}
	bad := "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" +
		base64.StdEncoding.EncodeToString([]byte(`{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AA=="},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AA=="}`)) +
		"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
	if _, err := ParsePrivateKey([]byte(bad), nil); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("hostile scrypt parameters: %v", err)
	}
}

func TestSubjectOfTag(t *testing.T) {
	d := digest.FromString("x")
	for _, sfx := range TagSuffixes {
		got, ok := SubjectOfTag(TagPrefix(d) + sfx)
		if !ok || got != d {
			t.Errorf("SubjectOfTag(%s) = %s, %v", TagPrefix(d)+sfx, got, ok)
		}
	}
	for _, tag := range []string{"latest", "sha256-abc.sig", "sha256-" + d.Encoded() + ".txt", ".sig", "sha256.sig"} {
		if _, ok := SubjectOfTag(tag); ok {
			t.Errorf("SubjectOfTag(%q) accepted", tag)
		}
	}
}

// FuzzParsePayload: any bytes give a payload or an error wrapping
// cas.ErrInvalid, never a panic, and an accepted payload names a valid
// digest. Seeds in testdata/fuzz/FuzzParsePayload.
func FuzzParsePayload(f *testing.F) {
	f.Add(readFile(f, "payload.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePayload(data)
		if err != nil {
			if !errors.Is(err, cas.ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		if cas.ValidateDigest(p.Critical.Image.DockerManifestDigest) != nil {
			t.Fatalf("accepted payload with digest %q", p.Critical.Image.DockerManifestDigest)
		}
	})
}
