package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/spf13/pflag"
)

// bundleTrustFlags are the signature flags of bundle verify, push and
// load: --key checks the bundle's own signature and the images' cosign
// signatures offline, before anything else is read or written;
// --require-signature refuses images without one.
type bundleTrustFlags struct {
	key     string
	require bool
}

func (f *bundleTrustFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.key, "key", "", "public key (cosign.pub, PEM) that must verify the bundle's signature, if signed, and each image's cosign signatures")
	fl.BoolVar(&f.require, "require-signature", false, "refuse images without a cosign signature that verifies with --key")
}

// bundleTrustRules is the help text of the flags.
const bundleTrustRules = `With --key cosign.pub, signatures are checked offline before anything else:
the bundle's own signature first (bundle create --sign-key), then each
image's cosign signatures, which the bundle carries along with the image:
an image that carries signatures needs one that verifies with the key and
names its digest. --require-signature also refuses images that carry none.`

// verify checks r's signatures when --key was given; nil report without
// it. A key that cannot be read is a usage error.
func (f *bundleTrustFlags) verify(ctx context.Context, r *bundle.Reader) (*bundle.SignatureReport, error) {
	if f.key == "" {
		if f.require {
			return nil, usageError{errors.New("--require-signature needs --key: the public key the signatures must verify with")}
		}
		return nil, nil
	}
	key, err := trust.LoadPublicKey(f.key)
	if err != nil {
		return nil, usageError{fmt.Errorf("--key: %w", err)}
	}
	return r.VerifySignatures(ctx, bundle.SignatureOptions{Key: key, RequireSignature: f.require})
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
	fmt.Fprintf(w, "signatures (key %s): bundle %s; %d of %s signed\n", rep.Key, rep.Bundle, signed, plural(len(rep.Images), "image"))
}

// signKeyPassword is the password of a cosign private key: COSIGN_PASSWORD,
// as cosign reads it.
func signKeyPassword() []byte { return []byte(os.Getenv("COSIGN_PASSWORD")) }
