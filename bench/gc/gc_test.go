package gcbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
)

// images is the number of images of the measured store: four blobs each,
// plus a shared base layer per repository: 25,000 images make 100,100
// blobs. GCBENCH_IMAGES overrides it.
func images() int {
	if n, err := strconv.Atoi(os.Getenv("GCBENCH_IMAGES")); err == nil && n > 0 {
		return n
	}
	return 25000
}

// workDir is where stores are built: a real disk, not tmpfs.
func workDir(b *testing.B) string {
	d, err := os.MkdirTemp(os.Getenv("WORKDIR"), "gantry-gcbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// stallProbe sends HEAD and GET requests for kept content from a few
// clients in a loop and keeps the slowest answer of each phase.
type stallProbe struct {
	worst atomic.Int64
	n     atomic.Int64
}

func (p *stallProbe) run(ctx context.Context, base string, paths []string, clients int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i++ {
				method := "HEAD"
				if i%2 == 0 {
					method = "GET"
				}
				req, _ := http.NewRequestWithContext(ctx, method, base+paths[i%len(paths)], nil)
				t := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					panic(fmt.Sprintf("%s %s: %d", method, paths[i%len(paths)], resp.StatusCode))
				}
				d := int64(time.Since(t))
				p.n.Add(1)
				for {
					w := p.worst.Load()
					if d <= w || p.worst.CompareAndSwap(w, d) {
						break
					}
				}
			}
		}()
	}
	return &wg
}

// BenchmarkGC measures one garbage collection of the store (half its
// images deleted two days ago, no grace period) while four clients pull
// manifests and blobs of the images kept through the registry handler.
// It reports the run's time, the longest time it held the store's lock,
// and the slowest request during the run against the slowest during as
// long a time before it.
func BenchmarkGC(b *testing.B) {
	imgs, blobs := shape{repos: 100, images: images()}.build(1)
	var paths []string
	for _, img := range imgs {
		if !img.deleted && len(paths) < 2000 {
			paths = append(paths, "/v2/"+img.repo+"/manifests/"+img.tag, "/v2/"+img.repo+"/blobs/"+img.mdesc.Digest.String())
		}
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(workDir(b), "store")
		if err := seedGantry(dir, imgs); err != nil {
			b.Fatal(err)
		}
		exec.Command("sync").Run()
		s, err := disk.Open(dir, disk.Options{OnlineGC: true})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(registry.New(s, registry.Options{}))
		ctx, cancel := context.WithCancel(context.Background())
		before := &stallProbe{}
		wg := before.run(ctx, srv.URL, paths, 4)
		time.Sleep(2 * time.Second)
		cancel()
		wg.Wait()

		ctx, cancel = context.WithCancel(context.Background())
		during := &stallProbe{}
		wg = during.run(ctx, srv.URL, paths, 4)
		b.StartTimer()
		rep, err := s.Collect(context.Background(), disk.GCOptions{Grace: disk.NoGrace})
		b.StopTimer()
		cancel()
		wg.Wait()
		srv.Close()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(blobs), "blobs")
		b.ReportMetric(float64(rep.BlobsReclaimed), "reclaimed")
		b.ReportMetric(rep.Duration.Seconds(), "gc-s")
		b.ReportMetric(float64(rep.LongestPause)/1e6, "pause-ms")
		b.ReportMetric(float64(during.worst.Load())/1e6, "stall-during-ms")
		b.ReportMetric(float64(before.worst.Load())/1e6, "stall-before-ms")
		b.ReportMetric(float64(during.n.Load())/rep.Duration.Seconds(), "req/s-during")
	}
}

// BenchmarkDistributionGC measures `registry garbage-collect` (Distribution
// 3, offline: the registry is stopped or read-only meanwhile) on the same
// store in Distribution's layout. The registry binary is $REGISTRY_BIN or
// registry on $PATH or in $(go env GOPATH)/bin.
func BenchmarkDistributionGC(b *testing.B) {
	bin := os.Getenv("REGISTRY_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("registry"); err != nil {
			gopath, _ := exec.Command("go", "env", "GOPATH").Output()
			bin = filepath.Join(string(gopath[:len(gopath)-1]), "bin", "registry")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no Distribution registry binary: %v", err)
	}
	imgs, blobs := shape{repos: 100, images: images()}.build(1)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := workDir(b)
		root := filepath.Join(work, "dist")
		if err := seedDistribution(root, imgs); err != nil {
			b.Fatal(err)
		}
		cfg := filepath.Join(work, "config.yml")
		os.WriteFile(cfg, fmt.Appendf(nil, "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", root), 0o644)
		exec.Command("sync").Run()
		cmd := exec.Command(bin, "garbage-collect", cfg)
		b.StartTimer()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("registry garbage-collect: %v\n%s", err, out)
		}
		var left int
		filepath.WalkDir(filepath.Join(root, "docker", "registry", "v2", "blobs"), func(_ string, e os.DirEntry, _ error) error {
			if e != nil && e.Name() == "data" {
				left++
			}
			return nil
		})
		b.ReportMetric(float64(blobs), "blobs")
		b.ReportMetric(float64(blobs-left), "reclaimed")
		b.ReportMetric(d.Seconds(), "gc-s")
	}
}
