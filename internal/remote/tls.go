package remote

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
)

// maxCAFileBytes bounds a CA file: a bundle of every public root is about
// 220 KiB, so a file much larger than that is not a CA file.
const maxCAFileBytes = 16 << 20

// ClientTLS returns the TLS configuration of a client that trusts the
// system's roots plus the CA certificates of caFile (PEM, one or more; ""
// for none), with TLS 1.2 at least. insecure skips certificate
// verification altogether. It returns nil when neither is asked for: the
// transport's own default, the system's roots, is then used.
func ClientTLS(caFile string, insecure bool) (*tls.Config, error) {
	if caFile == "" && !insecure {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		conf.InsecureSkipVerify = true //nolint:gosec // asked for with --insecure
	}
	if caFile == "" {
		return conf, nil
	}
	pool, err := CAPool(caFile)
	if err != nil {
		return nil, err
	}
	conf.RootCAs = pool
	return conf, nil
}

// CAPool returns the system's trust store with the certificates of the PEM
// file at path added. A file that holds no certificate, or anything but
// certificates (a private key given by mistake), is an error naming the
// file: a CA file that silently adds nothing would surface later as a
// certificate that does not verify.
func CAPool(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	if len(data) > maxCAFileBytes {
		return nil, fmt.Errorf("CA file %s: more than %d bytes, more than a CA file holds: %w", path, maxCAFileBytes, cas.ErrInvalid)
	}
	certs, err := parseCAs(data)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool() // no system store (a scratch image): the file alone
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCAs reads the certificates of a PEM file. Text around the blocks
// (the comments some bundles carry) is allowed; a block that is not a
// certificate, a certificate that does not parse, and a file without any
// certificate are errors wrapping cas.ErrInvalid.
func parseCAs(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			what := "a " + b.Type
			if strings.Contains(b.Type, "PRIVATE KEY") {
				what += " (a key, not the CA's certificate)"
			}
			return nil, fmt.Errorf("PEM block %d is %s; want CERTIFICATE blocks only: %w", n, what, cas.ErrInvalid)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v: %w", n, err, cas.ErrInvalid)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate (-----BEGIN CERTIFICATE-----) found: %w", cas.ErrInvalid)
	}
	return certs, nil
}
