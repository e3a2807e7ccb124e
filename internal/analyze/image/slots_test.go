package image

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// openTarget tracks how many layer readers are open at once.
type openTarget struct {
	cas.ReadOnlyTarget
	open, most atomic.Int64
}

type closeCounter struct {
	io.ReadCloser
	t    *openTarget
	once sync.Once
}

func (c *closeCounter) Close() error {
	c.once.Do(func() { c.t.open.Add(-1) })
	return c.ReadCloser.Close()
}

func (o *openTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := o.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || !strings.Contains(desc.MediaType, "layer") {
		return rc, err
	}
	n := o.open.Add(1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	time.Sleep(5 * time.Millisecond) // long enough for the others to start theirs
	return &closeCounter{ReadCloser: rc, t: o}, nil
}

// TestSlots: images analyzed at once, sharing Slots, read no more layers
// at once than the slots, with or without a ScanCache.
func TestSlots(t *testing.T) {
	repo, _ := scanFleet(t, 6)
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprint("cache=", cached), func(t *testing.T) {
			src := &openTarget{ReadOnlyTarget: repo}
			opts := Options{Slots: NewSlots(2), Concurrency: 4}
			if cached {
				opts.Scans = NewScanCache(0)
			}
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Go(func() {
					tag := fmt.Sprintf("app%d", i)
					if _, err := Analyze(t.Context(), src, tag, tag, opts); err != nil {
						t.Errorf("%s: %v", tag, err)
					}
				})
			}
			wg.Wait()
			if m := src.most.Load(); m > 2 || m < 1 {
				t.Errorf("%d layers read at once, want 1 or 2", m)
			}
		})
	}
}
