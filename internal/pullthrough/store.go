package pullthrough

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
)

// DefaultTagTTL is how long a tag resolved at the upstream is served from
// the cache before it is resolved again.
const DefaultTagTTL = time.Minute

// Upstream is one mirrored registry and the names it serves.
type Upstream struct {
	// Prefix is the start of the names this upstream serves, ending in
	// "/" ("docker.io/"), which is cut off before the upstream is asked;
	// "" serves every name as it is. The longest matching prefix wins.
	Prefix string
	// URL is the registry's base URL: "https://registry-1.docker.io",
	// "http://10.0.0.5:5000". docker.io and index.docker.io are sent to
	// Docker Hub's endpoint.
	URL string
	// Username and Password are the account used at the upstream.
	Username, Password string
	// DockerConfig is a docker config.json whose credentials for the
	// upstream's host are used when Username is empty. Default: anonymous
	// (the credentials of whoever runs the server are not lent to it).
	DockerConfig string
}

// Options configure a Store. The zero value of each field but Upstreams
// works.
type Options struct {
	// Upstreams are the mirrored registries; at least one.
	Upstreams []Upstream
	// TagTTL is how long a tag is served from the cache before it is
	// resolved at the upstream again. Default DefaultTagTTL.
	TagTTL time.Duration
	// TempDir holds blobs while they are fetched. Default os.TempDir().
	TempDir string
	// Logger gets a warning when stale content is served and when a fill
	// fails. Default: discard.
	Logger *slog.Logger
	// HTTPClient talks to the upstreams. Default: connection and header
	// timeouts and no retries (a client retries, and a stale tag is
	// served at once rather than after a backoff).
	HTTPClient *http.Client
	// UserAgent is sent to the upstreams. Default: remote's.
	UserAgent string
}

// Store is a cas.Store: mirrored names read through to their upstream,
// other names are the cache's. It also implements the optional store
// interfaces the registry looks for (RepositoryLister, HolderLister,
// UploadCounter) by passing them to the cache. Close it to stop the fills
// in flight.
type Store struct {
	cache  cas.Store
	opts   Options
	routes []*route // longest prefix first

	flights singleflight.Group

	ctx    context.Context // of the fills; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	fills map[digest.Digest]*fill
	fresh map[string]time.Time            // "name:tag" → when resolved upstream
	known map[knownKey]ocispec.Descriptor // named by a manifest fetched
}

type route struct {
	Upstream
	host string // as references name it: docker.io for Docker Hub
	reg  *remote.Registry
}

var (
	_ cas.Store            = (*Store)(nil)
	_ cas.RepositoryLister = (*Store)(nil)
	_ cas.HolderLister     = (*Store)(nil)
	_ cas.UploadCounter    = (*Store)(nil)
)

// New returns a mirror of opts.Upstreams caching into cache.
func New(cache cas.Store, opts Options) (*Store, error) {
	if len(opts.Upstreams) == 0 {
		return nil, errors.New("pullthrough: no upstream")
	}
	if opts.TagTTL <= 0 {
		opts.TagTTL = DefaultTagTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	s := &Store{cache: cache, opts: opts, fills: map[digest.Digest]*fill{}, fresh: map[string]time.Time{}, known: map[knownKey]ocispec.Descriptor{}}
	seen := map[string]bool{}
	for _, up := range opts.Upstreams {
		rt, err := newRoute(up, opts)
		if err != nil {
			return nil, err
		}
		if seen[rt.Prefix] {
			return nil, fmt.Errorf("pullthrough: prefix %q given twice", rt.Prefix)
		}
		seen[rt.Prefix] = true
		s.routes = append(s.routes, rt)
	}
	slices.SortFunc(s.routes, func(a, b *route) int { return len(b.Prefix) - len(a.Prefix) })
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// ParseURL checks an upstream URL and returns its host as references name
// it (docker.io for Docker Hub's endpoints).
func ParseURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, "", fmt.Errorf("upstream %q: want http(s)://HOST[:PORT], with no path: %w", raw, cas.ErrInvalid)
	}
	host := u.Host
	if oci.RegistryEndpoint(host) == oci.DockerHubEndpoint {
		host = oci.DockerHub
	}
	return u, host, nil
}

