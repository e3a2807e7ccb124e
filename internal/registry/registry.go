package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configures a Registry. The zero value serves every endpoint the
// store supports, with the spec's limits.
type Options struct {
	// AllowSparse accepts manifests whose children are absent, as
	// platform-filtered copies (gantry copy --platform) push them. By
	// default a manifest PUT fails with MANIFEST_BLOB_UNKNOWN until every
	// child it names is present. Non-distributable layers are never
	// required.
	AllowSparse bool
	// Logger receives server faults only (5xx, recovered panics); the
	// serve command logs one line per request itself. Default: discard.
	Logger *slog.Logger
	// MaxManifestSize bounds a manifest PUT body; larger bodies get 413
	// MANIFEST_INVALID. Default and upper bound oci.MaxManifestSize, the
	// limit every gantry reader enforces.
	MaxManifestSize int64
	// MaxChunkSize bounds the body of one upload request (POST, PATCH,
	// PUT); larger bodies get 413 SIZE_INVALID. Default: no limit, blobs
	// stream to the store.
	MaxChunkSize int64
	// ReadOnly refuses every request that would write (push, mount,
	// delete) with 405 UNSUPPORTED, for serving a bundle or a mirror.
	ReadOnly bool
	// DisableDelete refuses DELETE of manifests, tags and blobs with 405
	// UNSUPPORTED. gantry's stores share blobs between repositories, so a
	// blob DELETE in one repository removes the blob from all of them; a
	// multi-tenant registry sets this.
	DisableDelete bool

	// The bounds below keep slow or greedy clients from exhausting the
	// server's memory, descriptors and disk. For each, 0 takes the
	// default and a negative value removes the bound.

	// BodyIdleTimeout fails a request whose body sends no byte for this
	// long (408 for an upload, whose session keeps what arrived and can
	// be resumed), so a stalled client gives its connection back. It
	// works through http.ResponseController, so middleware that wraps the
	// ResponseWriter must implement Unwrap. Default
	// DefaultBodyIdleTimeout (30s).
	BodyIdleTimeout time.Duration
	// MaxUploads bounds the upload requests (POST, PATCH, PUT under
	// /blobs/uploads/) served at once; more get 429 TOOMANYREQUESTS with
	// Retry-After. Default DefaultMaxUploads (256).
	MaxUploads int
	// MaxRepositoryUploads is MaxUploads for one repository, so one
	// repository's clients cannot take them all. Default
	// DefaultMaxRepositoryUploads (64).
	MaxRepositoryUploads int
	// MaxSessions bounds the upload sessions open in the store, as the
	// store counts them (cas.UploadCounter; others are not bounded): a
	// POST that would open one more gets 429 TOOMANYREQUESTS with
	// Retry-After. Sessions end when committed, cancelled or purged
	// (cas.UploadPurger, which gantry serve runs). Default
	// DefaultMaxSessions (10000).
	MaxSessions int
	// MaxRepositorySessions is MaxSessions for one repository. Default
	// DefaultMaxRepositorySessions (1000).
	MaxRepositorySessions int

	// Authorizer, when set, authenticates every request and decides what
	// it may do: pull (GET and HEAD, tag and referrer lists), push
	// (uploads, manifest PUT) or delete, by repository; the catalog lists
	// only what the caller may pull, and a mount takes its source only
	// where the caller may pull (else the client uploads). Default: every
	// request may do everything.
	Authorizer Authorizer
}

// Registry is an http.Handler serving the OCI Distribution API over a
// cas.Store. It is safe for concurrent use; it keeps no state but the locks
// of upload sessions in progress.
type Registry struct {
	store cas.Store
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*sessionLock

	uploads uploadLimiter
	// creating counts the upload sessions being created.
	creating sessionGate
}

