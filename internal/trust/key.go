package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// ErrBadSignature is wrapped by every error saying that a signature does
// not verify with the key given: the content or the signature was changed,
// or another key signed it.
var ErrBadSignature = errors.New("signature does not verify")

// ErrBadKey is wrapped by the errors of key files that cannot be used: not
// PEM, an unknown key type, a wrong password.
var ErrBadKey = errors.New("unusable key")

// maxKeyFile bounds what is read of a key file.
const maxKeyFile = 1 << 20

// PublicKey verifies signatures.
type PublicKey struct {
	key crypto.PublicKey
	id  string
}

// ParsePublicKey reads a PEM "PUBLIC KEY" block (PKIX), as cosign.pub.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block: %w", ErrBadKey)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block %q, want PUBLIC KEY: %w", block.Type, ErrBadKey)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %v: %w", err, ErrBadKey)
	}
	return newPublicKey(k)
}

func newPublicKey(k crypto.PublicKey) (*PublicKey, error) {
	switch k.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("key type %T: want ECDSA, Ed25519 or RSA: %w", k, ErrBadKey)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("public key: %v: %w", err, ErrBadKey)
	}
	sum := sha256.Sum256(der)
	return &PublicKey{key: k, id: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// LoadPublicKey reads a public key file (ParsePublicKey).
func LoadPublicKey(path string) (*PublicKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("key %s: larger than %d bytes: %w", path, maxKeyFile, ErrBadKey)
	}
	return data, nil
}

// ID names the key: "sha256:" and the hex SHA-256 of its PKIX encoding.
// It is recorded next to a signature so that a verifier holding another
// key says so, rather than only that the signature does not verify.
func (k *PublicKey) ID() string { return k.id }

// Verify checks sig, made by the private half of k, over msg. Its error
// wraps ErrBadSignature when the signature is not k's over msg.
func (k *PublicKey) Verify(msg, sig []byte) error {
	ok := false
	switch pub := k.key.(type) {
	case *ecdsa.PublicKey:
		for _, h := range []crypto.Hash{curveHash(pub.Curve), crypto.SHA256} {
			if ecdsa.VerifyASN1(pub, digestOf(h, msg), sig) {
				ok = true
				break
			}
		}
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, msg, sig)
	case *rsa.PublicKey:
		d := digestOf(crypto.SHA256, msg)
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig) == nil ||
			rsa.VerifyPSS(pub, crypto.SHA256, d, sig, nil) == nil
	}
	if !ok {
		return fmt.Errorf("key %s: %w", shortKeyID(k.id), ErrBadSignature)
	}
	return nil
}

func shortKeyID(id string) string {
	if len(id) > 19 {
		return id[:19]
	}
	return id
}

// curveHash is the hash cosign pairs with an ECDSA curve.
func curveHash(c elliptic.Curve) crypto.Hash {
	switch c {
	case elliptic.P384():
		return crypto.SHA384
	case elliptic.P521():
		return crypto.SHA512
	}
	return crypto.SHA256
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(msg)
		return s[:]
	}
	s := sha256.Sum256(msg)
	return s[:]
}

// PrivateKey makes signatures.
type PrivateKey struct {
	key    crypto.Signer
	public *PublicKey
}

// encryptedKey is the JSON inside cosign's encrypted PEM block.
type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// ParsePrivateKey reads a private key: cosign's encrypted PEM block,
// opened with password, or a plain PKCS #8 "PRIVATE KEY" or SEC 1 "EC
// PRIVATE KEY" block (password unused).
func ParsePrivateKey(data, password []byte) (*PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block: %w", ErrBadKey)
	}
	var k any
	var err error
	switch block.Type {
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		der, derr := decrypt(block.Bytes, password)
		if derr != nil {
			return nil, derr
		}
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key gantry reads (cosign's, PKCS #8 or EC): %w", block.Type, ErrBadKey)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %v: %w", err, ErrBadKey)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T: %w", k, ErrBadKey)
	}
	pub, err := newPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &PrivateKey{key: s, public: pub}, nil
}

// decrypt opens cosign's encrypted key document.
func decrypt(doc, password []byte) ([]byte, error) {
	var ek encryptedKey
	if err := json.Unmarshal(doc, &ek); err != nil {
		return nil, fmt.Errorf("encrypted key: not cosign's JSON (%v): %w", err, ErrBadKey)
	}
	if ek.KDF.Name != "scrypt" || ek.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("encrypted key: kdf %q and cipher %q, want scrypt and nacl/secretbox: %w", ek.KDF.Name, ek.Cipher.Name, ErrBadKey)
	}
	p := ek.KDF.Params
	// Bound the work a hostile file can ask for: cosign uses N=2^15 or
	// 2^16, r=8, p=1.
	if p.N < 2 || p.N > 1<<20 || p.R < 1 || p.R > 32 || p.P < 1 || p.P > 16 {
		return nil, fmt.Errorf("encrypted key: scrypt parameters N=%d r=%d p=%d out of bounds: %w", p.N, p.R, p.P, ErrBadKey)
	}
	if len(ek.Cipher.Nonce) != 24 {
		return nil, fmt.Errorf("encrypted key: nonce of %d bytes, want 24: %w", len(ek.Cipher.Nonce), ErrBadKey)
	}
	dk, err := scrypt.Key(password, ek.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("encrypted key: %v: %w", err, ErrBadKey)
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], dk)
	copy(nonce[:], ek.Cipher.Nonce)
	der, ok := secretbox.Open(nil, ek.Ciphertext, &nonce, &key)
	if !ok {
		return nil, fmt.Errorf("encrypted key: wrong password (set COSIGN_PASSWORD): %w", ErrBadKey)
	}
	return der, nil
}

// LoadPrivateKey reads a private key file (ParsePrivateKey).
func LoadPrivateKey(path string, password []byte) (*PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

// Public returns the key that verifies k's signatures.
func (k *PrivateKey) Public() *PublicKey { return k.public }

// Sign signs msg as the package documentation says (cosign's choices for
// each key type).
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch priv := k.key.(type) {
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, priv, digestOf(curveHash(priv.Curve), msg))
	case ed25519.PrivateKey:
		sig = ed25519.Sign(priv, msg)
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digestOf(crypto.SHA256, msg))
	default:
		err = fmt.Errorf("key type %T: %w", k.key, ErrBadKey)
	}
	if err != nil {
		return nil, fmt.Errorf("sign with key %s: %w", shortKeyID(k.public.id), err)
	}
	return sig, nil
}

// DecodeSignature decodes a base64 signature as cosign writes them
// (standard encoding, padded).
func DecodeSignature(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signature is not base64 (%v): %w", err, ErrBadSignature)
	}
	return b, nil
}