func newRoute(up Upstream, opts Options) (*route, error) {
	u, host, err := ParseURL(up.URL)
	if err != nil {
		return nil, err
	}
	if up.Prefix != "" {
		if !strings.HasSuffix(up.Prefix, "/") {
			up.Prefix += "/"
		}
		if err := oci.ValidateRepository(up.Prefix + "x"); err != nil {
			return nil, fmt.Errorf("upstream %s: prefix %q: %w", up.URL, up.Prefix, err)
		}
	}
	ro := remote.Options{
		Username: up.Username, Password: up.Password,
		PlainHTTP: u.Scheme == "http", HTTPClient: opts.HTTPClient, UserAgent: opts.UserAgent,
		DockerConfig: up.DockerConfig,
	}
	if up.Username == "" && up.DockerConfig == "" {
		ro.DockerConfig = os.DevNull // anonymous, not the server's own account
	}
	reg, err := remote.New(u.Host, ro)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", up.URL, err)
	}
	return &route{Upstream: up, host: host, reg: reg}, nil
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = time.Minute
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: tr}
}

// Close stops the fills in flight and waits for them.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// match returns the route serving name, the upstream's name for it and
// the cache's.
func (s *Store) match(name string) (rt *route, upstream, cached string, ok bool) {
	for _, rt := range s.routes {
		if !strings.HasPrefix(name, rt.Prefix) || len(name) == len(rt.Prefix) {
			continue
		}
		upstream = oci.UpstreamRepository(rt.host, name[len(rt.Prefix):])
		return rt, upstream, rt.Prefix + upstream, true
	}
	return nil, "", "", false
}

// Mirrored reports whether an upstream serves name (pushes to it are
// refused).
func (s *Store) Mirrored(name string) bool {
	_, _, _, ok := s.match(name)
	return ok
}

// Upstream returns where name is pulled from: the upstream's URL, the
// name the upstream knows it by, and the name it is cached under; ok is
// false for a name no upstream serves.
func (s *Store) Upstream(name string) (url, upstreamName, cachedName string, ok bool) {
	rt, up, cached, ok := s.match(name)
	if !ok {
		return "", "", "", false
	}
	return rt.URL, up, cached, true
}

// Repository implements cas.Store: a mirrored name's target reads through
// to its upstream and refuses writes (cas.ErrUnsupported); any other name
// is the cache's repository.
func (s *Store) Repository(ctx context.Context, name string) (cas.Target, error) {
	rt, upName, cacheName, ok := s.match(name)
	if !ok {
		return s.cache.Repository(ctx, name)
	}
	if err := oci.ValidateRepository(cacheName); err != nil {
		return nil, err
	}
	c, err := s.cache.Repository(ctx, cacheName)
	if err != nil {
		return nil, err
	}
	up, err := rt.reg.Repository(ctx, upName)
	if err != nil {
		return nil, err
	}
	return &repo{s: s, rt: rt, name: cacheName, upName: upName, cache: c, up: up}, nil
}

// Repositories lists the cache's repositories: those pushed and those
// mirrored so far.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	rl, ok := s.cache.(cas.RepositoryLister)
	if !ok {
		return fmt.Errorf("pullthrough: the cache cannot list repositories: %w", cas.ErrUnsupported)
	}
	return rl.Repositories(ctx, last, fn)
}

// Holders implements cas.HolderLister with the cache's.
func (s *Store) Holders(ctx context.Context, d digest.Digest) ([]string, error) {
	hl, ok := s.cache.(cas.HolderLister)
	if !ok {
		return nil, nil
	}
	return hl.Holders(ctx, d)
}

// OpenUploads implements cas.UploadCounter with the cache's.
func (s *Store) OpenUploads(ctx context.Context, repository string) (int, int, error) {
	c, ok := s.cache.(cas.UploadCounter)
	if !ok {
		return 0, 0, nil
	}
	return c.OpenUploads(ctx, repository)
}

// repo is a mirrored repository.
type repo struct {
	s      *Store
	rt     *route
	name   string // in the cache
	upName string // at the upstream
	cache  cas.Target
	up     cas.Target
}

