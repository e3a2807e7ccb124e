package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// tlsServer is a gantry serve over TLS with a certificate of a test CA.
type tlsServer struct {
	*server
	ca                *testenv.CA
	certFile, keyFile string
}

func startTLSServer(t *testing.T, extra ...string) *tlsServer {
	t.Helper()
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	s := &tlsServer{ca: ca, certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	ca.Issue(t, s.certFile, s.keyFile)
	s.server = startServer(t, t.TempDir(), append([]string{"--tls-cert", s.certFile, "--tls-key", s.keyFile}, extra...)...)
	return s
}

// client returns an HTTP client that trusts the test CA only; each
// request opens a new connection unless keepAlive.
func (s *tlsServer) client(keepAlive bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: !keepAlive,
	}}
}

// serial GETs /v2/ with c and returns the serial of the certificate the
// connection was made with, and the protocol.
func serial(t *testing.T, c *http.Client, addr string) (*big.Int, string) {
	t.Helper()
	resp, err := c.Get("https://" + addr + "/v2/")
	if err != nil {
		t.Fatalf("GET https://%s/v2/: %v", addr, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber, resp.Proto
}

// TestServeTLSClients pushes and pulls over TLS with skopeo (the CA in
// --cert-dir), crane (the CA as SSL_CERT_FILE) and gantry copy
// (--ca-file, or GANTRY_CA_FILE), all verifying the certificate; checks
// that HTTP/2 is negotiated; and that gantry copy without the CA fails with
// the hint that names --ca-file.
func TestServeTLSClients(t *testing.T) {
	skopeo := testenv.Tool(t, "skopeo")
	crane := testenv.GoTool(t, "crane")
	s := startTLSServer(t)
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1.0": sharedBusybox(t)})
	certDir := t.TempDir()
	caPEM, err := os.ReadFile(s.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	if _, proto := serial(t, s.client(true), s.Addr); proto != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", proto)
	}

	// skopeo pushes, verifying against --dest-cert-dir.
	r := testenv.Run(t, timeout, skopeo, "copy", "--dest-cert-dir", certDir, "oci:"+src+":demo/busybox:1.0", "docker://"+s.Addr+"/sk/busybox:1")
	if r.Code != 0 {
		t.Fatalf("skopeo copy over TLS: %s", r.Stderr)
	}
	// crane pulls it and pushes a copy, trusting only the test CA.
	t.Setenv("SSL_CERT_FILE", s.ca.CertFile)
	r = testenv.Run(t, timeout, crane, "copy", s.Addr+"/sk/busybox:1", s.Addr+"/cr/busybox:1")
	if r.Code != 0 {
		t.Fatalf("crane copy over TLS: %s", r.Stderr)
	}
	craneDigest := testenv.Run(t, timeout, crane, "digest", s.Addr+"/cr/busybox:1")
	// skopeo pulls crane's copy.
	r = testenv.Run(t, timeout, skopeo, "inspect", "--cert-dir", certDir, "--format", "{{.Digest}}", "docker://"+s.Addr+"/cr/busybox:1")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != strings.TrimSpace(craneDigest.Stdout) || craneDigest.Code != 0 {
		t.Fatalf("skopeo inspect over TLS: %q %s; crane digest %q", r.Stdout, r.Stderr, craneDigest.Stdout)
	}
	os.Unsetenv("SSL_CERT_FILE")
	// A client that does not trust the CA is refused by skopeo too.
	if r := testenv.Run(t, timeout, skopeo, "inspect", "--cert-dir", t.TempDir(), "docker://"+s.Addr+"/cr/busybox:1"); r.Code == 0 {
		t.Errorf("skopeo inspect without the CA succeeded")
	}

	// gantry copy: without the CA, the certificate error and the hint.
	dst := filepath.Join(t.TempDir(), "dst")
	r = gantry(t, "copy", s.Addr+"/cr/busybox:1", "oci:"+dst+":demo/busybox:1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "certificate") || !strings.Contains(r.Stderr, "give --ca-file with the CA that signed it") {
		t.Errorf("gantry copy without --ca-file: exit %d, %s; want 1 and the TLS hint", r.Code, r.Stderr)
	}
	mustGantry(t, "copy", "--ca-file", s.ca.CertFile, s.Addr+"/cr/busybox:1", "oci:"+dst+":demo/busybox:1")
	t.Setenv("GANTRY_CA_FILE", s.ca.CertFile)
	mustGantry(t, "copy", "oci:"+dst+":demo/busybox:1", s.Addr+"/gantry/busybox:1")
	os.Unsetenv("GANTRY_CA_FILE")
	if got := skopeoDigestCert(t, certDir, s.Addr+"/gantry/busybox:1"); got != strings.TrimSpace(craneDigest.Stdout) {
		t.Errorf("gantry's copy has digest %s, want %s", got, craneDigest.Stdout)
	}
	// A CA file that is not one: one line naming it, exit 1.
	r = gantry(t, "copy", "--ca-file", s.keyFile, s.Addr+"/cr/busybox:1", "oci:"+dst+":demo/busybox:2")
	if r.Code != 1 || !strings.Contains(r.Stderr, s.keyFile) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("gantry copy --ca-file KEY: exit %d, %q; want 1 and one line naming the file", r.Code, r.Stderr)
	}
	// Every other command that reaches a registry takes the CA the same way.
	mustGantry(t, "inventory", "--ca-file", s.ca.CertFile, "-o", filepath.Join(t.TempDir(), "inv.json"), s.Addr)
	bundle := filepath.Join(t.TempDir(), "b.tar")
	mustGantry(t, "bundle", "create", "--ca-file", s.ca.CertFile, "-o", bundle, s.Addr+"/cr/busybox:1")
	mustGantry(t, "bundle", "push", "--ca-file", s.ca.CertFile, bundle, "--to", s.Addr+"/site")
	mustGantry(t, "check", "--ca-file", s.ca.CertFile, "--failure-threshold", "none", s.Addr+"/site/cr/busybox:1")
	mustGantry(t, "fleet", "--ca-file", s.ca.CertFile, "--registry", s.Addr+"/site")
}

func skopeoDigestCert(t *testing.T, certDir, ref string) string {
	t.Helper()
	r := testenv.Run(t, timeout, testenv.Tool(t, "skopeo"), "inspect", "--cert-dir", certDir, "--format", "{{.Digest}}", "docker://"+ref)
	if r.Code != 0 {
		t.Fatalf("skopeo inspect %s: %s", ref, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// TestServeTLSRotation replaces the certificate files under a running
// gantry serve: new connections get the new certificate within seconds,
// a connection opened before keeps working, and the process never
// restarted.
func TestServeTLSRotation(t *testing.T) {
	s := startTLSServer(t)
	pid := s.cmd.Process.Pid
	kept := s.client(true)
	first, _ := serial(t, kept, s.Addr)
	next := s.ca.Issue(t, s.certFile, s.keyFile)
	fresh := s.client(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _ := serial(t, fresh, s.Addr)
		if got.Cmp(next) == 0 {
			break
		}
		if got.Cmp(first) != 0 || time.Now().After(deadline) {
			t.Fatalf("serial %v after rotation, want %v (the old one was %v)", got, next, first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, _ := serial(t, kept, s.Addr); got.Cmp(first) != 0 {
		t.Errorf("the connection opened before the rotation now shows serial %v, want %v: was it dropped?", got, first)
	}
	if s.cmd.Process.Pid != pid || !strings.Contains(s.logs.String(), "TLS certificate reloaded") {
		t.Errorf("no reload logged:\n%s", s.logs.tail(20))
	}
	select {
	case <-s.done:
		t.Fatalf("gantry serve exited during the rotation")
	default:
	}
}

// TestServePlainOffLoopback checks that plain HTTP on every interface is
// refused with one line that says what to give, and served when
// --insecure-http asks for it.
func TestServePlainOffLoopback(t *testing.T) {
	root := filepath.Join(t.TempDir(), "never")
	r := gantry(t, "serve", "--addr", "0.0.0.0:0", "--root", root)
	if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 ||
		!strings.Contains(r.Stderr, "--tls-cert and --tls-key") || !strings.Contains(r.Stderr, "--insecure-http") {
		t.Errorf("serve --addr 0.0.0.0:0: exit %d, %q; want 2 and one line naming --tls-cert/--tls-key and --insecure-http", r.Code, r.Stderr)
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("the store directory was created")
	}
	s := startServer(t, t.TempDir(), "--addr", "0.0.0.0:0", "--insecure-http")
	_, port, _ := strings.Cut(s.Addr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(s.Addr, ":")
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ with --insecure-http: %s", resp.Status)
	}
}

// TestCopyCredentialsOverTLS puts a TLS proxy that wants HTTP Basic in
// front of gantry serve, and checks that gantry copy authenticates with
// docker's config.json, through "auths" and through a credential helper
// (a docker-credential-test script on PATH), and says to log in without
// them.
func TestCopyCredentialsOverTLS(t *testing.T) {
	origin := startServer(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1.0": sharedBusybox(t)})

	ca := testenv.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, certFile, keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + origin.Addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	const user, pass = "site-admin", "s3cret:with colon"
	var refused, admitted atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="gantry test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		admitted.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")

	docker := t.TempDir()
	t.Setenv("DOCKER_CONFIG", docker)
	writeConfig := func(body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(docker, "config.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	writeConfig(`{}`)
	r := gantry(t, "copy", "--ca-file", ca.CertFile, "oci:"+src+":demo/busybox:1.0", host+"/site/busybox:1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "log in with 'docker login "+host+"'") {
		t.Errorf("copy without credentials: exit %d, %s; want 1 and the login hint", r.Code, r.Stderr)
	}
	if refused.Load() == 0 {
		t.Errorf("the proxy refused nothing")
	}

	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	writeConfig(fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth))
	mustGantry(t, "copy", "--ca-file", ca.CertFile, "oci:"+src+":demo/busybox:1.0", host+"/site/busybox:1")

	bin := t.TempDir()
	helper := fmt.Sprintf("#!/bin/sh\n# docker credential helper protocol: the action is the argument, the server URL comes on stdin\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = %q ] || { echo \"credentials not found in native keychain\"; exit 1; }\nprintf '{\"ServerURL\":\"%%s\",\"Username\":%q,\"Secret\":%q}\\n' \"$server\"\n", host, user, pass)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-test"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	writeConfig(fmt.Sprintf(`{"credHelpers": {%q: "test"}}`, host))
	admitted.Store(0)
	dst := filepath.Join(t.TempDir(), "dst")
	mustGantry(t, "copy", "--ca-file", ca.CertFile, host+"/site/busybox:1", "oci:"+dst+":site/busybox:1")
	if admitted.Load() == 0 {
		t.Errorf("no request came with the helper's credentials")
	}
}

// TestAgentTLSUpstream runs two agents whose upstream and tracker are one
// gantry serve --tracker over TLS, trusted through --ca-file: pulls through
// both agents get the image, and the origin sends each blob once. An agent
// without the CA cannot resolve the image.
func TestAgentTLSUpstream(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	origin := startTLSServer(t, "--tracker")
	img := sharedBusybox(t)
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"demo/busybox:1": img})
	mustGantry(t, "copy", "-q", "--ca-file", origin.ca.CertFile, "oci:"+src+":demo/busybox:1", origin.Addr+"/demo/busybox:1")
	agent := func(extra ...string) *daemon {
		return startDaemon(t, append([]string{"agent", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--upstream", "https://" + origin.Addr, "--tracker", "https://" + origin.Addr, "--data", t.TempDir()}, extra...)...)
	}
	agents := []*daemon{agent("--ca-file", origin.ca.CertFile), agent("--ca-file", origin.ca.CertFile)}
	for i, a := range agents {
		r := testenv.Run(t, timeout, crane, "pull", "--insecure", "--format", "oci", a.Addr+"/demo/busybox:1", filepath.Join(t.TempDir(), "image.tar"))
		if r.Code != 0 {
			t.Fatalf("crane pull through agent %d: exit %d: %s", i, r.Code, r.Stderr)
		}
	}
	resp, err := origin.client(false).Get("https://" + origin.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := metricSum(string(metrics), "gantry_http_requests_total", `route="blob_get",status="200"`), float64(len(img.Layers)+1); got != want {
		t.Errorf("the origin answered %v blob GETs for two agents, want %v (one per blob)", got, want)
	}
	stranger := agent()
	if r := testenv.Run(t, timeout, crane, "digest", "--insecure", stranger.Addr+"/demo/busybox:1"); r.Code == 0 {
		t.Errorf("an agent without the CA resolved the image over TLS")
	}
}
