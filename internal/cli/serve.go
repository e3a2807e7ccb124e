package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/spf13/cobra"
)

// Defaults of gantry serve.
const (
	defaultServeAddr       = "127.0.0.1:5000"
	defaultUploadTTL       = 24 * time.Hour
	defaultEmptyUploadTTL  = 10 * time.Minute
	defaultPurgeInterval   = 5 * time.Minute
	defaultShutdownTimeout = 30 * time.Second
)

type serveFlags struct {
	addr            string
	root            string
	allowSparse     bool
	uploadTTL       time.Duration
	emptyUploadTTL  time.Duration
	bodyIdle        time.Duration
	limits          registry.Options // MaxUploads and the other bounds
	purgeInterval   time.Duration
	metricsAddr     string
	shutdownTimeout time.Duration
	bundles         []string
	s3              string
	keepHost        bool
	tracker         bool
	redis           string
	mirror          mirrorFlag
	mirrorTTL       time.Duration
	auth            authFlags
	tls             serveTLSFlags
	gc              serveGCFlags
}

func newServeCmd(e *env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the embedded store as an OCI registry",
		Long: `serve runs an OCI Distribution registry (distribution-spec v1.1) over gantry's
embedded store, so docker, containerd, skopeo, crane, oras and buildah push
to it and pull from it. The store stays an OCI image layout that other tools
read once gantry has stopped.

It listens on 127.0.0.1:5000 by default: only this machine reaches it, over
plain HTTP. An address other machines reach (--addr 0.0.0.0:5000) is served
over HTTPS: --tls-cert and --tls-key name the certificate (with its chain)
and its key, PEM files read again when they change on disk (looked at every
few seconds; open connections keep their certificate, and a new pair that
does not load leaves the old one in use, logged once), so a renewal needs no
restart. TLS 1.2 at least; clients that offer HTTP/2 get it. --metrics-addr
is served the same way. --insecure-http serves plain HTTP on such an
address anyway: behind a proxy that terminates TLS, or on a network you
trust. Without --htpasswd anyone who reaches the port may push and delete.

With --htpasswd FILE, requests need credentials: the users of the file
(bcrypt hashes only, htpasswd -B) log in as with any registry (docker
login, crane auth login, skopeo --creds, oras login, ctr --user). A request
without acceptable credentials gets 401 with a Bearer challenge naming the
token endpoint gantry serves at /token; Basic credentials are accepted on
every request too. By default every user may pull and push everything,
and anonymous requests nothing; the config file's serve.auth section says
otherwise (see docs/access-control.md):

  serve:
    htpasswd: /etc/gantry/htpasswd
    auth:
      groups: {ci: [builder]}
      grants:
        - {repositories: "**", users: [admin], actions: ["*"]}
        - {repositories: "team-a/**", users: [alice], groups: [ci], actions: [pull, push]}
      anonymous:
        - {repositories: "public/**", actions: [pull]}

A known user without the grant gets 403 DENIED, an expired or forged token
401 with error="invalid_token", and a client address with too many failed
logins 429 with Retry-After.

With --gc-interval, it collects garbage while it serves (off by default:
what goes is a decision about what the registry keeps): the content deleted
or no longer referenced in each repository, once let go of longer than
--gc-grace ago, and the tags the --gc-* retention rules remove, as gantry gc
does on a stopped store. In the config file: serve: {gc: {interval: 1h}}.
Each run logs one line and counts into /metrics (gantry_gc_*).

Besides the registry API under /v2/, it serves:
  /healthz   200 while the store is open, 503 once shutdown has begun (or,
             with --tracker --redis, while Redis does not answer)
  /metrics   Prometheus metrics (on --metrics-addr instead, when given)
  /token     with --htpasswd, the token endpoint of the challenges
  /p2p/v1/   with --tracker, the tracker of gantry agent's swarms, as gantry
             tracker runs it (agents give --tracker http://ADDR, https://
             with --tls-cert); with --redis, several such servers are
             replicas of one tracker

Each request is logged on one line at info level (method, path, route,
status, bytes in and out, duration, remote address, and with --htpasswd the
user). Upload sessions that nothing has written to for --upload-ttl are
removed, with their bytes, every few minutes; sessions that never received a
byte go after --empty-upload-ttl.

Slow or greedy clients are bounded: a request body that sends no byte for
--body-idle-timeout fails (an upload keeps what came and can be resumed),
and uploads in flight (--max-uploads, --max-repository-uploads) and upload
sessions open (--max-upload-sessions, --max-repository-upload-sessions) are
capped, past which clients get 429 TOOMANYREQUESTS with Retry-After. The
descriptor limit is raised to the hard limit at start.

On SIGTERM or SIGINT gantry stops accepting connections, lets requests in
flight finish for up to --shutdown-timeout, then closes the store (writing
index.json) and exits 0.

With --mirror, gantry serve is a pull-through mirror: the names an upstream
serves are pulled from it into the store on first use (one upstream fetch
per blob however many clients ask at once, streamed to them as it arrives),
tags are resolved at the upstream again after --mirror-ttl (the cached tag
is served while the upstream is down), and pushes to those names are
refused; other names are pushed to and pulled from as usual. See
docs/mirror.md; gantry serve containerd-config prints containerd's
hosts.toml.

One process at a time uses a store: a second gantry on the same --root fails
at once, naming the process that holds it.

With --s3 s3://BUCKET/PREFIX?endpoint=URL the store is in an S3 bucket
(AWS, MinIO or any S3-compatible server honouring If-Match and
If-None-Match on PUT) instead of --root, and any number of gantry serve
replicas may serve the same location behind a load balancer: a push through
one is pulled through another at once, and tags written at once through
different replicas are all kept. Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, the shared credentials file (AWS_PROFILE) or the
instance role. See docs/s3.md.`,
		Example: `  # serve the default store on this machine only
  gantry serve

  # serve a given directory to the network over HTTPS, metrics on a separate port
  gantry serve --addr 0.0.0.0:5000 --root /srv/gantry --metrics-addr 127.0.0.1:9090 \
    --tls-cert /etc/gantry/tls.crt --tls-key /etc/gantry/tls.key

  # the same from the environment or the config file (serve: {addr: ..., allow-sparse: true})
  GANTRY_ADDR=0.0.0.0:5000 GANTRY_ROOT=/srv/gantry GANTRY_TLS_CERT=/etc/gantry/tls.crt \
    GANTRY_TLS_KEY=/etc/gantry/tls.key gantry serve

  # require credentials; tokens signed with a key replicas share
  gantry serve --addr 0.0.0.0:5000 --htpasswd /etc/gantry/htpasswd --token-key /etc/gantry/token.pem

  # serve a bundle (all its volumes) read-only, in place, without unpacking it;
  # registry.local:5000/apps/api:v1 is served as apps/api:v1, as bundle load
  # stores it (--keep-registry-host: registry.local_5000/apps/api:v1)
  gantry serve --addr 0.0.0.0:5000 --insecure-http --bundle fleet.tar,fleet.002.tar

  # a pull-through mirror of Docker Hub (docker.io/library/nginx and nginx alike)
  gantry serve --mirror https://registry-1.docker.io

  # several upstreams by name prefix; pushes to other names are kept here
  gantry serve --mirror docker.io/=https://registry-1.docker.io --mirror ghcr.io/=https://ghcr.io

  # one of several replicas of a store in an S3 bucket
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... gantry serve --addr 0.0.0.0:5000 \
    --s3 's3://registry/prod?endpoint=https://minio.internal:9000'

  # a free port, for tests: the address is logged as "listening addr=127.0.0.1:NNNNN"
  gantry serve --addr 127.0.0.1:0 --root "$(mktemp -d)"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", defaultServeAddr, "address to listen on, HOST:PORT (port 0: any free port)")
	fl.StringVar(&f.root, "root", defaultRoot(), "store directory (env GANTRY_ROOT)")
	fl.BoolVar(&f.allowSparse, "allow-sparse", false, "accept indexes whose platform manifests are not all present (sparse indexes, as platform-filtered copies push them)")
	fl.DurationVar(&f.uploadTTL, "upload-ttl", defaultUploadTTL, "remove upload sessions idle for longer than this")
	fl.DurationVar(&f.emptyUploadTTL, "empty-upload-ttl", defaultEmptyUploadTTL, "remove upload sessions that received no bytes after this (at most --upload-ttl)")
	fl.DurationVar(&f.bodyIdle, "body-idle-timeout", registry.DefaultBodyIdleTimeout, "fail a request whose body sends no byte for this long (an upload keeps what came and can be resumed)")
	fl.IntVar(&f.limits.MaxUploads, "max-uploads", registry.DefaultMaxUploads, "upload requests served at once; more get 429 with Retry-After (-1: no bound)")
	fl.IntVar(&f.limits.MaxRepositoryUploads, "max-repository-uploads", registry.DefaultMaxRepositoryUploads, "upload requests served at once in one repository (-1: no bound)")
	fl.IntVar(&f.limits.MaxSessions, "max-upload-sessions", registry.DefaultMaxSessions, "upload sessions open at once; more POSTs get 429 (-1: no bound)")
	fl.IntVar(&f.limits.MaxRepositorySessions, "max-repository-upload-sessions", registry.DefaultMaxRepositorySessions, "upload sessions open at once in one repository (-1: no bound)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics and /healthz on this address instead of --addr")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long requests in flight may run on after SIGTERM")
	fl.DurationVar(&f.purgeInterval, "purge-interval", defaultPurgeInterval, "how often to look for idle upload sessions")
	fl.StringVar(&f.s3, "s3", "", s3Usage)
	fl.StringSliceVar(&f.bundles, "bundle", nil, "serve these bundle files (the volumes of one bundle) read-only, in place, instead of the store; --root is not used")
	fl.BoolVar(&f.keepHost, "keep-registry-host", false, "with --bundle: "+keepHostUsage)
	fl.BoolVar(&f.tracker, "tracker", false, "also serve the tracker of gantry agent's swarms under /p2p/v1/ (as gantry tracker does)")
	fl.StringVar(&f.redis, "redis", "", "with --tracker: share the tracker's state with its replicas through this Redis, redis://HOST:PORT/DB")
	fl.Var(&f.mirror, "mirror", mirrorUsage)
	fl.DurationVar(&f.mirrorTTL, "mirror-ttl", pullthrough.DefaultTagTTL, "with --mirror: resolve a cached tag at its upstream again once it is older than this")
	addServeTLSFlags(fl, &f.tls)
	cmd.AddCommand(newServeContainerdConfigCmd())
	addAuthFlags(fl, &f.auth)
	f.gc.add(fl)
	_ = fl.MarkHidden("purge-interval") // for tests; the default suits every --upload-ttl worth having
	return cmd
}

func (f serveFlags) check() error {
	if f.root == "" && len(f.bundles) == 0 && f.s3 == "" {
		return errors.New("no store directory: give --root DIR or set GANTRY_ROOT")
	}
	if f.redis != "" && !f.tracker {
		return errors.New("--redis shares the tracker's state: it goes with --tracker")
	}
	if f.s3 != "" && len(f.bundles) > 0 {
		return errors.New("--s3 and --bundle both name what to serve: give one")
	}
	if err := checkS3Location(f.s3); err != nil {
		return err
	}
	if len(f.mirror.upstreams) > 0 && len(f.bundles) > 0 {
		return errors.New("--mirror caches into the store and --bundle serves a bundle read-only: give one of them")
	}
	if f.mirrorTTL <= 0 {
		return fmt.Errorf("--mirror-ttl %s: want a positive duration", f.mirrorTTL)
	}
	if f.keepHost && len(f.bundles) == 0 {
		return errors.New("--keep-registry-host names a bundle's repositories: it goes with --bundle (bundle load takes it for the store)")
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT: %v", f.addr, err)
	}
	if f.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(f.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q: want HOST:PORT: %v", f.metricsAddr, err)
		}
	}
	if err := f.tls.check(map[string]string{"--addr": f.addr, "--metrics-addr": f.metricsAddr}); err != nil {
		return err
	}
	if f.uploadTTL <= 0 {
		return fmt.Errorf("--upload-ttl %s: want a positive duration", f.uploadTTL)
	}
	if f.emptyUploadTTL <= 0 {
		return fmt.Errorf("--empty-upload-ttl %s: want a positive duration", f.emptyUploadTTL)
	}
	if f.purgeInterval <= 0 {
		return fmt.Errorf("--purge-interval %s: want a positive duration", f.purgeInterval)
	}
	if f.bodyIdle <= 0 {
		return fmt.Errorf("--body-idle-timeout %s: want a positive duration", f.bodyIdle)
	}
	for name, v := range map[string]int{
		"--max-uploads": f.limits.MaxUploads, "--max-repository-uploads": f.limits.MaxRepositoryUploads,
		"--max-upload-sessions": f.limits.MaxSessions, "--max-repository-upload-sessions": f.limits.MaxRepositorySessions,
	} {
		if v == 0 {
			return fmt.Errorf("%s 0: want a positive bound, or -1 for none", name)
		}
	}
	if f.shutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %s: want 0 or more", f.shutdownTimeout)
	}
	if f.gc.interval > 0 && (f.s3 != "" || len(f.bundles) > 0) {
		return errors.New("--gc-interval collects garbage in the disk store (--root); an S3 store has no garbage collection yet and a bundle is served read-only")
	}
	return f.gc.check()
}

func runServe(ctx context.Context, e *env, f serveFlags) (err error) {
	if err := f.check(); err != nil {
		return usageError{err}
	}
	raiseFileLimit(e.log)
	tlsConf, err := f.tls.serverTLS(e.log)
	if err != nil {
		return err
	}
	regOpts := f.limits
	regOpts.AllowSparse, regOpts.Logger, regOpts.BodyIdleTimeout = f.allowSparse, e.log, f.bodyIdle
	access, err := newServeAuth(e, f.auth)
	if err != nil {
		return err
	}
	access.apply(&regOpts)
	health := &healthState{root: f.root}
	var trk *tracker.Tracker
	if f.tracker {
		var closeShared func()
		var err error
		trk, closeShared, err = newTracker(e, trackerFlags{redis: f.redis})
		if err != nil {
			return usageError{err}
		}
		defer closeShared()
		health.tracker = trk
	}
	var (
		reg   http.Handler
		store any        // the store served, for the abilities it may have (UploadPurger)
		stats storeStats // the disk store, for /metrics; nil for a bundle
	)
	// A bundle is verified before anything listens, so no client waits on
	// a bundle that is then refused; a store directory is opened (created)
	// only once the addresses are ours, so a busy port leaves no --root.
	var listeners []net.Listener
	defer func() {
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
		}
	}()
	if len(f.bundles) > 0 {
		b, err := openServedBundle(ctx, f.bundles, f.keepHost, e.log)
		if err != nil {
			return err
		}
		defer b.Close()
		reg, store, health.root = registry.NewReadOnly(b, regOpts), b, ""
		if listeners, err = listen(f); err != nil {
			return err
		}
	} else if f.s3 != "" {
		st, err := openS3Store(ctx, f.s3, e.log)
		if err != nil {
			return err
		}
		if listeners, err = listen(f); err != nil {
			return err
		}
		reg, store, health.root = registry.New(st, regOpts), st, ""
		if len(f.mirror.upstreams) > 0 { // a mirror whose cache the replicas share
			pt, err := openMirror(st, f, e.log)
			if err != nil {
				return err
			}
			defer pt.Close()
			reg = pt.Handler(registry.New(pt, regOpts))
		}
	} else {
		if listeners, err = listen(f); err != nil {
			return err
		}
		ds, derr := disk.Open(f.root, disk.Options{Logger: e.log, OnlineGC: f.gc.interval > 0})
		if derr != nil {
			return derr
		}
		defer func() {
			// Close writes index.json: a store closed cleanly is a complete
			// OCI layout for other tools.
			if cerr := ds.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close store %s: %w", f.root, cerr)
			}
		}()
		reg, store, stats = registry.New(ds, regOpts), ds, ds
		if len(f.mirror.upstreams) > 0 {
			pt, err := openMirror(ds, f, e.log)
			if err != nil {
				return err
			}
			defer pt.Close() // before the store's Close, deferred earlier
			reg = pt.Handler(registry.New(pt, regOpts))
		}
	}

	m := newServeMetrics(stats, e.log)
	access.register(m)
	ops := http.NewServeMux()
	ops.Handle("GET /metrics", m.handler())
	ops.Handle("GET /healthz", health)

	handler := access.wrap(reg)
	if trk != nil {
		tctx, stopTracker := context.WithCancel(ctx)
		defer stopTracker()
		go trk.Run(tctx)
		handler = withTracker(handler, trk)
	}
	if f.metricsAddr == "" {
		handler = withOps(handler, ops)
	}
	srv := &http.Server{
		Handler:           instrument(handler, e.log, m),
		TLSConfig:         tlsConf.Clone(), // its own: HTTP/2 setup writes to it
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		// Blobs take as long as they take: no read or write timeout. A
		// body that stalls fails after --body-idle-timeout (registry).
	}
	servers := []*http.Server{srv}
	ln := listeners[0]
	if f.metricsAddr != "" {
		servers = append(servers, &http.Server{
			Handler:           instrument(ops, e.log, m),
			TLSConfig:         tlsConf.Clone(), // its own: HTTP/2 setup writes to it
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		})
	}

	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- serveOn(s, listeners[i]) }()
	}
	if len(f.bundles) > 0 {
		// --root is not used: naming it would send whoever reads the log
		// to a directory that has nothing to do with what is served.
		e.log.Info("listening", "addr", ln.Addr().String(), "bundle", strings.Join(f.bundles, ","), "read_only", true, "tls", tlsConf != nil)
	} else if f.s3 != "" {
		e.log.Info("listening", "addr", ln.Addr().String(), "s3", f.s3, "allow_sparse", f.allowSparse, "upload_ttl", f.uploadTTL, "tls", tlsConf != nil)
	} else {
		e.log.Info("listening", "addr", ln.Addr().String(), "root", f.root, "allow_sparse", f.allowSparse, "upload_ttl", f.uploadTTL, "tls", tlsConf != nil)
	}
	if len(listeners) > 1 {
		e.log.Info("metrics listening", "addr", listeners[1].Addr().String())
	}

	gcCtx, stopGC := context.WithCancel(ctx)
	gcDone := startGC(gcCtx, e.log, store, f.gc, m)
	purgeDone := make(chan struct{})
	purgeCtx, stopPurge := context.WithCancel(ctx)
	go func() {
		defer close(purgeDone)
		purgeLoop(purgeCtx, e.log, store, f.purgeInterval, cas.PurgeOptions{Idle: f.uploadTTL, IdleEmpty: f.emptyUploadTTL}, m)
	}()

	var serveErr error
	select {
	case <-ctx.Done():
		e.log.Info("shutting down", "reason", context.Cause(ctx), "timeout", f.shutdownTimeout)
	case serveErr = <-errc:
		// A server stopped on its own: shut the others down too.
	}
	health.stopping.Store(true)
	stopPurge()
	<-purgeDone
	stopGC()
	<-gcDone
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if trk != nil {
		trk.Close() // its streams never end on their own
	}
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			e.log.Warn("requests still in flight at the shutdown timeout were cut off", "timeout", f.shutdownTimeout)
			_ = s.Close()
		}
	}
	// Close does not wait for the handlers it cut off; their reads and
	// writes now fail fast. Wait for them before closing the store under
	// them, though not forever.
	waitHandlers(&m.handlers, 10*time.Second, e.log)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", f.addr, serveErr)
	}
	e.log.Info("stopped")
	return nil
}

// listen takes --addr and --metrics-addr. The net package's error names
// the address.
func listen(f serveFlags) ([]net.Listener, error) {
	const hint = "another process listens there: choose another address, or port 0 for any free one"
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w (%s)", err, hint)
	}
	if f.metricsAddr == "" {
		return []net.Listener{ln}, nil
	}
	mln, err := net.Listen("tcp", f.metricsAddr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--metrics-addr: %w (%s)", err, hint)
	}
	return []net.Listener{ln, mln}, nil
}

// waitHandlers waits for wg, for at most limit.
func waitHandlers(wg *sync.WaitGroup, limit time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		log.Warn("handlers still running after shutdown; closing the store anyway", "waited", limit)
	}
}

// withOps sends /healthz and /metrics to ops and everything else to the
// registry. The registry's paths are matched by the registry itself, not
// by a ServeMux, which would clean and redirect them.
func withOps(reg, ops http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/metrics":
			ops.ServeHTTP(w, r)
		default:
			reg.ServeHTTP(w, r)
		}
	})
}

// withTracker serves the tracker's paths with trk and the rest with reg.
func withTracker(reg http.Handler, trk *tracker.Tracker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/p2p/") {
			trk.ServeHTTP(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	})
}

// purgeLoop removes idle upload sessions every interval, when the store
// keeps sessions that can be expired.
func purgeLoop(ctx context.Context, log *slog.Logger, store any, interval time.Duration, opts cas.PurgeOptions, m *serveMetrics) {
	p, ok := store.(cas.UploadPurger)
	if !ok {
		log.Debug("the store does not expire upload sessions")
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, bytes, err := p.PurgeUploads(ctx, opts)
		if n > 0 {
			m.uploadsPurged.Add(float64(n))
			m.uploadBytesPurged.Add(float64(bytes))
			log.Info("purged idle uploads", "sessions", n, "bytes", bytes, "idle", opts.Idle, "idle_empty", opts.IdleEmpty)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("purging idle uploads", "err", err)
		}
	}
}

// healthState answers /healthz: 200 while the store is open and its layout
// is reachable, 503 once shutdown has begun, when the directory is gone or
// when the tracker's Redis does not answer.
type healthState struct {
	root     string
	tracker  *tracker.Tracker // with --tracker
	stopping atomic.Bool
}

func (h *healthState) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "shutting down")
		return
	}
	if h.tracker != nil {
		if err := h.tracker.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
	}
	if h.root == "" { // serving a bundle: nothing on disk to lose
		fmt.Fprintln(w, "ok")
		return
	}
	if _, err := os.Stat(filepath.Join(h.root, "oci-layout")); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "store unreachable: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}
