// Package mirror is the store behind a gantry agent's registry endpoint:
// a read-only cas store whose tags and manifests are resolved at an
// upstream registry with the credentials of the client asking, and whose
// blobs come from the swarm (package swarm), which takes them from the
// upstream about once for the whole cluster.
//
// The client's Authorization header travels in the request's context
// (Authorize puts it there); an upstream that asks for credentials has its
// challenge passed back to the client (registry.UpstreamError), which then
// authenticates with the upstream's own token service and asks again.
//
// A blob is served only to a node whose client may read it: its digest was
// named by a manifest that this node's client fetched from the upstream
// with success (within Options.AllowFor), or the upstream answered a HEAD
// of the blob with the client's credentials.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure a Store. Upstream and Swarm are required.
type Options struct {
	// Upstream is the registry's base URL ("https://registry-1.docker.io").
	Upstream string
	// Swarm fetches the blobs.
	Swarm *swarm.Node
	// HTTP sends the upstream requests. Default: http.DefaultClient.
	HTTP *http.Client
	// AllowFor is how long a manifest fetched with success lets the node
	// serve the blobs it names without asking the upstream. Default 10
	// minutes.
	AllowFor time.Duration
	// MaxManifestBytes bounds the manifests kept in memory. Default 64 MiB.
	MaxManifestBytes int64
}

// Store is the agent's store. It implements cas.ReadOnlyStore.
type Store struct {
	opts Options

	mu        sync.Mutex
	manifests map[digest.Digest]cached // bodies of manifests fetched
	kept      int64                    // bytes in manifests
	allowed   map[grant]allowance      // blobs a manifest named
}

type cached struct {
	desc ocispec.Descriptor
	body []byte
}

type grant struct {
	repo string
	d    digest.Digest
}

type allowance struct {
	desc  ocispec.Descriptor
	until time.Time
}

// New returns a store over opts.Upstream.
func New(opts Options) (*Store, error) {
	if opts.Upstream == "" || opts.Swarm == nil {
		return nil, errors.New("mirror: Upstream and Swarm are required")
	}
	opts.Upstream = strings.TrimSuffix(opts.Upstream, "/")
	if opts.HTTP == nil {
		opts.HTTP = http.DefaultClient
	}
	if opts.AllowFor <= 0 {
		opts.AllowFor = 10 * time.Minute
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 64 << 20
	}
	return &Store{opts: opts, manifests: map[digest.Digest]cached{}, allowed: map[grant]allowance{}}, nil
}

type authKey struct{}

// Authorize returns a handler that puts each request's Authorization
// header in its context, for the store to forward to the upstream.
func Authorize(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			r = r.WithContext(context.WithValue(r.Context(), authKey{}, a))
		}
		h.ServeHTTP(w, r)
	})
}

func authorization(ctx context.Context) string {
	a, _ := ctx.Value(authKey{}).(string)
	return a
}

// Repository returns the repository name of the upstream.
func (s *Store) Repository(_ context.Context, name string) (cas.ReadOnlyTarget, error) {
	if err := oci.ValidateRepository(name); err != nil {
		return nil, fmt.Errorf("mirror: %w: %v", cas.ErrInvalid, err)
	}
	return &repo{s: s, name: name}, nil
}

type repo struct {
	s    *Store
	name string
}

// Resolve resolves a tag or digest at the upstream (a tag always, so that
// a moved tag is seen), or from what a manifest this node fetched named.
func (r *repo) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if strings.Contains(ref, ":") {
		if _, err := digest.Parse(ref); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("mirror: %q: %w: %v", ref, cas.ErrInvalid, err)
		}
	}
	if d, err := digest.Parse(ref); err == nil {
		if desc, ok := r.s.known(r.name, d); ok {
			return desc, nil
		}
		desc, err := r.headDigest(ctx, d)
		if err == nil {
			r.s.allow(r.name, desc)
		}
		return desc, err
	}
	desc, _, err := r.getManifest(ctx, ref)
	return desc, err
}

