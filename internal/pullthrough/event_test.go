package pullthrough_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pullthrough"
)

// events counts the Events a mirror reports, by kind and content.
type events struct {
	mu    sync.Mutex
	n     map[string]int
	bytes int64
}

func (e *events) observe(ev pullthrough.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n[ev.Kind+" "+ev.Content]++
	e.bytes += ev.Bytes
}

func (e *events) get(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[key]
}

// TestEventsCounted checks what Options.Observe hears: one fill per blob
// and manifest of a cold pull with their bytes, none for a warm pull, and
// with the upstream down a stale tag and the upstream's errors.
func TestEventsCounted(t *testing.T) {
	up := newUpstream(t)
	img := fleetImage(t, 1)
	up.push(t, "apps/api", "v1", img)
	ev := &events{n: map[string]int{}}
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}, TagTTL: time.Millisecond, Observe: ev.observe})
	if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
		t.Fatal(err)
	}
	blobs := 1 + len(img.Layers)
	want := img.ManifestDesc.Size + img.ConfigDesc.Size
	for _, l := range img.Layers {
		want += l.Desc.Size
	}
	if got := ev.get("fill blob"); got != blobs {
		t.Errorf("cold pull: %d blob fills, want %d", got, blobs)
	}
	if got := ev.get("fill manifest"); got != 1 {
		t.Errorf("cold pull: %d manifest fills, want 1", got)
	}
	if ev.bytes != want {
		t.Errorf("cold pull: fills of %d bytes, want %d", ev.bytes, want)
	}
	if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
		t.Fatal(err)
	}
	if got := ev.get("fill blob"); got != blobs {
		t.Errorf("warm pull: %d blob fills in all, want still %d", got, blobs)
	}
	up.down.Store(true)
	time.Sleep(5 * time.Millisecond)
	if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
		t.Fatalf("pull with the upstream down: %v", err)
	}
	if got := ev.get("stale tag"); got != 1 {
		t.Errorf("stale tags served: %d, want 1", got)
	}
	if got := ev.get("upstream_error "); got < 1 {
		t.Errorf("upstream errors: %d, want at least 1", got)
	}
	if got := ev.get("fill_failed blob") + ev.get("fill_failed manifest"); got != 0 {
		t.Errorf("failed fills: %d, want 0", got)
	}
}