// sessionLock serialises the requests of one upload session: cas.Upload is
// not safe for concurrent use, and two PATCHes of one session racing would
// interleave their bytes.
type sessionLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a handler serving store.
func New(store cas.Store, opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxManifestSize <= 0 || opts.MaxManifestSize > oci.MaxManifestSize {
		opts.MaxManifestSize = oci.MaxManifestSize
	}
	switch {
	case opts.BodyIdleTimeout == 0:
		opts.BodyIdleTimeout = DefaultBodyIdleTimeout
	case opts.BodyIdleTimeout < 0:
		opts.BodyIdleTimeout = 0 // none
	}
	opts.MaxUploads = bound(opts.MaxUploads, DefaultMaxUploads)
	opts.MaxRepositoryUploads = bound(opts.MaxRepositoryUploads, DefaultMaxRepositoryUploads)
	opts.MaxSessions = bound(opts.MaxSessions, DefaultMaxSessions)
	opts.MaxRepositorySessions = bound(opts.MaxRepositorySessions, DefaultMaxRepositorySessions)
	return &Registry{
		store: store, opts: opts, log: opts.Logger,
		sessions: map[string]*sessionLock{},
		uploads:  uploadLimiter{perRepo: map[string]int{}},
		creating: sessionGate{perRepo: map[string]int{}},
	}
}

// NewReadOnly returns a handler serving a read-only store (a bundle, a
// docker-archive tarball). It sets opts.ReadOnly: every request that would
// write is refused with 405 UNSUPPORTED before it reaches the store, which
// has no write methods to call.
func NewReadOnly(store cas.ReadOnlyStore, opts Options) *Registry {
	opts.ReadOnly = true
	return New(readOnlyStore{store}, opts)
}

// readOnlyStore lets the handler, written against cas.Store, serve a
// cas.ReadOnlyStore. Its targets' Push and Tag are never called (ServeHTTP
// refuses write routes when Options.ReadOnly is set, which NewReadOnly
// forces) and fail with cas.ErrUnsupported should that ever change. The
// optional read interfaces the handler looks for (RepositoryLister,
// TagLister, RangeFetcher, ReferrerLister) are passed through, or answer ErrUnsupported as
// the handler does for a store without them.
type readOnlyStore struct{ s cas.ReadOnlyStore }

func (ro readOnlyStore) Repository(ctx context.Context, name string) (cas.Target, error) {
	t, err := ro.s.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return readOnlyTarget{t}, nil
}

func (ro readOnlyStore) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	rl, ok := ro.s.(cas.RepositoryLister)
	if !ok {
		return newError(CodeUnsupported, "this store cannot list repositories")
	}
	return rl.Repositories(ctx, last, fn)
}

// readOnlyTarget is a repository of a readOnlyStore.
type readOnlyTarget struct{ cas.ReadOnlyTarget }

var errReadOnly = fmt.Errorf("this registry is read-only: %w", cas.ErrUnsupported)

func (readOnlyTarget) Push(context.Context, ocispec.Descriptor, io.Reader) error { return errReadOnly }

func (readOnlyTarget) Tag(context.Context, ocispec.Descriptor, string) error { return errReadOnly }

func (t readOnlyTarget) Tags(ctx context.Context, last string, fn func([]string) error) error {
	tl, ok := t.ReadOnlyTarget.(cas.TagLister)
	if !ok {
		return newError(CodeUnsupported, "this store cannot list tags")
	}
	return tl.Tags(ctx, last, fn)
}

// Referrers lists the target's referrers when it can, and otherwise
// answers as the handler does for a store without a referrers index: 404,
// which clients read as "use the tag schema".
func (t readOnlyTarget) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	rl, ok := t.ReadOnlyTarget.(cas.ReferrerLister)
	if !ok {
		return nil, newError(CodeUnsupported, "this store keeps no referrers index").withStatus(http.StatusNotFound)
	}
	return rl.Referrers(ctx, subject)
}

// FetchRange reads the range from the target's own FetchRange, or skips to
// it in a whole Fetch, as the handler does for a target without one.
func (t readOnlyTarget) FetchRange(ctx context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	if rf, ok := t.ReadOnlyTarget.(cas.RangeFetcher); ok {
		return rf.FetchRange(ctx, desc, offset, length)
	}
	rc, err := t.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		rc.Close()
		return nil, err
	}
	if length < 0 {
		return rc, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}

// lockSession takes the lock of session id and returns its release.
func (reg *Registry) lockSession(id string) func() {
	reg.mu.Lock()
	l := reg.sessions[id]
	if l == nil {
		l = &sessionLock{}
		reg.sessions[id] = l
	}
	l.refs++
	reg.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		reg.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(reg.sessions, id)
		}
		reg.mu.Unlock()
	}
}

