package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
)

// serveGCFlags are gantry serve's garbage collection settings: --gc-*
// flags, or in the config file serve: {gc: {interval: 1h, keep-last: 10}}.
type serveGCFlags struct {
	interval time.Duration
	retentionFlags
}

// add registers the --gc-* flags on fl.
func (g *serveGCFlags) add(fl *pflag.FlagSet) {
	fl.DurationVar(&g.interval, "gc-interval", 0, "collect garbage online this often: deleted and unreferenced content older than --gc-grace, and tags the --gc-* retention rules remove (0: off)")
	g.retentionFlags.add(fl, "gc-")
}

func (g serveGCFlags) check() error {
	if g.interval < 0 {
		return fmt.Errorf("--gc-interval %s: want a positive duration, or 0 for off", g.interval)
	}
	if _, err := g.options(false); err != nil {
		return fmt.Errorf("--gc-*: %w", err)
	}
	return nil
}

// gcMetrics are the online garbage collection's Prometheus metrics.
type gcMetrics struct {
	runs      *prometheus.CounterVec
	blobs     prometheus.Counter
	bytes     prometheus.Counter
	duration  prometheus.Histogram
	lastPause prometheus.Gauge
	maxPause  prometheus.Gauge
	longest   time.Duration // maxPause's value; one loop writes it
}

func newGCMetrics(reg *prometheus.Registry) *gcMetrics {
	m := &gcMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_gc_runs_total",
			Help: "Garbage collection runs, by result (ok or error).",
		}, []string{"result"}),
		blobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_gc_blobs_reclaimed_total",
			Help: "Blob files garbage collection removed.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_gc_bytes_reclaimed_total",
			Help: "Bytes garbage collection reclaimed (blob files and temporary files).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_gc_duration_seconds",
			Help:    "Time a garbage collection run took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		lastPause: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_gc_last_pause_seconds",
			Help: "Longest time the last garbage collection run held the store's lock (what requests may wait behind).",
		}),
		maxPause: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_gc_max_pause_seconds",
			Help: "Longest time any garbage collection run since the start held the store's lock.",
		}),
	}
	reg.MustRegister(m.runs, m.blobs, m.bytes, m.duration, m.lastPause, m.maxPause)
	return m
}

// startGC runs the online garbage collection every interval until ctx
// ends, and returns a channel closed when it has stopped. With no disk
// store or a zero interval it does nothing.
func startGC(ctx context.Context, log *slog.Logger, store any, g serveGCFlags, m *serveMetrics) <-chan struct{} {
	done := make(chan struct{})
	ds, ok := store.(*disk.Store)
	if !ok || g.interval <= 0 {
		close(done)
		return done
	}
	opts, _ := g.options(false) // checked with the flags
	gm := newGCMetrics(m.reg)
	go func() {
		defer close(done)
		t := time.NewTicker(g.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			runGC(ctx, log, ds, opts, gm)
		}
	}()
	return done
}

// runGC is one online run: metrics and one log line.
func runGC(ctx context.Context, log *slog.Logger, ds *disk.Store, opts disk.GCOptions, gm *gcMetrics) {
	rep, err := ds.Collect(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		gm.runs.WithLabelValues("error").Inc()
		log.Error("garbage collection failed; the next run tries again", "err", err)
		return
	}
	gm.runs.WithLabelValues("ok").Inc()
	gm.blobs.Add(float64(rep.BlobsReclaimed))
	gm.bytes.Add(float64(rep.BytesReclaimed + rep.TempBytes))
	gm.duration.Observe(rep.Duration.Seconds())
	gm.lastPause.Set(rep.LongestPause.Seconds())
	gm.longest = max(gm.longest, rep.LongestPause)
	gm.maxPause.Set(gm.longest.Seconds())
	log.Info("garbage collection", "tags_removed", len(rep.TagsRemoved), "unlinked", len(rep.Unlinked),
		"blobs", rep.BlobsReclaimed, "bytes", rep.BytesReclaimed, "temps", rep.TempsRemoved, "temp_bytes", rep.TempBytes,
		"busy", len(rep.Busy), "duration", rep.Duration, "longest_pause", rep.LongestPause)
}
