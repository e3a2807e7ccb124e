package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas/castest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkIngest measures Push of a 64 MiB blob: read, hash, write, one
// fsync, rename, directory fsync. Each iteration deletes the blob again.
func BenchmarkIngest(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r, _ := s.Repository(b.Context(), "bench")
	data, desc := castest.Blob(b, 64<<20)
	rd := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(data)
		if err := r.Push(b.Context(), desc, rd); err != nil {
			b.Fatal(err)
		}
		if err := dropBlob(r.(*Repo), desc); err != nil {
			b.Fatal(err)
		}
	}
}

// dropBlob removes a blob from the repository and its bytes from the disk,
// as garbage collection will, so the next push writes it again.
func dropBlob(r *Repo, desc ocispec.Descriptor) error {
	if err := r.Delete(context.Background(), desc); err != nil {
		return err
	}
	return r.s.deleteBlob(desc.Digest)
}

// BenchmarkUpload measures a 64 MiB registry upload: a chunked push (16
// Writes of 4 MiB, as PATCH requests deliver them) and a monolithic one
// (io.Copy of a request body, which goes through ReadFrom), each followed by
// Commit: verify against the running hash, one fsync, rename into blobs/,
// directory fsync. It should cost what BenchmarkIngest does: one write and
// one hash of the bytes.
func BenchmarkUpload(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r, _ := s.Repository(b.Context(), "bench")
	data, desc := castest.Blob(b, 64<<20)
	for _, mode := range []string{"chunked", "monolithic"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				u, err := r.(*Repo).NewUpload(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if mode == "chunked" {
					for off := 0; off < len(data); off += 4 << 20 {
						if _, err := u.Write(data[off : off+4<<20]); err != nil {
							b.Fatal(err)
						}
					}
				} else if _, err := io.Copy(u, struct{ io.Reader }{bytes.NewReader(data)}); err != nil {
					b.Fatal(err)
				}
				if err := u.Commit(b.Context(), desc); err != nil {
					b.Fatal(err)
				}
				u.Close()
				if err := dropBlob(r.(*Repo), desc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTag measures one tag write (journal append and fsync) in a store
// that already holds N tags over up to 1,000 repositories: the cost must
// not grow with N. It reports the median and 99th percentile too.
func BenchmarkTag(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("existing=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			m := seedTags(b, dir, n)
			s, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			repos := make([]*Repo, 1000)
			for i := range repos {
				r, _ := s.Repository(b.Context(), fmt.Sprintf("team%d/app", i))
				repos[i] = r.(*Repo)
			}
			var lat []time.Duration
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if err := repos[i%len(repos)].Tag(b.Context(), m, fmt.Sprintf("new-%d", i)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seedTags makes a layout in dir holding one image tagged n times over
// min(n, 1000) repositories, writing index.json directly (tagging 100,000
// times through the journal would take minutes of fsyncs).
func seedTags(b *testing.B, dir string, n int) ocispec.Descriptor {
	b.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := s.Repository(b.Context(), "seed")
	m, _, _ := pushImage(b, r)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	snap := indexSnapshot{top: map[string]json.RawMessage{}, owned: newTagIndex()}
	for i := range n {
		repo, tag := fmt.Sprintf("team%d/app", i%1000), fmt.Sprintf("v%d", i)
		snap.owned.set(repo, tag, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: repo + ":" + tag}})
	}
	data, err := snap.marshal()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return m
}
