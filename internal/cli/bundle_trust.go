package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/spf13/pflag"
)

// bundleTrustFlags are the signature flags of bundle verify, push and
// load: --key checks the bundle's own signature and the images' cosign
// signatures offline, before anything else is read or written;
// --require-signature refuses images without one.
type bundleTrustFlags struct {
	key      string
	require  bool
	chain    string
	identity string
	issuer   string
}

func (f *bundleTrustFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.key, "key", "", "public key (cosign.pub, PEM) that must verify the bundle's signature, if signed, and each image's cosign signatures")
	fl.BoolVar(&f.require, "require-signature", false, "refuse images without a cosign signature that verifies with --key or the certificate flags")
	fl.StringVar(&f.chain, "certificate-chain", "", "PEM file of the CA certificates (root, intermediates) that signing certificates must chain to, for signatures made with a certificate")
	fl.StringVar(&f.identity, "certificate-identity", "", "identity (e-mail, URI) the signing certificate must name; with --certificate-chain")
	fl.StringVar(&f.issuer, "certificate-oidc-issuer", "", "OIDC issuer the signing certificate must name (default: any)")
}

// bundleTrustRules is the help text of the flags.
const bundleTrustRules = `With --key cosign.pub, signatures are checked offline before anything else:
the bundle's own signature first (bundle create --sign-key), then each
image's cosign signatures, which the bundle carries along with the image:
an image that carries signatures needs one that verifies with the key and
names its digest. --require-signature also refuses images that carry none.
Signatures made with a certificate (cosign sign --certificate, with one's
own CA) are checked with --certificate-chain CA.pem and
--certificate-identity (and --certificate-oidc-issuer): the certificate
must chain to those CAs, be valid now and name that identity. Keyless
signatures of the public Sigstore need its transparency log, which is not
checked offline yet.`

// verify checks r's signatures when --key was given; nil report without
// it. A key that cannot be read is a usage error.
func (f *bundleTrustFlags) verify(ctx context.Context, r *bundle.Reader) (*bundle.SignatureReport, error) {
	if (f.chain == "") != (f.identity == "") || (f.issuer != "" && f.chain == "") {
		return nil, usageError{errors.New("--certificate-chain and --certificate-identity go together (and --certificate-oidc-issuer with them)")}
	}
	if f.key == "" && f.chain == "" {
		if f.require {
			return nil, usageError{errors.New("--require-signature needs --key (or --certificate-chain and --certificate-identity): what the signatures must verify with")}
		}
		return nil, nil
	}
	opts := bundle.SignatureOptions{RequireSignature: f.require}
	var err error
	if f.key != "" {
		if opts.Key, err = trust.LoadPublicKey(f.key); err != nil {
			return nil, usageError{fmt.Errorf("--key: %w", err)}
		}
	}
	if f.chain != "" {
		if opts.Certs, err = trust.LoadCertPolicy(f.chain, f.identity, f.issuer); err != nil {
			return nil, usageError{fmt.Errorf("--certificate-chain: %w", err)}
		}
	}
	return r.VerifySignatures(ctx, opts)
}

// printSignatures says in one line what the signature check found.
func printSignatures(w io.Writer, r *bundle.Reader, rep *bundle.SignatureReport) {
	if rep == nil {
		if r.Signed() {
			fmt.Fprintf(w, "bundle signed by key %s (not checked: give --key)\n", r.Manifest().Signature.KeyID)
		}
		return
	}
	signed := 0
	for _, st := range rep.Images {
		if st.Verified > 0 {
			signed++
		}
	}
	var by []string
	if rep.Key != "" {
		by = append(by, "key "+rep.Key)
	}
	if rep.Identity != "" {
		by = append(by, "certificates of "+rep.Identity)
	}
	fmt.Fprintf(w, "signatures (%s): bundle %s; %d of %s signed\n", strings.Join(by, ", "), rep.Bundle, signed, plural(len(rep.Images), "image"))
}

// signKeyPassword is the password of a cosign private key: COSIGN_PASSWORD,
// as cosign reads it.
func signKeyPassword() []byte { return []byte(os.Getenv("COSIGN_PASSWORD")) }
