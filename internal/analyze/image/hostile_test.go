package image

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/boundtest"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// deepLayer is a gzip layer of files files in one directory depth levels
// deep ("a/a/.../a/fN", within MaxPathLength).
func deepLayer(files, depth int) testimage.Layer {
	chain := strings.Repeat("a/", depth)
	es := make([]imagetest.Entry, 0, files)
	for i := range files {
		es = append(es, imagetest.Sized(chain+fmt.Sprintf("f%d", i), 1))
	}
	return imagetest.Layer(imagetest.Gzip, es...)
}

// hostileLayers are the layers of issue 9, with the resource targets.
var hostileLayers = []struct {
	name   string
	layer  func() testimage.Layer
	maxRSS int64
	maxCPU time.Duration
}{
	{"1000-files-2000-deep", func() testimage.Layer { return deepLayer(1000, 2000) }, 0, 0},
}

// TestHostileLayers analyzes each hostile layer (with a Dockerfile, as
// check --dockerfile does) in a child process under a 4 GiB address-space
// limit: within 5 s of CPU and 200 MB.
func TestHostileLayers(t *testing.T) {
	for _, tc := range hostileLayers {
		t.Run(tc.name, func(t *testing.T) {
			r := boundtest.Run(t, "TestHostileLayersChild", tc.name, boundtest.Limits{})
			t.Logf("%v wall, %v CPU, %d MB", r.Elapsed, r.CPU, r.MaxRSS>>20)
			if r.Err != nil {
				t.Fatalf("child: %v\n%s", r.Err, r.Output[max(0, len(r.Output)-2000):])
			}
			maxRSS, maxCPU := cmp.Or(tc.maxRSS, 200<<20), cmp.Or(tc.maxCPU, 5*time.Second)
			if r.CPU > maxCPU {
				t.Errorf("took %v of CPU, want under %v", r.CPU, maxCPU)
			}
			if r.MaxRSS > maxRSS {
				t.Errorf("peak RSS %d MB, want under %d MB", r.MaxRSS>>20, maxRSS>>20)
			}
		})
	}
}

// TestHostileLayersChild is TestHostileLayers' child.
func TestHostileLayersChild(t *testing.T) {
	name := boundtest.Case()
	if name == "" {
		t.Skip("run by TestHostileLayers")
	}
	for _, tc := range hostileLayers {
		if tc.name != name {
			continue
		}
		l := tc.layer()
		stop := boundtest.Measure()
		r, err := analyze(t, []testimage.Layer{l}, hostileConfig, hostileOptions)
		stop()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%d entries, %d findings\n", r.Layers[0].Entries, len(r.Findings))
		return
	}
	t.Fatalf("no case %q", name)
}

// BenchmarkHostileLayers analyzes each hostile layer of issue 9, with a
// Dockerfile as check --dockerfile does.
func BenchmarkHostileLayers(b *testing.B) {
	for _, tc := range hostileLayers {
		b.Run(tc.name, func(b *testing.B) {
			l := tc.layer()
			repo, err := memory.New().Repository(b.Context(), "test/app")
			if err != nil {
				b.Fatal(err)
			}
			if err := imagetest.Image([]testimage.Layer{l}, hostileConfig).Push(b.Context(), repo, "v1"); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(l.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Analyze(b.Context(), repo, "test/app:v1", "v1", hostileOptions); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The history and Dockerfile the hostile layers are analyzed with.
var (
	hostileConfig  = imagetest.Config{CreatedBy: []string{"RUN /bin/sh -c make # buildkit"}}
	hostileOptions = Options{Dockerfile: &Dockerfile{Name: "Dockerfile", Source: []byte("FROM scratch\nRUN make\n")}}
)