var errMirrored = fmt.Errorf("this name is mirrored from an upstream and cannot be pushed to: %w", cas.ErrUnsupported)

func (r *repo) Push(context.Context, ocispec.Descriptor, io.Reader) error {
	return fmt.Errorf("%s: %w", r.name, errMirrored)
}

func (r *repo) Tag(context.Context, ocispec.Descriptor, string) error {
	return fmt.Errorf("%s: %w", r.name, errMirrored)
}

// Resolve implements cas.Resolver. A digest is looked up in the cache,
// then among the children of manifests fetched, then at the upstream; a
// tag is served from the cache while it is fresh (Options.TagTTL), else
// resolved at the upstream, whose manifest is cached on the way.
func (r *repo) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if strings.Contains(ref, ":") {
		d := digest.Digest(ref)
		if err := cas.ValidateDigest(d); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", r.name, err)
		}
		if desc, err := r.cache.Resolve(ctx, ref); err == nil {
			return desc, nil
		}
		if desc, ok := r.s.knownDesc(r.name, d); ok {
			return desc, nil
		}
		return r.up.Resolve(ctx, ref)
	}
	key := r.name + ":" + ref
	r.s.mu.Lock()
	at, ok := r.s.fresh[key]
	r.s.mu.Unlock()
	if ok && time.Since(at) < r.s.opts.TagTTL {
		if desc, err := r.cache.Resolve(ctx, ref); err == nil {
			return desc, nil
		}
	}
	v, err, _ := flight(r.s.flights.DoChan("tag "+key, func() (any, error) {
		return r.refreshTag(context.WithoutCancel(ctx), ref)
	})).result(ctx)
	if err == nil {
		return v.(ocispec.Descriptor), nil
	}
	if errors.Is(err, cas.ErrNotFound) || errors.Is(err, remote.ErrUnauthorized) || ctx.Err() != nil {
		return ocispec.Descriptor{}, err
	}
	// Down, 5xx, or an answer that makes no sense: the cached tag, if any.
	desc, cerr := r.cache.Resolve(ctx, ref)
	if cerr != nil {
		return ocispec.Descriptor{}, err
	}
	r.s.opts.Logger.Warn("upstream failed; serving the cached tag", "repository", r.name, "tag", ref, "digest", desc.Digest, "upstream", r.rt.URL, "err", err)
	return desc, nil
}

