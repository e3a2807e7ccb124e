package ui_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/gantry-dev/gantry/internal/ui"
	"golang.org/x/sync/errgroup"
)

// benchStore returns a disk store with n repositories of one tag each,
// all refreshed into a view (summaries ready, analyses queued).
func benchStore(b *testing.B, n int) *ui.UI {
	b.Helper()
	ds, err := disk.Open(b.TempDir(), disk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close() })
	ctx := context.Background()
	base := imagetest.Layer(imagetest.Gzip, imagetest.Sized("lib/base.so", 4096))
	app := imagetest.Layer(imagetest.Gzip, imagetest.File("app/run", "x"))
	u := ui.New(ds, ui.Options{})
	for i := range n {
		// One manifest per repository (its annotation differs), the layers
		// and config shared: the store's setup stays quick.
		img := imagetest.Image([]testimage.Layer{base, app}, imagetest.Config{Cmd: []string{"/app"}, Annotations: map[string]string{"n": fmt.Sprint(i)}})
		name := fmt.Sprintf("team-%d/service-%05d", i%50, i)
		tgt, err := ds.Repository(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		if err := img.Push(ctx, tgt, "v1"); err != nil {
			b.Fatal(err)
		}
		if err := u.Refresh(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	return u
}

// BenchmarkReposPage renders the repositories page, sorted by size, as
// HTML and as JSON, for stores of 100, 1,000 and 10,000 repositories.
func BenchmarkReposPage(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		u := benchStore(b, n)
		for _, format := range []string{"html", "json"} {
			b.Run(fmt.Sprintf("repos=%d/%s", n, format), func(b *testing.B) {
				b.ReportAllocs()
				var size int64
				for b.Loop() {
					req := httptest.NewRequest("GET", "/ui/?sort=size", nil)
					if format == "json" {
						req.Header.Set("Accept", "application/json")
					}
					w := httptest.NewRecorder()
					u.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
					size = int64(w.Body.Len())
				}
				b.SetBytes(size)
			})
		}
	}
}

// BenchmarkAnalyzePush50 is the background work after a push of 50 images
// that share a base of 3 layers (6 MiB of files) and add one small
// layer each: the cost of the analysis, with each shared layer read once.
// File contents are random over 16 letters, so gzip halves them and the
// analysis really inflates them.
func BenchmarkAnalyzePush50(b *testing.B) {
	const images = 50
	r := mrand.New(mrand.NewPCG(1, 2))
	text := func(n int) string {
		t := make([]byte, n)
		for i := range t {
			t[i] = 'a' + byte(r.IntN(16))
		}
		return string(t)
	}
	baseLayers := []testimage.Layer{
		imagetest.Layer(imagetest.Gzip, imagetest.File("usr/lib/a.so", text(2<<20)), imagetest.File("usr/lib/b.so", text(1<<20))),
		imagetest.Layer(imagetest.Gzip, imagetest.File("usr/share/c.dat", text(2<<20))),
		imagetest.Layer(imagetest.Gzip, imagetest.File("opt/tool/bin", text(1<<20))),
	}
	imgs := make([]testimage.Image, images)
	for i := range imgs {
		app := imagetest.Layer(imagetest.Gzip, imagetest.File(fmt.Sprintf("app/%d.bin", i), text(64<<10)))
		imgs[i] = imagetest.Image(append(append([]testimage.Layer{}, baseLayers...), app), imagetest.Config{Cmd: []string{"/app"}})
	}
	b.Run("ui", func(b *testing.B) { benchUIPush(b, imgs) })
	// The same images analyzed one by one as gantry check does, with as
	// many at once as the view's default workers: every image reads its
	// base again.
	b.Run("each-alone", func(b *testing.B) {
		ds, err := disk.Open(b.TempDir(), disk.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer ds.Close()
		ctx := context.Background()
		for i, img := range imgs {
			tgt, _ := ds.Repository(ctx, fmt.Sprintf("svc/%02d", i))
			if err := img.Push(ctx, tgt, "v1"); err != nil {
				b.Fatal(err)
			}
		}
		workers := max(1, runtime.GOMAXPROCS(0)/2)
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			g.SetLimit(workers)
			for i := range imgs {
				g.Go(func() error {
					name := fmt.Sprintf("svc/%02d", i)
					tgt, _ := ds.Repository(ctx, name)
					_, err := image.Analyze(ctx, tgt, name, "v1", image.Options{Concurrency: 1})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchUIPush(b *testing.B, imgs []testimage.Image) {
	images := len(imgs)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ds, err := disk.Open(b.TempDir(), disk.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		u := ui.New(ds, ui.Options{})
		for i, img := range imgs {
			tgt, _ := ds.Repository(ctx, fmt.Sprintf("svc/%02d", i))
			if err := img.Push(ctx, tgt, "v1"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); u.Run(rctx) }()
		for i := range images {
			u.Pushed(fmt.Sprintf("svc/%02d", i), "v1")
		}
		start := time.Now()
		for !u.Idle() || u.LayersScanned() < int64(3+images) {
			if time.Since(start) > 5*time.Minute {
				b.Fatal("analysis did not finish")
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		if got := u.LayersScanned(); got != int64(3+images) {
			b.Fatalf("layers read: %d, want %d", got, 3+images)
		}
		cancel()
		<-done
		ds.Close()
		b.StartTimer()
	}
}

// BenchmarkFleetPage renders the fleet page (fleet.Analyze over every
// tagged image, then its SVG) for 100, 1,000 and 10,000 repositories; the report
// is cached until a repository changes, so this is the first view after a
// push.
func BenchmarkFleetPage(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		u := benchStore(b, n)
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				u.Pushed("team-0/service-00000", "") // a change: the report is computed again
				u.Refresh(context.Background(), "team-0/service-00000")
				w := httptest.NewRecorder()
				u.ServeHTTP(w, httptest.NewRequest("GET", "/ui/fleet", nil))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
