package pullthrough_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
)

// TestConformance runs the read-only part of the store suite against
// mirrored names: the fixture in a gantry registry as the upstream, a
// disk store as the cache.
func TestConformance(t *testing.T) {
	castest.RunReadOnly(t, castest.ReadOnlyConfig{New: newConformanceMirror})
}

// readOnly is the read side of a Store, as the suite takes it.
type readOnly struct{ s *pullthrough.Store }

func (ro readOnly) Repository(ctx context.Context, name string) (cas.ReadOnlyTarget, error) {
	return ro.s.Repository(ctx, name)
}

func (ro readOnly) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	return ro.s.Repositories(ctx, last, fn)
}

func newConformanceMirror(t *testing.T, images []castest.Image) cas.ReadOnlyStore {
	t.Helper()
	ctx := t.Context()
	st := memory.New()
	for _, img := range images {
		repo, err := st.Repository(ctx, img.Repository)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range append(append([]castest.Content{}, img.Layers...), img.Config, img.Manifest) {
			if ok, _ := repo.Exists(ctx, c.Desc); ok {
				continue
			}
			if err := repo.Push(ctx, c.Desc, bytes.NewReader(c.Data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.Tag(ctx, img.Manifest.Desc, img.Tag); err != nil {
			t.Fatal(err)
		}
	}
	upstream := httptest.NewServer(registry.New(st, registry.Options{}))
	t.Cleanup(upstream.Close)
	cache, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := pullthrough.New(cache, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: upstream.URL}}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		cache.Close()
	})
	return readOnly{s}
}