// Exists reports whether the upstream (or this node's grants) has desc.
func (r *repo) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	_, err := r.Resolve(ctx, desc.Digest.String())
	if errors.Is(err, cas.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Fetch returns a manifest from the upstream (or this node's memory of
// it) and a blob from the swarm.
func (r *repo) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if oci.IsManifest(desc.MediaType) {
		// Kept bodies are shared by every repository: one is served only
		// in a repository the upstream showed it in.
		_, granted := r.s.known(r.name, desc.Digest)
		r.s.mu.Lock()
		c, ok := r.s.manifests[desc.Digest]
		r.s.mu.Unlock()
		if ok && granted {
			return io.NopCloser(strings.NewReader(string(c.body))), nil
		}
		_, body, err := r.getManifest(ctx, desc.Digest.String())
		if err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader(string(body))), nil
	}
	if _, ok := r.s.known(r.name, desc.Digest); !ok {
		if _, err := r.Resolve(ctx, desc.Digest.String()); err != nil {
			return nil, err
		}
	}
	auth := authorization(ctx)
	return r.s.opts.Swarm.Fetch(ctx, desc.Digest, desc.Size, func(octx context.Context, off int64) (io.ReadCloser, error) {
		return r.openBlob(octx, auth, desc.Digest, off)
	})
}

// known returns what this node may serve of d in repository name.
func (s *Store) known(name string, d digest.Digest) (ocispec.Descriptor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.allowed[grant{name, d}]
	if !ok || time.Now().After(a.until) {
		return ocispec.Descriptor{}, false
	}
	return a.desc, true
}

// allow lets the node serve desc in repository name for Options.AllowFor.
func (s *Store) allow(name string, descs ...ocispec.Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.allowed) > 1<<20 {
		for g, a := range s.allowed {
			if now.After(a.until) {
				delete(s.allowed, g)
			}
		}
	}
	for _, d := range descs {
		s.allowed[grant{name, d.Digest}] = allowance{desc: d, until: now.Add(s.opts.AllowFor)}
	}
}

// keep remembers a manifest's body, forgetting all when over the budget.
func (s *Store) keep(desc ocispec.Descriptor, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.manifests[desc.Digest]; ok {
		return
	}
	if s.kept+int64(len(body)) > s.opts.MaxManifestBytes {
		clear(s.manifests)
		s.kept = 0
	}
	s.manifests[desc.Digest] = cached{desc: desc, body: body}
	s.kept += int64(len(body))
}

func (r *repo) url(kind, ref string) string {
	return r.s.opts.Upstream + "/v2/" + r.name + "/" + kind + "/" + ref
}

// request sends one request to the upstream with the client's credentials.
func (r *repo) request(ctx context.Context, auth, method, url string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := r.s.opts.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mirror: upstream %s: %w: %v", r.s.opts.Upstream, cas.ErrTransient, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, upstreamFailure(resp, method+" "+url)
	}
	return resp, nil
}

var manifestAccept = http.Header{"Accept": {strings.Join(oci.ManifestMediaTypes, ", ")}}

func (r *repo) headManifest(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	resp, err := r.request(ctx, authorization(ctx), http.MethodHead, r.url("manifests", ref), manifestAccept)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	return described(resp, ref)
}

// headDigest asks the upstream of d as a manifest and as a blob at once,
// since a route's digest may name either: the manifest's answer stands
// unless it is "not found", then the blob's does. A blob costs one round
// trip, not two (a node's first pull of a blob it holds no grant for
// waits on it), a manifest one HEAD more, cancelled once it is answered.
func (r *repo) headDigest(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		desc ocispec.Descriptor
		err  error
	}
	blob := make(chan answer, 1)
	go func() {
		desc, err := r.headBlob(ctx, d)
		blob <- answer{desc, err}
	}()
	desc, err := r.headManifest(ctx, d.String())
	if !errors.Is(err, cas.ErrNotFound) {
		return desc, err
	}
	b := <-blob
	return b.desc, b.err
}

