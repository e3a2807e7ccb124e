package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"oras.land/oras-go/v2/registry"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Options configures a Registry. The zero value talks to a registry with
// verified TLS (plain HTTP on loopback when the registry does not speak TLS),
// the credentials docker would use, and a retrying HTTP client.
type Options struct {
	// Insecure lets gantry reach a registry that is not on a loopback address
	// without a verified TLS certificate. Such a registry is tried over HTTPS
	// without certificate verification first; if it answers the TLS handshake
	// in plain HTTP, plain HTTP is used from then on. The probe happens once,
	// on the first request. Loopback registries are probed the same way
	// whatever the value, but their certificate is verified unless Insecure
	// is set. With a caller-supplied HTTPClient, certificate verification is
	// the client's business: Insecure then only allows the plain-HTTP
	// fallback.
	Insecure bool

	// CAFile is a PEM file of one or more CA certificates that a registry's
	// TLS certificate may chain to, in addition to the system's trust store:
	// a registry whose certificate a private CA signed. Read once by New;
	// ignored with a caller-supplied HTTPClient. Default: the system's trust
	// store only.
	CAFile string

	// DockerConfig is the path of docker's config.json, read once by New for
	// "auths" (base64 user:password), "credHelpers" and "credsStore" (the
	// docker-credential-* helpers are run when a credential is needed).
	// Default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. A
	// missing file means anonymous access.
	DockerConfig string

	// Username and Password, when Username is set, are the credentials
	// sent to the registry instead of those of DockerConfig (a mirror's
	// per-upstream account).
	Username, Password string

	// PlainHTTP talks to the registry over plain HTTP whatever its host
	// (an upstream given as an http:// URL). Default: the rule of New.
	PlainHTTP bool

	// UserAgent is sent with every request, so that registry operators can
	// tell gantry's traffic apart. Default: "gantry/" and the module version
	// from the build information ("gantry/dev" in a development build); the
	// command line passes "gantry/" + its own version.
	UserAgent string

	// HTTPClient sends the requests; authentication is layered on top of it.
	// Default: a client with connection, TLS and response-header timeouts (no
	// overall timeout: a blob may take long to move), up to 16 idle
	// connections per host for parallel copies, proxies from the environment,
	// and oras's retry transport (retries on 429, 5xx and network errors with
	// backoff, for requests whose body can be replayed).
	HTTPClient *http.Client

	// Logger, if set, gets one debug line per HTTP request sent (method, URL,
	// status, response size, latency). Default: no logging.
	Logger *slog.Logger
}

// Registry is a client of one registry host. It is a cas.Store whose
// repositories are the registry's repositories, and a cas.RepositoryLister
// through the catalog API. It is safe for concurrent use; it caches tokens
// per scope for its lifetime.
type Registry struct {
	host       string
	client     *auth.Client
	probe      *http.Client // no credentials: only for the Insecure scheme probe
	configPath string
	insecure   bool

	mu     sync.Mutex
	scheme string // "http" or "https"; "" until probed (Insecure only)
}

var (
	_ cas.Store            = (*Registry)(nil)
	_ cas.RepositoryLister = (*Registry)(nil)
)

// New returns a client of the registry at host (HOST[:PORT], no scheme). It
// reads the credential configuration but sends no request: an unreachable
// registry fails at first use.
//
// The scheme follows one rule: HTTPS with a verified certificate for every
// host that is not loopback; for loopback hosts (localhost, 127.0.0.0/8,
// [::1]), HTTPS when the server speaks TLS (its certificate verified, as
// for any host) and plain HTTP when it does not, as docker does; with
// opts.Insecure, HTTPS without verification, falling back to plain HTTP
// when the server does not speak TLS (see Options.Insecure).
//
// host is a registry host as references name it: Docker Hub's names
// (docker.io, index.docker.io) are sent to its API endpoint,
// registry-1.docker.io (see oci.RegistryEndpoint).
func New(host string, opts Options) (*Registry, error) {
	if err := validateHost(host); err != nil {
		return nil, err
	}
	host = oci.RegistryEndpoint(host)
	configPath := opts.DockerConfig
	if configPath == "" {
		configPath = defaultDockerConfig()
	}
	var credFn auth.CredentialFunc
	if opts.Username != "" {
		credFn = auth.StaticCredential(host, auth.Credential{Username: opts.Username, Password: opts.Password})
	} else if configPath != "" {
		store, err := credentials.NewStore(configPath, credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("registry %s: reading credentials: %w", host, err)
		}
		credFn = credentials.Credential(store)
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		tlsConf, err := ClientTLS(opts.CAFile, opts.Insecure)
		if err != nil {
			return nil, err // names the file; the caller names the registry
		}
		httpClient = defaultHTTPClient(tlsConf)
	}
	if opts.Logger != nil {
		c := *httpClient
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = &logTransport{base: base, log: opts.Logger}
		httpClient = &c
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "gantry/" + buildVersion()
	}
	client := &auth.Client{Client: httpClient, Credential: credFn, Cache: auth.NewCache()}
	client.SetUserAgent(ua)
	r := &Registry{host: host, client: client, probe: httpClient, configPath: configPath, insecure: opts.Insecure}
	switch {
	case opts.PlainHTTP:
		r.scheme = "http"
	case !opts.Insecure && !isLoopback(host):
		r.scheme = "https"
	}
	return r, nil
}

