package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/quota"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// quotaRecount is how often gantry serve counts what the governed
// repositories hold again, so that what garbage collection let go of
// (the blobs of a deleted manifest) is given back to the quotas.
const quotaRecount = time.Hour

// quotaKeys are the keys of one entry of serve.quotas.
var quotaKeys = []string{"repositories", "bytes", "tags"}

// serveQuotas are gantry serve's quotas, or nothing when the config file
// has none.
type serveQuotas struct {
	q *quota.Quotas
}

// newServeQuotas reads the config file's serve.quotas section:
//
//	serve:
//	  quotas:
//	    - {repositories: "team-a/**", bytes: 10GiB, tags: 500}
func newServeQuotas(e *env) (*serveQuotas, error) {
	raw, err := e.config.section("serve", "quotas")
	if err != nil || raw == nil {
		return &serveQuotas{}, err
	}
	rules, err := decodeQuotas(raw)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", e.configPath, err)
	}
	q, err := quota.New(rules)
	if err != nil {
		return nil, fmt.Errorf("config file %s: serve.%w", e.configPath, err)
	}
	return &serveQuotas{q: q}, nil
}

// decodeQuotas reads serve.quotas, refusing keys it does not know; bytes
// are a number or a size with a unit ("10GiB").
func decodeQuotas(raw []byte) ([]quota.Rule, error) {
	var items []map[string]any
	if err := yaml.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("serve.quotas: want a list of {repositories, bytes, tags}: %s", oneLine(err))
	}
	rules := make([]quota.Rule, 0, len(items))
	for i, it := range items {
		where := fmt.Sprintf("serve.quotas[%d]", i)
		if err := knownKeys(it, quotaKeys, where); err != nil {
			return nil, err
		}
		var r quota.Rule
		r.Repositories, _ = it["repositories"].(string)
		switch v := it["bytes"].(type) {
		case nil:
		case int:
			r.Bytes = int64(v)
		case float64: // 1e+10, as YAML writers (helm's toYaml) spell large numbers
			if v != math.Trunc(v) || v < 0 || v > math.MaxInt64 {
				return nil, fmt.Errorf("%s.bytes: %v: want a whole number of bytes", where, v)
			}
			r.Bytes = int64(v)
		case string:
			n, err := parseSize(v)
			if err != nil {
				return nil, fmt.Errorf("%s.bytes: %w", where, err)
			}
			r.Bytes = n
		default:
			return nil, fmt.Errorf("%s.bytes: %v: want a size such as 10GiB", where, v)
		}
		switch v := it["tags"].(type) {
		case nil:
		case int:
			r.Tags = v
		case float64:
			if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%s.tags: %v: want a whole number of tags", where, v)
			}
			r.Tags = int(v)
		default:
			return nil, fmt.Errorf("%s.tags: %v: want a number of tags", where, v)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// apply sets the registry's Quota.
func (s *serveQuotas) apply(o *registry.Options) {
	if s.q != nil {
		o.Quota = s.q
	}
}

// load counts what the store holds, at start.
func (s *serveQuotas) load(ctx context.Context, store cas.Store, log *slog.Logger) error {
	if s.q == nil {
		return nil
	}
	start := time.Now()
	if err := s.q.Load(ctx, store); err != nil {
		return err
	}
	for _, u := range s.q.Usage() {
		log.Info("quota", "repositories", u.Rule.Repositories, "bytes", u.Bytes, "bytes_limit", u.Rule.Bytes, "tags", u.Tags, "tags_limit", u.Rule.Tags, "counted_in", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// recount counts again every quotaRecount until ctx ends.
func (s *serveQuotas) recount(ctx context.Context, store cas.Store, log *slog.Logger) {
	if s.q == nil {
		return
	}
	t := time.NewTicker(quotaRecount)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.q.Load(ctx, store); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("counting quotas", "err", err)
		}
	}
}

// register adds usage per rule to the metrics.
func (s *serveQuotas) register(m *serveMetrics) {
	if s.q != nil {
		m.reg.MustRegister(quotaCollector{s.q})
	}
}

// quotaCollector reports the usage and bounds of every quota rule.
type quotaCollector struct{ q *quota.Quotas }

var (
	quotaBytesDesc      = prometheus.NewDesc("gantry_quota_bytes", "Bytes the repositories of a quota rule hold, each blob once.", []string{"repositories"}, nil)
	quotaBytesLimitDesc = prometheus.NewDesc("gantry_quota_bytes_limit", "The bytes bound of a quota rule (0: none).", []string{"repositories"}, nil)
	quotaTagsDesc       = prometheus.NewDesc("gantry_quota_tags", "Tags of the repositories of a quota rule.", []string{"repositories"}, nil)
	quotaTagsLimitDesc  = prometheus.NewDesc("gantry_quota_tags_limit", "The tags bound of a quota rule (0: none).", []string{"repositories"}, nil)
)

func (c quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- quotaBytesDesc
	ch <- quotaBytesLimitDesc
	ch <- quotaTagsDesc
	ch <- quotaTagsLimitDesc
}

func (c quotaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.q.Usage() {
		p := u.Rule.Repositories
		ch <- prometheus.MustNewConstMetric(quotaBytesDesc, prometheus.GaugeValue, float64(u.Bytes), p)
		ch <- prometheus.MustNewConstMetric(quotaBytesLimitDesc, prometheus.GaugeValue, float64(u.Rule.Bytes), p)
		ch <- prometheus.MustNewConstMetric(quotaTagsDesc, prometheus.GaugeValue, float64(u.Tags), p)
		ch <- prometheus.MustNewConstMetric(quotaTagsLimitDesc, prometheus.GaugeValue, float64(u.Rule.Tags), p)
	}
}
