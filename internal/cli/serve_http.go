package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics are the Prometheus metrics of gantry serve, in a registry of
// their own (no global state).
type serveMetrics struct {
	reg               *prometheus.Registry
	requests          *prometheus.CounterVec
	bytesIn, bytesOut *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	uploadDuration    prometheus.Histogram
	uploadsPurged     prometheus.Counter
	uploadBytesPurged prometheus.Counter
	inFlight          prometheus.Gauge
	uploads           *uploadClock

	// handlers counts the handlers running, so shutdown can wait for the
	// ones http.Server.Close cut off before it closes the store.
	handlers sync.WaitGroup
}

// newServeMetrics makes the metrics of gantry serve; store, when not nil, is
// counted into gantry_store_blobs and gantry_store_size_bytes (a bundle
// served read-only has no store to count).
func newServeMetrics(store storeStats, log *slog.Logger) *serveMetrics {
	m := &serveMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "status"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_http_request_bytes_total",
			Help: "Bytes of request bodies read, by route.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_http_response_bytes_total",
			Help: "Bytes of response bodies written, by route.",
		}, []string{"route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_http_request_duration_seconds",
			Help:    "Time from a request's headers to the end of its response, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		uploadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_upload_duration_seconds",
			Help:    "Time from the start of a blob upload (POST) to its completion (the PUT that commits it, or the POST of a monolithic upload).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5ms to about 22 minutes
		}),
		uploadsPurged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_uploads_purged_total",
			Help: "Idle upload sessions removed after --upload-ttl.",
		}),
		uploadBytesPurged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_upload_purged_bytes_total",
			Help: "Bytes of the idle upload sessions removed.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		uploads: newUploadClock(),
	}
	m.reg.MustRegister(m.requests, m.inFlight, m.bytesIn, m.bytesOut, m.duration, m.uploadDuration,
		m.uploadsPurged, m.uploadBytesPurged,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.reg.MustRegister(newStoreCollector(store, log))
	}
	return m
}

func (m *serveMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument logs one line per request and counts it in m. The
// ResponseWriter it hands on keeps the abilities of the server's own:
// io.ReaderFrom, so that a blob served from a file still goes out with
// sendfile, and http.Flusher.
func instrument(next http.Handler, log *slog.Logger, m *serveMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.handlers.Add(1)
		m.inFlight.Inc()
		route := routeName(r)
		body := &countingBody{rc: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		rw := &responseWriter{ResponseWriter: w}
		defer func() {
			m.inFlight.Dec()
			defer m.handlers.Done()
			took := time.Since(start)
			status := rw.statusCode()
			m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			m.bytesIn.WithLabelValues(route).Add(float64(body.n))
			m.bytesOut.WithLabelValues(route).Add(float64(rw.written))
			m.duration.WithLabelValues(route).Observe(took.Seconds())
			m.uploads.observe(route, r, status, rw.Header().Get("Location"), start, m.uploadDuration)
			level := slog.LevelInfo
			if route == "healthz" || route == "metrics" {
				level = slog.LevelDebug // probes and scrapes would drown the log
			}
			log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("in", body.n),
				slog.Int64("out", rw.written),
				slog.Duration("duration", took),
				slog.String("remote", r.RemoteAddr),
				rw.callerAttr())
		}()
		next.ServeHTTP(rw, r)
	})
}