func validateHost(host string) error {
	if host == "" || strings.ContainsAny(host, "/@?#") || strings.Contains(host, "://") {
		return fmt.Errorf("registry host %q: want HOST[:PORT], e.g. localhost:5000 or registry.example.com: %w", host, cas.ErrInvalid)
	}
	if err := (registry.Reference{Registry: host}).ValidateRegistry(); err != nil {
		return fmt.Errorf("registry host %q: %v: %w", host, err, cas.ErrInvalid)
	}
	return nil
}

// isLoopback reports whether host (HOST[:PORT]) names this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func defaultDockerConfig() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "" // no home: anonymous
	}
	return filepath.Join(home, ".docker", "config.json")
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func defaultHTTPClient(tlsConf *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 15 * time.Second
	// Counted from the end of the request body: a registry may take a while
	// to verify and commit a large blob before it answers a PUT.
	tr.ResponseHeaderTimeout = 3 * time.Minute
	tr.ExpectContinueTimeout = time.Second
	tr.IdleConnTimeout = 90 * time.Second
	tr.MaxIdleConnsPerHost = 16
	if tlsConf != nil {
		tr.TLSClientConfig = tlsConf
	}
	return &http.Client{Transport: retry.NewTransport(tr)}
}

// baseURL returns "SCHEME://HOST", probing the scheme once when Insecure.
func (r *Registry) baseURL(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scheme == "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.host+"/v2/", nil)
		if err != nil {
			return "", err
		}
		resp, err := r.probe.Do(req)
		switch {
		case err == nil:
			resp.Body.Close()
			r.scheme = "https"
		case speaksPlainHTTP(err):
			r.scheme = "http"
		default:
			// A refused connection is transient (a registry restarting):
			// the next request probes again.
			return "", r.wrap("registry "+r.host+": probing for HTTPS", err)
		}
	}
	return r.scheme + "://" + r.host, nil
}

// speaksPlainHTTP reports whether a TLS handshake failed because the server
// answered in plain HTTP.
func speaksPlainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// Repository implements cas.Store. The repository need not exist yet: a push
// creates it.
func (r *Registry) Repository(_ context.Context, name string) (cas.Target, error) {
	if err := oci.ValidateRepository(name); err != nil {
		return nil, fmt.Errorf("%s: %w", r.host, err)
	}
	return &Repo{reg: r, name: name}, nil
}

// Repositories implements cas.RepositoryLister with the catalog API
// (/v2/_catalog), following its Link pagination. Registries differ: some
// sort and honour last, some do neither; each page is filtered to names
// after last and sorted, which keeps the order right whenever the registry
// answers in one page or pages in order. A registry without a catalog (404,
// UNSUPPORTED) gives an error wrapping cas.ErrUnsupported.
func (r *Registry) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	base, err := r.baseURL(ctx)
	if err != nil {
		return err
	}
	reg := &orasremote.Registry{RepositoryOptions: orasremote.RepositoryOptions{
		Client:    r.client,
		Reference: registry.Reference{Registry: r.host},
		PlainHTTP: strings.HasPrefix(base, "http:"),
	}}
	err, fnFailed := listAfter(ctx, reg.Repositories, last, fn)
	if err == nil || fnFailed {
		return err
	}
	err = r.wrap(r.host+" catalog", err)
	if errors.Is(err, cas.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, cas.ErrUnsupported)
	}
	return err
}

// listAfter runs an oras listing, handing fn only names after last, sorted
// within each page. fnFailed says that err is fn's own.
func listAfter(ctx context.Context, list func(context.Context, string, func([]string) error) error, last string, fn func([]string) error) (err error, fnFailed bool) {
	var fnErr error
	err = list(ctx, last, func(names []string) error {
		page := after(names, last)
		if len(page) == 0 {
			return nil
		}
		fnErr = fn(page)
		return fnErr
	})
	return err, err != nil && fnErr != nil && errors.Is(err, fnErr)
}

// after returns the names of page after last, sorted.
func after(page []string, last string) []string {
	out := make([]string, 0, len(page))
	for _, n := range page {
		if n > last {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// logTransport logs one line per request.
type logTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	attrs := []any{"method", req.Method, "url", req.URL.Redacted(), "latency", time.Since(start)}
	if err != nil {
		t.log.DebugContext(req.Context(), "registry request", append(attrs, "err", err)...)
		return resp, err
	}
	t.log.DebugContext(req.Context(), "registry request", append(attrs, "status", resp.StatusCode, "bytes", resp.ContentLength)...)
	return resp, nil
}
