package disk

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The benchmarks of a store with many tags (issue 8: 100,000 tags without
// stalls). They use only the cas API and a hand-written index.json, so
// the same file runs against older versions of the store for a before and
// after. Run:
//
//	go test -run '^$' -bench 'Tags100k' -benchtime 20x ./internal/store/disk/

const manyTags = 100_000

// seedLayout writes a layout holding one image tagged n times: in one
// repository ("big/app") when oneRepo, else over 1,000 repositories.
func seedLayout(b testing.TB, dir string, n int, oneRepo bool) ocispec.Descriptor {
	b.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := s.Repository(b.Context(), "seed")
	m, _, _ := pushImage(b, r)
	if err := r.Tag(b.Context(), m, "v0"); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex}
	for i := range n {
		repo := fmt.Sprintf("team%d/app", i%1000)
		if oneRepo {
			repo = "big/app"
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: fmt.Sprintf("%s:v%06d", repo, i)}})
	}
	data, err := json.Marshal(idx)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	// Open once so that whatever a first open derives (links) is written,
	// and tag once so that gantry rewrites index.json in its own form, as
	// in a store in service.
	s, err = Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, _ = s.Repository(b.Context(), "seed")
	if err := r.Tag(b.Context(), m, "v1"); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkTags100kOpen measures Open of a store with 100,000 tags
// (target: under 1 s).
func BenchmarkTags100kOpen(b *testing.B) {
	dir := b.TempDir()
	seedLayout(b, dir, manyTags, false)
	for b.Loop() {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkTags100kResolveDuringFlush measures Resolve while index.json
// (22 MB at 100,000 tags) is rewritten over and over: a tag write every
// millisecond and a flush interval of one millisecond keep the flusher
// busy. It reports the median and 99th percentile of Resolve (target: p99
// under 2 ms) and the number of flushes that overlapped.
func BenchmarkTags100kResolveDuringFlush(b *testing.B) {
	dir := b.TempDir()
	m := seedLayout(b, dir, manyTags, false)
	s, err := Open(dir, Options{FlushInterval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, _ := s.Repository(b.Context(), "team0/app")
	stop := make(chan struct{})
	var tagged atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := w.Tag(b.Context(), m, fmt.Sprintf("w%d", i%100)); err != nil {
				b.Error(err)
				return
			}
			tagged.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	r, _ := s.Repository(b.Context(), "team7/app")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		for range 1000 {
			t0 := time.Now()
			if _, err := r.Resolve(b.Context(), fmt.Sprintf("v%06d", 7+1000*(i%100))); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			i++
			time.Sleep(100 * time.Microsecond)
		}
	}
	close(stop)
	<-done
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e6, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e6, "max-ms")
	b.ReportMetric(float64(tagged.Load())/float64(b.N), "tags/op")
}

// BenchmarkTags100kPage measures one page of 100 names, as a registry
// answers ?n=100&last=...: tags of a repository with 100,000 tags, and the
// catalog of a store with 1,000 repositories (target: O(page), not
// O(tags)).
func BenchmarkTags100kPage(b *testing.B) {
	page := func(list func(string, func([]string) error) error, last string) int {
		got := 0
		_ = list(last, func(p []string) error {
			got += len(p)
			if got >= 100 {
				return errStopPage
			}
			return nil
		})
		return got
	}
	b.Run("tags", func(b *testing.B) {
		dir := b.TempDir()
		seedLayout(b, dir, manyTags, true)
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		r, _ := s.Repository(b.Context(), "big/app")
		tl := r.(cas.TagLister)
		list := func(last string, fn func([]string) error) error { return tl.Tags(b.Context(), last, fn) }
		for b.Loop() {
			if n := page(list, "v050000"); n < 100 {
				b.Fatalf("page of %d tags", n)
			}
		}
	})
	b.Run("catalog", func(b *testing.B) {
		dir := b.TempDir()
		seedLayout(b, dir, manyTags, false)
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		list := func(last string, fn func([]string) error) error { return s.Repositories(b.Context(), last, fn) }
		for b.Loop() {
			if n := page(list, "team500/app"); n < 100 {
				b.Fatalf("page of %d repositories", n)
			}
		}
	})
}

var errStopPage = fmt.Errorf("page full")

// BenchmarkTags1M measures a store of 1,000,000 tags (issue 9: memory per
// tag should be a few hundred bytes, and an index.json rewrite should
// stream): open time, live heap per tag after open, and the heap's peak
// above that while index.json is rewritten. Minutes and a few GB:
//
//	go test -run '^$' -bench 'Tags1M' -benchtime 1x -timeout 30m ./internal/store/disk/
func BenchmarkTags1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	m := seedLayout(b, dir, n, false)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		before := heap()
		t0 := time.Now()
		s, err := Open(dir, Options{FlushInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		open := time.Since(t0)
		live := heap()
		r, _ := s.Repository(b.Context(), "team1/app")
		if err := r.Tag(b.Context(), m, "one-more"); err != nil {
			b.Fatal(err)
		}
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // sample the heap while the flush runs
			defer close(done)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		t1 := time.Now()
		if err := s.flush(); err != nil {
			b.Fatal(err)
		}
		flush := time.Since(t1)
		close(stop)
		<-done
		b.ReportMetric(open.Seconds(), "open-s")
		b.ReportMetric(float64(live-before)/n, "heap-B/tag")
		b.ReportMetric(flush.Seconds(), "flush-s")
		b.ReportMetric(float64(peak.Load()-min(peak.Load(), live))/(1<<20), "flush-extra-MiB")
		s.Close()
	}
}
