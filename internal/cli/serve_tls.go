package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// certCheckInterval is how often, at most, the certificate files are
// looked at for a change: a handshake in that window reuses the pair in
// memory, so a burst of connections costs no stat.
const certCheckInterval = 2 * time.Second

// serveTLSFlags are gantry serve's TLS flags.
type serveTLSFlags struct {
	cert, key    string
	insecureHTTP bool
}

func addServeTLSFlags(fl *pflag.FlagSet, f *serveTLSFlags) {
	fl.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain), reloaded when the file changes; with --tls-key")
	fl.StringVar(&f.key, "tls-key", "", "PEM private key of --tls-cert, reloaded with it")
	fl.BoolVar(&f.insecureHTTP, "insecure-http", false, "serve plain HTTP on an address that is not loopback (without it, such an address needs --tls-cert and --tls-key)")
}

// check refuses half a key pair, and plain HTTP on an address other
// machines reach unless --insecure-http asked for it. addrs are the
// addresses served ("" for one not given).
func (f serveTLSFlags) check(addrs map[string]string) error {
	if (f.cert == "") != (f.key == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, the certificate and its private key")
	}
	if f.cert != "" {
		if f.insecureHTTP {
			return errors.New("--insecure-http asks for plain HTTP, --tls-cert for HTTPS: give one of them")
		}
		return nil
	}
	if f.insecureHTTP {
		return nil
	}
	for _, flag := range []string{"--addr", "--metrics-addr"} {
		addr := addrs[flag]
		if addr == "" || loopbackAddr(addr) {
			continue
		}
		return fmt.Errorf("%s %s is reachable from other machines: give --tls-cert and --tls-key to serve HTTPS there, or --insecure-http to serve plain HTTP anyway (anyone on the network can then read and alter what is pulled and pushed)", flag, addr)
	}
	return nil
}

// loopbackAddr reports whether HOST:PORT listens on loopback only: a
// loopback IP or localhost. An empty host (every interface) and other
// names are not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// serverTLS returns the TLS configuration of gantry serve's listeners, or
// nil for plain HTTP. The pair is read now, so a wrong file fails at start.
func (f serveTLSFlags) serverTLS(log *slog.Logger) (*tls.Config, error) {
	if f.cert == "" {
		return nil, nil
	}
	c := newCertReloader(f.cert, f.key, log, certCheckInterval)
	if err := c.start(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.getCertificate,
		// http.Server.ServeTLS adds "h2" and "http/1.1" to NextProtos.
	}, nil
}

// certReloader hands out a certificate pair read from files, read again
// when they change (fileReloader): certificate managers (cert-manager's
// Secret volumes, certbot's renewals) replace the files while the server
// runs. Connections open keep the pair they shook hands with; new ones get
// the new pair.
type certReloader struct {
	*fileReloader[*tls.Certificate]
}

func newCertReloader(certFile, keyFile string, log *slog.Logger, every time.Duration) certReloader {
	return certReloader{&fileReloader[*tls.Certificate]{
		flags: []string{"--tls-cert", "--tls-key"}, files: []string{certFile, keyFile},
		what: "TLS certificate pair", log: log, every: every,
		load: func() (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
			}
			return &cert, nil
		},
		reloaded: func(cert *tls.Certificate) {
			log.Info("TLS certificate reloaded", "cert", certFile, "serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter)
		},
	}}
}

// getCertificate implements tls.Config.GetCertificate.
func (c certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.get(), nil
}

// serveOn serves s on l, over TLS when s has a TLS configuration
// (serverTLS): ServeTLS also sets HTTP/2 up, which Serve over a TLS
// listener would not.
func serveOn(s *http.Server, l net.Listener) error {
	if s.TLSConfig != nil {
		return s.ServeTLS(l, "", "")
	}
	return s.Serve(l)
}
