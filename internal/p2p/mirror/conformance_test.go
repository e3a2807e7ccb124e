package mirror_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/p2p/mirror"
	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
)

// TestConformance runs the read-only part of the store suite against the
// agent's store: the fixture in a gantry registry as the upstream, blobs
// through a swarm of one node.
func TestConformance(t *testing.T) {
	castest.RunReadOnly(t, castest.ReadOnlyConfig{New: newMirror})
}

func newMirror(t *testing.T, images []castest.Image) cas.ReadOnlyStore {
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
	trk := httptest.NewServer(tracker.New(tracker.Options{}))
	t.Cleanup(trk.Close)
	var h http.Handler
	peers := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(peers.Close)
	dir := t.TempDir()
	node, err := swarm.New(swarm.Options{ID: "n", Addr: peers.Listener.Addr().String(), Tracker: trk.URL, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h = node.Handler()
	nctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Run(nctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	s, err := mirror.New(mirror.Options{Upstream: upstream.URL, Swarm: node})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
