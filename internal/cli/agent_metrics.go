package cli

import (
	"net/http"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// agentMetrics are the Prometheus metrics of gantry agent, in a registry
// of their own.
type agentMetrics struct {
	reg       *prometheus.Registry
	pulls     *prometheus.CounterVec
	firstByte prometheus.Histogram
	pullTime  prometheus.Histogram
	pullBytes prometheus.Counter
	fallbacks prometheus.Counter
}

func newAgentMetrics() *agentMetrics {
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	m := &agentMetrics{
		reg: prometheus.NewRegistry(),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_agent_pulls_total",
			Help: "Blob pulls served to clients, by outcome (ok or error).",
		}, []string{"outcome"}),
		firstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_agent_pull_first_byte_seconds",
			Help:    "Time from a blob request to its first byte.",
			Buckets: buckets,
		}),
		pullTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_agent_pull_duration_seconds",
			Help:    "Time from a blob request to its last byte.",
			Buckets: buckets,
		}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_agent_pulled_bytes_total",
			Help: "Bytes of blobs served to clients.",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_agent_pull_fallbacks_total",
			Help: "Pulls of blobs that went to the upstream because the swarm stalled.",
		}),
	}
	m.reg.MustRegister(m.pulls, m.firstByte, m.pullTime, m.pullBytes, m.fallbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch exports the node's own counters.
func (m *agentMetrics) watch(n *swarm.Node) {
	for name, help := range map[string]string{
		"gantry_agent_origin_bytes_total":   "Bytes taken from the upstream.",
		"gantry_agent_peer_bytes_total":     "Bytes taken from other agents.",
		"gantry_agent_served_bytes_total":   "Bytes sent to other agents.",
		"gantry_agent_origin_fetches_total": "Requests for blobs made to the upstream.",
		"gantry_agent_swarm_stalls_total":   "Blobs fetched from the upstream because their swarm stalled.",
		"gantry_agent_corrupt_pieces_total": "Pieces from peers that did not match their hash (the peer is dropped).",
		"gantry_agent_trees_left_total":     "Small blobs whose trees this agent left midway for the swarm (a parent failed or fell behind, or the blob stalled).",
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			s := n.Stats()
			return float64(map[string]int64{
				"gantry_agent_origin_bytes_total":   s.OriginBytes,
				"gantry_agent_peer_bytes_total":     s.PeerBytes,
				"gantry_agent_served_bytes_total":   s.ServedBytes,
				"gantry_agent_origin_fetches_total": s.OriginFetches,
				"gantry_agent_swarm_stalls_total":   s.Fallbacks,
				"gantry_agent_corrupt_pieces_total": s.CorruptPieces,
				"gantry_agent_trees_left_total":     s.TreesLeft,
			}[name])
		}))
	}
}

// observe counts one pull.
func (m *agentMetrics) observe(r swarm.PullRecord) {
	if r.Err != nil {
		m.pulls.WithLabelValues("error").Inc()
		return
	}
	m.pulls.WithLabelValues("ok").Inc()
	m.firstByte.Observe(r.FirstByte.Seconds())
	m.pullTime.Observe(r.Took.Seconds())
	m.pullBytes.Add(float64(r.Size))
	if r.Fallback {
		m.fallbacks.Inc()
	}
}

// mux serves /metrics and /healthz.
func (m *agentMetrics) mux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}
