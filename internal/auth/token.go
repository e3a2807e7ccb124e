package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// randReader is the source of keys and secrets; tests keep crypto/rand.
var randReader = rand.Reader

// issuer is the iss claim of gantry's tokens.
const issuer = "gantry"

// Token kinds, the typ claim: an access token goes with requests, a
// refresh token only to the token endpoint.
const (
	kindAccess  = "access"
	kindRefresh = "refresh"
)

// claims are a token's contents: who (sub, "" for anonymous), for which
// service (aud), until when (exp), and the access granted, in the shape of
// Distribution's tokens.
type claims struct {
	jwt.RegisteredClaims
	Kind   string  `json:"typ,omitempty"`
	Access []Scope `json:"access"`
}

// signer signs and checks tokens with one Ed25519 key.
type signer struct {
	key     ed25519.PrivateKey
	service string
}

// LoadKey reads an Ed25519 private key from a PEM file (PKCS #8, as
// `openssl genpkey -algorithm ed25519` writes it), for replicas that must
// accept each other's tokens.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("token key %s: no PEM block (want a PKCS #8 Ed25519 private key: openssl genpkey -algorithm ed25519)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token key %s: a %T, want an Ed25519 key", path, k)
	}
	return ek, nil
}

// GenerateKey returns a new Ed25519 private key, for a single server whose
// tokens need not outlive it.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(randReader)
	if err != nil {
		return nil, fmt.Errorf("generate token key: %w", err)
	}
	return k, nil
}

// sign returns a signed token.
func (s *signer) sign(subject, kind string, access []Scope, now time.Time, ttl time.Duration) (string, error) {
	if access == nil {
		access = []Scope{}
	}
	id := make([]byte, 12)
	if _, err := randReader.Read(id); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{s.service},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        fmt.Sprintf("%x", id),
		},
		Kind:   kind,
		Access: access,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// errTokenExpired and errTokenInvalid are the two ways a token fails.
var (
	errTokenExpired = errors.New("the token has expired")
	errTokenInvalid = errors.New("the token is not valid")
)

// verify checks a token's signature, issuer, audience, times and kind.
func (s *signer) verify(tok, kind string, now time.Time) (*claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) {
		return s.key.Public(), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(s.service),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errTokenExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errTokenInvalid, err)
	case c.Kind != kind:
		return nil, fmt.Errorf("%w: a %s token where an %s token is wanted", errTokenInvalid, c.Kind, kind)
	}
	return &c, nil
}

// tokenCache remembers the tokens verified recently, so that a client
// sending one token with every request pays the signature check once: an
// Ed25519 verification and the JWT decoding cost more than the rest of a
// manifest HEAD. A token is kept until it expires; the cache is bounded,
// and when full forgets the expired tokens and then an arbitrary half.
type tokenCache struct {
	max int

	mu sync.Mutex
	m  map[[32]byte]*claims
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: map[[32]byte]*claims{}}
}

func (c *tokenCache) get(tok string, now time.Time) (*claims, bool) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(cl.ExpiresAt.Time) {
		delete(c.m, k)
		return nil, false
	}
	return cl, true
}

func (c *tokenCache) put(tok string, cl *claims, now time.Time) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.ExpiresAt.Time) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = cl
}