// refreshTag resolves tag at the upstream, caches its manifest and points
// the cached tag at it.
func (r *repo) refreshTag(ctx context.Context, tag string) (ocispec.Descriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	desc, err := r.up.Resolve(ctx, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if !oci.IsManifest(desc.MediaType) {
		if desc, err = r.cacheManifest(ctx, desc, true); err != nil {
			return ocispec.Descriptor{}, err
		}
	} else if _, err := r.cacheManifest(ctx, desc, false); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.cache.Tag(ctx, desc, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("pullthrough: caching tag %s:%s: %w", r.name, tag, err)
	}
	r.s.mu.Lock()
	if len(r.s.fresh) >= maxKnown {
		clear(r.s.fresh) // the tags are resolved upstream once more
	}
	r.s.fresh[r.name+":"+tag] = time.Now()
	r.s.mu.Unlock()
	return desc, nil
}

// cacheManifest fetches the manifest desc from the upstream into the
// cache, once however many ask, unless the cache has it, and remembers
// its children. With sniff, desc's media type is taken from the body.
func (r *repo) cacheManifest(ctx context.Context, desc ocispec.Descriptor, sniff bool) (ocispec.Descriptor, error) {
	if ok, _ := r.cache.Exists(ctx, desc); ok && !sniff {
		if got, err := r.cache.Resolve(ctx, desc.Digest.String()); err == nil && oci.IsManifest(got.MediaType) {
			return got, nil
		}
	}
	v, err, _ := flight(r.s.flights.DoChan("manifest "+r.name+"@"+desc.Digest.String(), func() (any, error) {
		body, err := cas.FetchAll(ctx, r.up, desc, oci.MaxManifestSize)
		if err != nil {
			return nil, err
		}
		m, err := oci.ParseManifest(desc, body)
		if err != nil {
			return nil, fmt.Errorf("pullthrough: upstream manifest %s@%s: %w", r.upName, desc.Digest, err)
		}
		if !oci.IsManifest(desc.MediaType) {
			desc.MediaType = m.MediaType
		}
		if children, err := oci.Children(desc, m, nil); err == nil {
			r.s.remember(r.name, children)
		}
		if err := r.cache.Push(ctx, desc, bytes.NewReader(body)); err != nil && !errors.Is(err, cas.ErrExists) {
			return nil, fmt.Errorf("pullthrough: caching manifest %s@%s: %w", r.name, desc.Digest, err)
		}
		return desc, nil
	})).result(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return v.(ocispec.Descriptor), nil
}

// knownKey is a digest that a manifest fetched for a repository named:
// the repository may serve it, as the upstream's would.
type knownKey struct {
	repo string
	d    digest.Digest
}

// knownDesc returns the descriptor of d that a manifest fetched for
// repository named.
func (s *Store) knownDesc(repo string, d digest.Digest) (ocispec.Descriptor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	desc, ok := s.known[knownKey{repo, d}]
	return desc, ok
}

// maxKnown bounds the descriptors remembered from manifests, and the tags
// remembered as fresh.
const maxKnown = 1 << 18

func (s *Store) remember(repo string, descs []ocispec.Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.known)+len(descs) > maxKnown {
		clear(s.known)
	}
	for _, d := range descs {
		s.known[knownKey{repo, d.Digest}] = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	}
}

// Exists implements cas.Exister: in the cache, or at the upstream.
func (r *repo) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if ok, err := r.cache.Exists(ctx, desc); ok || err != nil {
		return ok, err
	}
	return r.up.Exists(ctx, desc)
}

// Fetch implements cas.Fetcher: from the cache, or from the upstream
// through the cache (see the package documentation).
func (r *repo) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if ok, _ := r.cache.Exists(ctx, desc); ok {
		return r.cache.Fetch(ctx, desc)
	}
	if oci.IsManifest(desc.MediaType) && desc.Size <= oci.MaxManifestSize {
		if _, err := r.cacheManifest(context.WithoutCancel(ctx), desc, false); err != nil {
			return nil, err
		}
		return r.cache.Fetch(ctx, desc)
	}
	if r.mountCached(ctx, desc) {
		return r.cache.Fetch(ctx, desc)
	}
	return r.s.join(ctx, r, desc)
}

// mountCached links a blob that the cache holds for another mirrored
// repository into this one, without asking the upstream.
func (r *repo) mountCached(ctx context.Context, desc ocispec.Descriptor) bool {
	mt, ok := r.cache.(cas.Mounter)
	if !ok {
		return false
	}
	holders, err := r.s.Holders(ctx, desc.Digest)
	if err != nil {
		return false
	}
	for _, h := range holders {
		if r.s.Mirrored(h) && mt.Mount(ctx, desc, h) == nil {
			return true
		}
	}
	return false
}

// Tags implements cas.TagLister with the upstream's list, or the cache's
// when the upstream fails.
func (r *repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	if tl, ok := r.up.(cas.TagLister); ok {
		called := false
		err := tl.Tags(ctx, last, func(tags []string) error { called = true; return fn(tags) })
		if err == nil || called || errors.Is(err, cas.ErrNotFound) || errors.Is(err, remote.ErrUnauthorized) {
			return err
		}
		r.s.opts.Logger.Warn("upstream failed; listing the cached tags", "repository", r.name, "upstream", r.rt.URL, "err", err)
	}
	tl, ok := r.cache.(cas.TagLister)
	if !ok {
		return fmt.Errorf("%s: %w", r.name, cas.ErrUnsupported)
	}
	return tl.Tags(ctx, last, fn)
}

// flight is the answer of a singleflight call, waited for under ctx.
type flight <-chan singleflight.Result

func (f flight) result(ctx context.Context) (any, error, bool) {
	select {
	case res := <-f:
		return res.Val, res.Err, res.Shared
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}
