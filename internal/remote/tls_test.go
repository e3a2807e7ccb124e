package remote

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// serveTLS runs h over TLS on loopback with a certificate of ca and
// returns its HOST:PORT.
func serveTLS(t *testing.T, h http.Handler, ca *testenv.CA) string {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, certFile, keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestCAFile checks that a registry whose certificate a private CA signed
// is reached over verified HTTPS with Options.CAFile, on loopback as
// elsewhere, and refused with a certificate error without it; a plain-HTTP
// loopback registry is still reached over plain HTTP.
func TestCAFile(t *testing.T) {
	ca := testenv.NewCA(t)
	tlsHost := serveTLS(t, newGGCR(), ca)
	plainHost := serve(t, newGGCR())
	none := filepath.Join(t.TempDir(), "none.json")
	for _, tc := range []struct {
		name       string
		host       string
		opts       Options
		wantScheme string // "" for a refusal
	}{
		{"TLS with the CA file", tlsHost, Options{CAFile: ca.CertFile}, "https"},
		{"TLS without the CA file", tlsHost, Options{}, ""},
		{"TLS with Insecure", tlsHost, Options{Insecure: true}, "https"},
		{"plain HTTP on loopback", plainHost, Options{}, "http"},
		{"plain HTTP on loopback with a CA file", plainHost, Options{CAFile: ca.CertFile}, "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.DockerConfig = none
			reg, err := New(tc.host, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			repo, err := reg.Repository(t.Context(), "tls/test")
			if err != nil {
				t.Fatal(err)
			}
			b, desc := castest.Blob(t, 1000)
			err = repo.Push(t.Context(), desc, bytes.NewReader(b))
			if tc.wantScheme == "" {
				var verify *tls.CertificateVerificationError
				if !errors.As(err, &verify) {
					t.Fatalf("Push = %v, want a certificate verification error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if got, err := cas.FetchAll(t.Context(), repo, desc, 0); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("FetchAll: %d bytes, %v", len(got), err)
			}
			if reg.scheme != tc.wantScheme {
				t.Errorf("scheme = %q, want %q", reg.scheme, tc.wantScheme)
			}
		})
	}
}

func TestCAPoolRejects(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "tls.key")
	ca.Issue(t, filepath.Join(dir, "tls.crt"), keyFile)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "absent.pem"), "no such file"},
		{"empty", write("empty.pem", ""), "no PEM certificate"},
		{"a key", keyFile, "PRIVATE KEY (a key, not the CA's certificate)"},
		{"garbage in a block", write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "certificate 1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("registry.example.com", Options{CAFile: tc.path})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("New with CAFile %s = %v, want an error naming the file and %q", tc.path, err, tc.want)
			}
		})
	}
	// Comments around the blocks, as public bundles carry, are fine.
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CAPool(write("commented.pem", "# gantry test CA\n"+string(pem)+"\n# end\n")); err != nil {
		t.Fatalf("CAPool with comments: %v", err)
	}
}

// FuzzParseCAs checks that no input makes the CA parser panic, and that it
// either returns certificates or an error wrapping cas.ErrInvalid.
func FuzzParseCAs(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := parseCAs(data)
		if err != nil {
			if !errors.Is(err, cas.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
	})
}
