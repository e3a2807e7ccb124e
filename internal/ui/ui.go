package ui

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/opencontainers/go-digest"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the web view is served under.
const Prefix = "/ui/"

// Options configures a UI. The zero value works.
type Options struct {
	// Authorizer decides who a request comes from and what it may pull,
	// the registry's own (registry.Options.Authorizer). Default: everyone
	// sees everything.
	Authorizer registry.Authorizer
	// Workers is the number of images analyzed at once in the
	// background, each reading one layer at a time. Default: half the
	// CPUs, at least 1.
	Workers int
	// Limits bounds each analysis, as for gantry check (zero: defaults).
	Limits image.Limits
	// MaxCachedEntries bounds the tar entries of the layer scans kept
	// (0: image.DefaultScanCacheEntries).
	MaxCachedEntries int
	// Logger receives failed analyses and refreshes. Default: discard.
	Logger *slog.Logger
	// Now is the clock, for ages (default time.Now).
	Now func() time.Time
	// Rescan is how often every repository is read again (tags,
	// manifests and configs; layers already analyzed are not read again),
	// for changes that do not come through the registry: online garbage
	// collection, another replica's pushes. Default DefaultRescan.
	Rescan time.Duration
}

// DefaultRescan is the default of Options.Rescan.
const DefaultRescan = 10 * time.Minute

// UI is the web view: an http.Handler for the paths under Prefix. Run
// does its background work. It is safe for concurrent use.
type UI struct {
	store readOnly
	opts  Options
	log   *slog.Logger
	scans *image.ScanCache
	mux   *http.ServeMux

	mu       sync.Mutex
	repos    map[string]*repoState          // summaries, by repository
	loaded   map[digest.Digest]*loadedImage // manifests and configs, by the digest a tag points at
	analyses map[digest.Digest]*analysis    // by image manifest digest
	pushed   map[string]time.Time           // repository:tag -> when this process saw it pushed
	gen      uint64                         // bumped on every change of repos
	fleet    fleetCache

	work    chan struct{} // a nudge: the queues have work
	refresh []string      // repositories to summarize again
	queued  map[string]bool
	pending []job // images to analyze
	reading int   // refreshes taken from the queue and not finished
}

// job is one image to analyze.
type job struct {
	repo string
	img  *loadedImage
}

// readOnly is what the view reads of a store: cas.ReadOnlyStore, which
// cas.Store does not satisfy as is (its Repository returns a cas.Target).
type readOnly interface {
	Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error)
}

// writable lets a cas.Store be read as a readOnly.
type writable struct{ s cas.Store }

func (w writable) Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error) {
	return w.s.Repository(ctx, name)
}

func (w writable) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	rl, ok := w.s.(cas.RepositoryLister)
	if !ok {
		return fmt.Errorf("list repositories: %w", cas.ErrUnsupported)
	}
	return rl.Repositories(ctx, last, fn)
}

// New returns the web view of store. Call Run for the background work:
// without it, pages show every image as not yet analyzed and repositories
// without summaries. The store lists its repositories (cas.RepositoryLister)
// and their tags (cas.TagLister) for the view to show them.
func New(store cas.Store, opts Options) *UI {
	return newUI(writable{store}, opts)
}

// NewReadOnly returns the web view of a read-only store (a bundle served
// in place).
func NewReadOnly(store cas.ReadOnlyStore, opts Options) *UI {
	return newUI(store, opts)
}

func newUI(store readOnly, opts Options) *UI {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	u := &UI{
		store: store, opts: opts, log: opts.Logger,
		scans:    image.NewScanCache(opts.MaxCachedEntries),
		repos:    map[string]*repoState{},
		loaded:   map[digest.Digest]*loadedImage{},
		analyses: map[digest.Digest]*analysis{},
		pushed:   map[string]time.Time{},
		work:     make(chan struct{}, 1),
		queued:   map[string]bool{},
	}
	u.routes()
	return u
}

func (u *UI) routes() {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(fmt.Sprintf("ui: embedded assets: %v", err)) // the build embeds them
	}
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", withCache(http.FileServerFS(static))))
	m.HandleFunc("GET /ui/{$}", u.reposPage)
	m.HandleFunc("GET /ui/repo/{name...}", u.repoPage)
	m.HandleFunc("GET /ui/image/{ref...}", u.imagePage)
	m.HandleFunc("GET /ui/fleet", u.fleetPage)
	m.HandleFunc("GET /ui/login", u.login)
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	u.mux = m
}