// writes lists the routes that change the store.
var writes = map[string]bool{
	routeManifestPut: true, routeManifestDelete: true, routeBlobDelete: true,
	routeUploadPost: true, routeUploadPatch: true, routeUploadPut: true, routeUploadDelete: true,
}

// ServeHTTP implements http.Handler.
func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer reg.recover(w, r)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	t := parsePath(r.URL.Path)
	route := routeName(r.Method, t)
	switch {
	case t.resource == "":
		reg.writeError(w, r, newError(CodeNameUnknown, "no such endpoint: %s", r.URL.Path).withStatus(http.StatusNotFound), kindRegistry)
		return
	case route == routeUnknown:
		reg.writeError(w, r, newError(CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path), kindRegistry)
		return
	case reg.opts.ReadOnly && writes[route]:
		reg.writeError(w, r, newError(CodeUnsupported, "this registry is read-only"), kindRegistry)
		return
	case reg.opts.DisableDelete && (route == routeManifestDelete || route == routeBlobDelete):
		reg.writeError(w, r, newError(CodeUnsupported, "deletes are disabled on this registry"), kindRegistry)
		return
	}
	caller, err := reg.authorize(w, r, route, t.repo)
	if err != nil {
		reg.writeError(w, r, err, kindRegistry)
		return
	}
	switch route {
	case routePing:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("{}"))
		}
		return
	case routeCatalog:
		reg.catalog(w, r, caller)
		return
	}
	if err := oci.ValidateRepository(t.repo); err != nil {
		reg.writeError(w, r, newError(CodeNameInvalid, "%v", err).with(map[string]string{"name": t.repo}), kindRegistry)
		return
	}
	repo, err := reg.store.Repository(r.Context(), t.repo)
	if err != nil {
		reg.writeError(w, r, err, kindRegistry)
		return
	}
	rq := &request{reg: reg, w: w, r: r, name: t.repo, ref: t.ref, repo: repo, caller: caller}
	switch route {
	case routeUploadPost, routeUploadPatch, routeUploadPut:
		release, ok := rq.admitUpload()
		if !ok {
			return
		}
		defer release()
	}
	switch route {
	case routeTagsList:
		rq.tagsList()
	case routeManifestGet, routeManifestHead:
		rq.getManifest()
	case routeManifestPut:
		rq.putManifest()
	case routeManifestDelete:
		rq.deleteManifest()
	case routeBlobGet, routeBlobHead:
		rq.getBlob()
	case routeBlobDelete:
		rq.deleteBlob()
	case routeUploadPost:
		rq.startUpload()
	case routeUploadGet, routeUploadPatch, routeUploadPut, routeUploadDelete:
		rq.session(route)
	case routeReferrers:
		rq.referrers()
	}
}

// authorize asks the Authorizer who sent r and whether it may do what
// route needs on repo (an invalid name is let through, to be refused as
// one). The repository name is checked only afterwards, so that an
// unauthenticated client learns nothing of it.
func (reg *Registry) authorize(w http.ResponseWriter, r *http.Request, route, repo string) (Caller, error) {
	if reg.opts.Authorizer == nil {
		return everyone{}, nil
	}
	caller, err := reg.opts.Authorizer.Authenticate(r)
	if err != nil {
		return nil, err
	}
	recordCaller(w, caller.Name())
	if err := caller.Authorize(repo, routeAction[route]); err != nil {
		return nil, err
	}
	return caller, nil
}

// recover turns a panic of a handler into a 500 and a log line, so one bad
// request cannot take the server down. http.ErrAbortHandler is net/http's
// own way to abort a response and passes through.
func (reg *Registry) recover(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v)
	}
	reg.log.Error("registry handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
	// If the header was already sent this only adds to a broken
	// response, which the client detects by its length.
	reg.writeError(w, r, newError(CodeUnknown, "internal error"), kindRegistry)
}

// request is one API request on a repository.
type request struct {
	reg  *Registry
	w    http.ResponseWriter
	r    *http.Request
	name string
	ref  string
	repo cas.Target
	// caller is who sent the request (everyone without an Authorizer).
	caller Caller
}

func (rq *request) fail(err error, k kind) { rq.reg.writeError(rq.w, rq.r, err, k) }