func (r *repo) headBlob(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	resp, err := r.request(ctx, authorization(ctx), http.MethodHead, r.url("blobs", d.String()), nil)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	desc, err := described(resp, d.String())
	desc.MediaType = "application/octet-stream"
	return desc, err
}

// described is the descriptor an upstream's answer gives.
func described(resp *http.Response, ref string) (ocispec.Descriptor, error) {
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		if d, err = digest.Parse(ref); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("mirror: upstream names no digest for %s", ref)
		}
	}
	size, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("mirror: upstream gives no size for %s", ref)
	}
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return ocispec.Descriptor{MediaType: strings.TrimSpace(mt), Digest: d, Size: size}, nil
}

// getManifest fetches a manifest from the upstream, checks it, keeps it,
// and lets the node serve what it names in this repository.
func (r *repo) getManifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	resp, err := r.request(ctx, authorization(ctx), http.MethodGet, r.url("manifests", ref), manifestAccept)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w: %v", ref, cas.ErrTransient, err)
	}
	if len(body) > oci.MaxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w: over %d bytes", ref, cas.ErrInvalid, oci.MaxManifestSize)
	}
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	desc := ocispec.Descriptor{MediaType: strings.TrimSpace(mt), Digest: digest.FromBytes(body), Size: int64(len(body))}
	if want, err := digest.Parse(ref); err == nil && want != desc.Digest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w: its body is %s", ref, cas.ErrDigestMismatch, desc.Digest)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != desc.Digest.String() {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w: the upstream says %s, its body is %s", ref, cas.ErrDigestMismatch, h, desc.Digest)
	}
	m, err := oci.ParseManifest(desc, body)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w", ref, err)
	}
	if desc.MediaType == "" || !oci.IsManifest(desc.MediaType) {
		desc.MediaType = m.MediaType
	}
	children, err := oci.Children(desc, m, nil)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("mirror: upstream manifest %s: %w", ref, err)
	}
	r.s.keep(desc, body)
	r.s.allow(r.name, append(children, desc)...)
	return desc, body, nil
}

// openBlob opens the blob d at the upstream from byte off.
func (r *repo) openBlob(ctx context.Context, auth string, d digest.Digest, off int64) (io.ReadCloser, error) {
	var hdr http.Header
	if off > 0 {
		hdr = http.Header{"Range": {fmt.Sprintf("bytes=%d-", off)}}
	}
	resp, err := r.request(ctx, auth, http.MethodGet, r.url("blobs", d.String()), hdr)
	if err != nil {
		return nil, err
	}
	if off > 0 && resp.StatusCode == http.StatusOK {
		// The upstream ignored the range: skip to it.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("mirror: upstream blob %s: %w", d, err)
		}
	}
	return resp.Body, nil
}

// upstreamError is an answer of the upstream that the client must see as
// it is: a 401 with its challenge, or a 403.
type upstreamError struct {
	status int
	header http.Header
	what   string
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("upstream answered %s: %d %s", e.what, e.status, http.StatusText(e.status))
}

func (e *upstreamError) Status() int { return e.status }

func (e *upstreamError) Code() string {
	if e.status == http.StatusForbidden {
		return "DENIED"
	}
	return "UNAUTHORIZED"
}

func (e *upstreamError) Header() http.Header { return e.header }

// upstreamFailure turns an upstream's error answer into the error the
// registry handler answers with.
func upstreamFailure(resp *http.Response, what string) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		h := http.Header{}
		if c := resp.Header.Values("WWW-Authenticate"); len(c) > 0 {
			h["Www-Authenticate"] = c
		}
		return &upstreamError{status: resp.StatusCode, header: h, what: what}
	case http.StatusNotFound:
		return fmt.Errorf("mirror: upstream answered %s: %w", what, cas.ErrNotFound)
	case http.StatusBadRequest:
		return fmt.Errorf("mirror: upstream answered %s: %w", what, cas.ErrInvalid)
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("mirror: upstream answered %s: %s: %w", what, resp.Status, cas.ErrTransient)
	}
	return fmt.Errorf("mirror: upstream answered %s: %s", what, resp.Status)
}
