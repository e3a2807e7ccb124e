package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
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
	c := &certReloader{certFile: f.cert, keyFile: f.key, log: log, every: certCheckInterval}
	if err := c.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.getCertificate,
		// http.Server.ServeTLS adds "h2" and "http/1.1" to NextProtos.
	}, nil
}

// certReloader hands out a certificate pair read from files, and reads the
// files again when they changed (another file renamed over them, or a new
// modification time or size), looking at most every interval: certificate managers (cert-manager's Secret
// volumes, certbot's renewals) replace the files while the server runs.
// Connections open keep the pair they shook hands with; new ones get the
// new pair. A new pair that does not load (a key that does not match, a
// file half written) keeps the old one in use and is logged once.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  [2]fileStamp // of the pair in use
	failed  [2]fileStamp // of the last pair that did not load
	checked time.Time
	// statFailed says an unreadable file was logged already.
	statFailed bool
}

// fileStamp is what tells a changed file: the file itself (a file renamed
// over the old one, as certificate managers and Kubernetes' Secret volumes
// replace them, is another file even when written in the same clock tick
// with the same size), its modification time and its size.
type fileStamp struct{ info os.FileInfo }

func stamp(path string) (fileStamp, error) {
	st, err := os.Stat(path) // through symlinks, as Kubernetes swaps them
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st}, nil
}

func (a fileStamp) same(b fileStamp) bool {
	return a.info != nil && b.info != nil && os.SameFile(a.info, b.info) &&
		a.info.ModTime().Equal(b.info.ModTime()) && a.info.Size() == b.info.Size()
}

// samePair reports whether two pairs of stamps are of the same files.
func samePair(a, b [2]fileStamp) bool { return a[0].same(b[0]) && a[1].same(b[1]) }

// load reads the pair, for the start: an error names the files.
func (c *certReloader) load() error {
	stamps, err := c.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.loaded, c.checked = &cert, stamps, time.Now()
	return nil
}

func (c *certReloader) stamps() ([2]fileStamp, error) {
	cs, err := stamp(c.certFile)
	if err != nil {
		return [2]fileStamp{}, fmt.Errorf("--tls-cert: %w", err)
	}
	ks, err := stamp(c.keyFile)
	if err != nil {
		return [2]fileStamp{}, fmt.Errorf("--tls-key: %w", err)
	}
	return [2]fileStamp{cs, ks}, nil
}

// getCertificate implements tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < c.every {
		return c.cert, nil
	}
	c.checked = time.Now()
	stamps, err := c.stamps()
	if err != nil {
		if !c.statFailed {
			c.log.Error("TLS certificate files unreadable; serving the pair loaded before", "err", err)
			c.statFailed = true
		}
		return c.cert, nil
	}
	c.statFailed = false
	if samePair(stamps, c.loaded) || samePair(stamps, c.failed) {
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("new TLS certificate pair does not load; serving the pair loaded before", "cert", c.certFile, "key", c.keyFile, "err", err)
		c.failed = stamps
		return c.cert, nil
	}
	c.cert, c.loaded, c.failed = &cert, stamps, [2]fileStamp{}
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter)
	return c.cert, nil
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
