package cli

import (
	"context"
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
	q    *quota.Quotas
	soon chan struct{} // a count asked for, by recountSoon
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

// start counts what store holds, then counts again every quotaRecount
// and after each garbage collection (recountSoon), until stop, which
// waits for a count under way to end.
func (s *serveQuotas) start(ctx context.Context, store cas.Store, log *slog.Logger) (stop func(), err error) {
	if s.q == nil {
		return func() {}, nil
	}
	if err := s.count(ctx, store, log, "start"); err != nil {
		return nil, err
	}
	s.soon = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(quotaRecount)
		defer t.Stop()
		for {
			why := "hourly"
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.soon:
				why = "garbage collection"
			}
			if err := s.count(ctx, store, log, why); err != nil && ctx.Err() == nil {
				log.Warn("counting quotas; the counts kept until the next try", "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// count counts what store holds and logs each rule's usage.
func (s *serveQuotas) count(ctx context.Context, store cas.Store, log *slog.Logger, why string) error {
	begin := time.Now()
	if err := s.q.Load(ctx, store); err != nil {
		return err
	}
	for _, u := range s.q.Usage() {
		log.Info("quota", "repositories", u.Rule.Repositories, "bytes", u.Bytes, "bytes_limit", u.Rule.Bytes,
			"tags", u.Tags, "tags_limit", u.Rule.Tags, "counted", why, "took", time.Since(begin).Round(time.Millisecond))
	}
	return nil
}

// recountSoon asks for a count now: garbage collection let go of blobs
// and tags that the requests did not tell the quotas of.
func (s *serveQuotas) recountSoon() {
	if s.soon == nil {
		return
	}
	select {
	case s.soon <- struct{}{}:
	default: // one is asked for already
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
