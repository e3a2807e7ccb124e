package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
)

func TestServeTLSFlagsCheck(t *testing.T) {
	for _, tc := range []struct {
		name        string
		f           serveTLSFlags
		addr, maddr string
		want        string // "" for no error
	}{
		{"loopback plain", serveTLSFlags{}, "127.0.0.1:5000", "", ""},
		{"localhost plain", serveTLSFlags{}, "localhost:5000", "", ""},
		{"IPv6 loopback plain", serveTLSFlags{}, "[::1]:5000", "", ""},
		{"every interface plain", serveTLSFlags{}, "0.0.0.0:5000", "", "--addr 0.0.0.0:5000 is reachable from other machines: give --tls-cert and --tls-key"},
		{"empty host plain", serveTLSFlags{}, ":5000", "", "--addr :5000 is reachable"},
		{"a name plain", serveTLSFlags{}, "registry.local:5000", "", "--insecure-http"},
		{"metrics plain", serveTLSFlags{}, "127.0.0.1:5000", "0.0.0.0:9090", "--metrics-addr 0.0.0.0:9090 is reachable"},
		{"every interface asked for", serveTLSFlags{insecureHTTP: true}, "0.0.0.0:5000", "0.0.0.0:9090", ""},
		{"every interface TLS", serveTLSFlags{cert: "c", key: "k"}, "0.0.0.0:5000", "0.0.0.0:9090", ""},
		{"cert without key", serveTLSFlags{cert: "c"}, "127.0.0.1:5000", "", "--tls-cert and --tls-key go together"},
		{"key without cert", serveTLSFlags{key: "k"}, "127.0.0.1:5000", "", "--tls-cert and --tls-key go together"},
		{"TLS and plain", serveTLSFlags{cert: "c", key: "k", insecureHTTP: true}, "0.0.0.0:5000", "", "give one of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.check(map[string]string{"--addr": tc.addr, "--metrics-addr": tc.maddr})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("check = %q: want one line", err)
			}
		})
	}
}

// TestCertReloader replaces the pair on disk and checks that the next
// handshake gets the new certificate, that a broken pair keeps the old one
// in use with one error line however many handshakes come, and that a
// good pair after it is taken.
func TestCertReloader(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := ca.Issue(t, certFile, keyFile)
	var logs bytes.Buffer
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: slog.New(slog.NewTextHandler(&logs, nil)), every: 0}
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	serial := func() *big.Int {
		t.Helper()
		cert, err := c.getCertificate(nil)
		if err != nil || cert == nil {
			t.Fatalf("getCertificate: %v, %v", cert, err)
		}
		return cert.Leaf.SerialNumber
	}
	if got := serial(); got.Cmp(first) != 0 {
		t.Fatalf("serial %v, want %v", got, first)
	}
	second := ca.Issue(t, certFile, keyFile)
	if got := serial(); got.Cmp(second) != 0 {
		t.Fatalf("after replacing the files: serial %v, want %v", got, second)
	}

	// A key that does not go with the certificate: the old pair stays.
	keep, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca.Issue(t, filepath.Join(dir, "other.crt"), keyFile)
	for range 3 {
		if got := serial(); got.Cmp(second) != 0 {
			t.Fatalf("after a broken pair: serial %v, want %v still", got, second)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for one broken pair, want 1:\n%s", n, logs.String())
	}
	// The files removed: still the old pair, and one more line.
	os.Remove(keyFile)
	for range 3 {
		serial()
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 {
		t.Errorf("%d error lines, want 2 (one for the broken pair, one for the missing file):\n%s", n, logs.String())
	}
	if err := os.WriteFile(keyFile, keep, 0o600); err != nil {
		t.Fatal(err)
	}
	third := ca.Issue(t, certFile, keyFile)
	if got := serial(); got.Cmp(third) != 0 {
		t.Fatalf("after a good pair again: serial %v, want %v", got, third)
	}

	// Within the check interval, the files are not looked at.
	c.every = 1 << 62
	ca.Issue(t, certFile, keyFile)
	if got := serial(); got.Cmp(third) != 0 {
		t.Fatalf("within the interval: serial %v, want %v", got, third)
	}
}

// TestServeTLS runs gantry serve with a certificate and checks that a
// client that trusts the CA negotiates HTTP/2 over TLS 1.2 or later, on
// the registry and on --metrics-addr, and that plain HTTP is not served.
func TestServeTLS(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, certFile, keyFile)
	maddr := freeAddr(t)
	addr, logs, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir(), "--metrics-addr", maddr,
		"--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(logs.String(), "tls=true") {
		t.Errorf("the listening line does not say TLS:\n%s", logs)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, u := range []string{"https://" + addr + "/v2/", "https://" + maddr + "/healthz"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("GET %s: %s over %s, TLS %+v; want 200 over HTTP/2 and TLS 1.2+", u, resp.Status, resp.Proto, resp.TLS != nil)
		}
	}
	// TLS 1.1 is refused.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	defer old.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: old}).Get("https://" + addr + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.1 client was served")
	}
	if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP served next to TLS")
		}
	}
}

// TestServeTLSRefusals checks the start-up errors of the TLS flags: exit 2
// for the flags, exit 1 naming the file for a pair that does not load, and
// no store directory either way.
func TestServeTLSRefusals(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	root := filepath.Join(t.TempDir(), "never")
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent.crt")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"plain on every interface", []string{"serve", "--root", root, "--addr", "0.0.0.0:0"}, 2, "--addr 0.0.0.0:0 is reachable from other machines"},
		{"half a pair", []string{"serve", "--root", root, "--tls-cert", missing}, 2, "--tls-cert and --tls-key go together"},
		{"missing files", []string{"serve", "--root", root, "--tls-cert", missing, "--tls-key", missing}, 1, "absent.crt: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Main(context.Background(), tc.args, strings.NewReader(""), io.Discard, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("exit %d, %q; want %d and one line with %q", code, stderr.String(), tc.code, tc.want)
			}
			if _, err := os.Stat(root); err == nil {
				t.Errorf("the store directory was created")
			}
		})
	}
}
