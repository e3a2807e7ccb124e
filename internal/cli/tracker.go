package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

const defaultTrackerListen = "127.0.0.1:7070"

// trackerFlags are the tracker's settings, gantry tracker's and gantry
// serve --tracker's.
type trackerFlags struct {
	leaseTimeout time.Duration
	redis        string
}

// newTracker returns the tracker the flags describe, and what closes its
// connection to Redis.
func newTracker(e *env, f trackerFlags) (*tracker.Tracker, func(), error) {
	opts := tracker.Options{Logger: e.log, LeaseTimeout: f.leaseTimeout}
	closeShared := func() {}
	if f.redis != "" {
		u, err := url.Parse(f.redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return nil, nil, fmt.Errorf("--redis: want redis://HOST:PORT/DB (or rediss:// for TLS)")
		}
		rl, err := tracker.OpenRedis(f.redis, tracker.RedisOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("--redis: %w", err)
		}
		// The Redis client's own messages (a connection lost, a dial
		// retried) are details of what the tracker reports: debug lines.
		redis.SetLogger(redisLog{e.log})
		opts.Shared = rl
		closeShared = func() { _ = rl.Close() }
	}
	return tracker.New(opts), closeShared, nil
}

// redisLog writes the Redis client's messages to the log at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

func newTrackerCmd(e *env) *cobra.Command {
	var listen string
	f := trackerFlags{}
	cmd := &cobra.Command{
		Use:   "tracker",
		Short: "Run the tracker that forms the agents' swarms",
		Long: `tracker keeps, for every blob the agents (gantry agent) are distributing,
which agents want it and which hold it, which one agent fetches it from the
upstream, and the hashes of its pieces as they land; it pushes each change
to the agents concerned on one long-lived stream per agent.

By default its state is in memory: after a restart the agents announce
again everything they want and hold, within a second or two. A fetcher
that publishes nothing for --lease-timeout loses its turn to the next agent.

With --redis, several trackers are replicas of one: every change goes
through a log in Redis (a stream) that every replica applies in the same
order, so agents announcing to different replicas form one swarm, see each
other's pieces on their streams, and get one fetcher per blob. Give the
agents every replica (--tracker URL,URL...): an agent whose replica dies
goes to another and announces again. A replica silent for 5 s has its
agents' places ended by the others.

/healthz answers 200 while it runs (503 while Redis does not answer);
/metrics has Prometheus gauges of the agents connected to this replica, the
swarms, their members and the swarms being fetched from the upstream.`,
		Example: `  gantry tracker --listen 0.0.0.0:7070

  # two replicas sharing their state
  gantry tracker --listen 0.0.0.0:7070 --redis redis://redis.example.com:6379/0`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usageError{fmt.Errorf("--listen %q: want HOST:PORT: %v", listen, err)}
			}
			if f.leaseTimeout <= 0 {
				return usageError{fmt.Errorf("--lease-timeout %s: want a positive duration", f.leaseTimeout)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTracker(cmd.Context(), e, listen, f)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", defaultTrackerListen, "address to listen on, HOST:PORT")
	cmd.Flags().DurationVar(&f.leaseTimeout, "lease-timeout", 10*time.Second, "pass a fetcher's turn on when it publishes nothing for this long")
	cmd.Flags().StringVar(&f.redis, "redis", "", "share the state with other replicas through this Redis, redis://[:PASSWORD@]HOST:PORT/DB (default: in memory)")
	return cmd
}

func runTracker(ctx context.Context, e *env, listen string, f trackerFlags) error {
	trk, closeShared, err := newTracker(e, f)
	if err != nil {
		return usageError{err}
	}
	defer closeShared()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/p2p/", trk)
	mux.Handle("GET /metrics", trackerMetrics(trk))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := trk.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)}
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	go trk.Run(tctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info("listening", "addr", ln.Addr().String(), "shared", f.redis != "")
	var serveErr error
	select {
	case <-ctx.Done():
		e.log.Info("shutting down", "reason", context.Cause(ctx))
	case serveErr = <-errc:
	}
	// The agents' streams never end on their own: close rather than wait.
	// With replicas, the agents come to the others with their sessions and
	// leases; those that do not are ended once this replica is silent.
	trk.Close()
	_ = srv.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("tracker: %w", serveErr)
	}
	return nil
}

// trackerMetrics serves the tracker's counts as Prometheus gauges.
func trackerMetrics(trk *tracker.Tracker) http.Handler {
	reg := prometheus.NewRegistry()
	for name, help := range map[string]string{
		"gantry_tracker_streams":  "Agents connected (one stream each).",
		"gantry_tracker_swarms":   "Blobs being distributed or held by agents.",
		"gantry_tracker_members":  "Places in all swarms (an agent in two swarms counts twice).",
		"gantry_tracker_fetching": "Swarms with a fetcher streaming the blob from the upstream.",
	} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			s := trk.Stats()
			return float64(map[string]int{
				"gantry_tracker_streams":  s.Streams,
				"gantry_tracker_swarms":   s.Swarms,
				"gantry_tracker_members":  s.Members,
				"gantry_tracker_fetching": s.Fetching,
			}[name])
		}))
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