// withCache lets browsers keep the embedded assets a while.
func withCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the pages under Prefix.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	u.mux.ServeHTTP(w, r)
}

// Run summarizes every repository of the store, then analyzes their images
// and whatever Pushed reports, until ctx ends. Workers read the store while
// it runs: cancel ctx and let Run return before closing the store.
func (u *UI) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	jobs := make(chan job)
	for range u.opts.Workers {
		wg.Go(func() {
			for j := range jobs {
				u.analyze(ctx, j)
			}
		})
	}
	defer close(jobs)
	rescan := func() {
		if err := u.queueAll(ctx); err != nil && ctx.Err() == nil {
			u.log.Warn("web view: listing repositories", "err", err)
		}
	}
	rescan()
	tick := time.NewTicker(u.opts.Rescan)
	defer tick.Stop()
	for {
		repo, j, ok := u.next()
		switch {
		case repo != "":
			if err := u.Refresh(ctx, repo); err != nil && ctx.Err() == nil {
				u.log.Warn("web view: reading repository", "repository", repo, "err", err)
			}
			u.mu.Lock()
			u.reading--
			u.mu.Unlock()
			continue
		case ok:
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case <-u.work:
		case <-tick.C:
			u.prune()
			rescan()
		case <-ctx.Done():
			return
		}
	}
}

// next takes a repository to refresh, else an image to analyze. Refreshes
// go first: they are cheap and make the pages current.
func (u *UI) next() (string, job, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.refresh) > 0 {
		r := u.refresh[0]
		u.refresh = u.refresh[1:]
		delete(u.queued, r)
		u.reading++
		return r, job{}, false
	}
	if len(u.pending) > 0 {
		j := u.pending[0]
		u.pending = u.pending[1:]
		return "", j, true
	}
	return "", job{}, false
}

// prune forgets the manifests and analyses of images no repository's
// summary names any more (deleted, untagged, collected), so the view's
// memory follows the store's tags, not its history.
func (u *UI) prune() {
	u.mu.Lock()
	defer u.mu.Unlock()
	live := map[digest.Digest]bool{}
	for _, st := range u.repos {
		for _, t := range st.tags {
			live[t.desc.Digest] = true
			if t.img.loaded != nil {
				live[t.img.loaded.Descriptor.Digest] = true
			}
		}
	}
	for d := range u.loaded {
		if !live[d] {
			delete(u.loaded, d)
		}
	}
	for d, a := range u.analyses {
		if !live[d] && (a.state == stateReady || a.state == stateFailed) {
			delete(u.analyses, d)
		}
	}
}

// nudge wakes Run.
func (u *UI) nudge() {
	select {
	case u.work <- struct{}{}:
	default:
	}
}

// Pushed tells the view that repository changed (a manifest was pushed
// or deleted, tag is the reference it was pushed under); Run reads it again
// and analyzes what is new.
func (u *UI) Pushed(repository, tag string) {
	u.mu.Lock()
	if tag != "" {
		u.pushed[repository+":"+tag] = u.opts.Now()
	}
	if !u.queued[repository] {
		u.queued[repository] = true
		u.refresh = append(u.refresh, repository)
	}
	u.mu.Unlock()
	u.nudge()
}

// queueAll queues every repository of the store for a refresh, and
// forgets those the store no longer lists.
func (u *UI) queueAll(ctx context.Context) error {
	rl, ok := u.store.(cas.RepositoryLister)
	if !ok {
		return nil
	}
	listed := map[string]bool{}
	err := rl.Repositories(ctx, "", func(page []string) error {
		for _, r := range page {
			listed[r] = true
			u.Pushed(r, "")
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A repository no longer listed lost its last tag without the view
	// hearing of it.
	u.mu.Lock()
	for r := range u.repos {
		if !listed[r] {
			delete(u.repos, r)
			u.gen++
		}
	}
	u.mu.Unlock()
	return nil
}

// Idle reports whether the background work is done: nothing left to
// refresh or analyze.
func (u *UI) Idle() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.refresh) > 0 || len(u.pending) > 0 || u.reading > 0 {
		return false
	}
	for _, a := range u.analyses {
		if a.state == stateRunning || a.state == statePending {
			return false
		}
	}
	return true
}

// LayersScanned is the number of layers the background analysis has read
// and decompressed; layers shared between images count once.
func (u *UI) LayersScanned() int64 { return u.scans.Scanned() }