// routeName names the route of r for metric labels: a fixed, small set.
func routeName(r *http.Request) string {
	switch r.URL.Path {
	case "/healthz":
		return "healthz"
	case "/metrics":
		return "metrics"
	case auth.DefaultTokenPath:
		return "token"
	}
	return registry.Route(r.Method, r.URL.Path)
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// responseWriter records the status and the bytes written. It implements
// io.ReaderFrom by handing the reader, unwrapped, to the server's own
// writer: net/http then sends a file with sendfile(2) rather than through a
// userspace buffer, which matters for blob GETs. It implements http.Flusher
// and Unwrap (for http.ResponseController) too.
type responseWriter struct {
	http.ResponseWriter
	status  int
	written int64
	// caller is who the registry or the token endpoint found the
	// request to come from (RecordCaller); hasCaller is false without
	// access control.
	caller    string
	hasCaller bool
}

// RecordCaller takes note of the request's user, "" for anonymous, for the
// access log.
func (w *responseWriter) RecordCaller(name string) { w.caller, w.hasCaller = name, true }

// callerAttr is the log attribute of the caller: user=NAME, user=-
// (anonymous), or nothing without access control.
func (w *responseWriter) callerAttr() slog.Attr {
	switch {
	case !w.hasCaller:
		return slog.Attr{}
	case w.caller == "":
		return slog.String("user", "-")
	}
	return slog.String("user", w.caller)
}

var (
	_ io.ReaderFrom = (*responseWriter)(nil)
	_ http.Flusher  = (*responseWriter)(nil)
)

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom forwards src to the underlying writer's ReadFrom, so that an
// *os.File (or an io.LimitedReader over one) reaches net/http unchanged.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.written += n
	return n, err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// writerOnly hides every method but Write, so io.Copy does not loop back
// into ReadFrom.
type writerOnly struct{ io.Writer }

// uploadClock times blob uploads from their POST to the PUT that commits
// them, keyed by the upload's location. Sessions never finished are
// forgotten after a day, or sooner when many accumulate.
type uploadClock struct {
	mu      sync.Mutex
	started map[string]time.Time
}

const (
	uploadClockMax = 100_000
	uploadClockAge = 24 * time.Hour
)

func newUploadClock() *uploadClock { return &uploadClock{started: map[string]time.Time{}} }

func (c *uploadClock) observe(route string, r *http.Request, status int, location string, start time.Time, h prometheus.Histogram) {
	switch {
	case route == "upload_post" && status == http.StatusCreated:
		h.Observe(time.Since(start).Seconds()) // monolithic upload or mount in one request
	case route == "upload_post" && status == http.StatusAccepted && location != "":
		c.mu.Lock()
		if len(c.started) >= uploadClockMax {
			c.sweep(time.Now())
		}
		c.started[locationPath(location)] = start
		c.mu.Unlock()
	case route == "upload_patch" && status == http.StatusAccepted && location != "" && locationPath(location) != r.URL.Path:
		// A registry may move a session to a new location after each chunk.
		c.mu.Lock()
		if t, ok := c.started[r.URL.Path]; ok {
			delete(c.started, r.URL.Path)
			c.started[locationPath(location)] = t
		}
		c.mu.Unlock()
	case route == "upload_put" && status == http.StatusCreated, route == "upload_delete":
		c.mu.Lock()
		t, ok := c.started[r.URL.Path]
		delete(c.started, r.URL.Path)
		c.mu.Unlock()
		if ok && route == "upload_put" {
			h.Observe(time.Since(t).Seconds())
		}
	}
}

// sweep forgets sessions older than uploadClockAge, or half of them when
// none is that old. c.mu is held.
func (c *uploadClock) sweep(now time.Time) {
	for k, t := range c.started {
		if now.Sub(t) > uploadClockAge {
			delete(c.started, k)
		}
	}
	for k := range c.started {
		if len(c.started) < uploadClockMax/2 {
			break
		}
		delete(c.started, k)
	}
}

// locationPath is the path of a Location header, absolute or relative.
func locationPath(loc string) string {
	if i := strings.Index(loc, "://"); i >= 0 {
		rest := loc[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			loc = rest[j:]
		} else {
			loc = "/"
		}
	}
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	return loc
}

// storeCollector reports what the store holds, as the store counts it
// (disk.Store.Stats). Counting reads every directory of blobs/, so the
// answer is kept for a few seconds: scrapes come every 15s or so, and a
// burst of them counts once.
type storeCollector struct {
	store        storeStats
	log          *slog.Logger
	bytes, blobs *prometheus.Desc

	mu    sync.Mutex
	at    time.Time
	stats disk.Stats
}

// storeStats is a store that can count what it holds.
type storeStats interface {
	Stats(ctx context.Context) (disk.Stats, error)
}

const storeStatsMaxAge = 10 * time.Second

func newStoreCollector(store storeStats, log *slog.Logger) *storeCollector {
	return &storeCollector{
		store: store,
		log:   log,
		bytes: prometheus.NewDesc("gantry_store_size_bytes", "Bytes of the blobs in the store.", nil, nil),
		blobs: prometheus.NewDesc("gantry_store_blobs", "Number of blobs in the store.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.blobs
}

// Collect implements prometheus.Collector. A store that cannot be counted
// keeps its last figures, and the failure is logged, not scraped: a
// metrics endpoint that fails would hide every other metric.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > storeStatsMaxAge {
		// Collect has no context; the store's directory reads are bounded.
		st, err := c.store.Stats(context.Background())
		if err != nil {
			c.log.Warn("counting the store's blobs for /metrics", "err", err)
		} else {
			c.stats = st
		}
		c.at = time.Now()
	}
	st := c.stats
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(c.blobs, prometheus.GaugeValue, float64(st.Blobs))
}
