package image

import (
	"cmp"
	"fmt"
	"slices"
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

// chainName is the name of level j of chain i in chainLayer's "distinct"
// shape: one letter, changing with the level and the chain.
func chainName(i, j int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	return letters[(i+j)%len(letters) : (i+j)%len(letters)+1]
}

// chainPath is the directory of chain i, depth levels deep: "dI/a/a/.../a"
// or, with distinct, "dI/b/c/.../x".
func chainPath(i, depth int, distinct bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "d%d", i)
	for j := 1; j < depth; j++ {
		b.WriteByte('/')
		if distinct {
			b.WriteString(chainName(i, j))
		} else {
			b.WriteByte('a')
		}
	}
	return b.String()
}

// chainLayer is a gzip layer of files files, each under its own chain of
// depth directories that no entry names: files*depth implied directories
// from a few kilobytes of gzip.
func chainLayer(files, depth int, distinct bool) testimage.Layer {
	es := make([]imagetest.Entry, 0, files)
	for i := range files {
		es = append(es, imagetest.Sized(chainPath(i, depth, distinct)+"/f", 1))
	}
	return imagetest.Layer(imagetest.Gzip, es...)
}

// chainLayers are three layers over the same deep chains: the chains with
// a file at the bottom, then an opaque marker halfway down each chain with
// a new file at the bottom (every directory under the marker implied
// again), then a whiteout of each chain's top directory.
func chainLayers(files, depth int) []testimage.Layer {
	var opaque, whiteouts []imagetest.Entry
	for i := range files {
		p := chainPath(i, depth, false)
		half := chainPath(i, depth/2, false)
		opaque = append(opaque, imagetest.Opaque(half), imagetest.Sized(p+"/g", 1))
		whiteouts = append(whiteouts, imagetest.Whiteout(fmt.Sprintf("d%d", i)))
	}
	return []testimage.Layer{chainLayer(files, depth, false),
		imagetest.Layer(imagetest.Gzip, opaque...), imagetest.Layer(imagetest.Gzip, whiteouts...)}
}

// hostileLayers are the layers of issue 9, with the resource targets and
// the finding that says what was left out, if any.
var hostileLayers = []struct {
	name   string
	layers func() []testimage.Layer
	rule   string
	maxRSS int64
	maxCPU time.Duration
}{
	{"1000-files-2000-deep", func() []testimage.Layer { return []testimage.Layer{deepLayer(1000, 2000)} }, "", 0, 0},
	{"1000-chains-2000-deep", func() []testimage.Layer { return []testimage.Layer{chainLayer(1000, 2000, false)} }, RuleImpliedDirs, 0, 0},
	{"1000-distinct-chains-2000-deep", func() []testimage.Layer { return []testimage.Layer{chainLayer(1000, 2000, true)} }, RuleImpliedDirs, 0, 0},
	{"1000-chains-opaque-whiteout-3-layers", func() []testimage.Layer { return chainLayers(1000, 2000) }, RuleImpliedDirs, 0, 0},
}

// TestHostileLayers analyzes each hostile layer (with a Dockerfile, as
// check --dockerfile does) in a child process under a 4 GiB address-space
// limit: within 5 s of CPU and 200 MB.
func TestHostileLayers(t *testing.T) {
	for _, tc := range hostileLayers {
		t.Run(tc.name, func(t *testing.T) {
			r := boundtest.Run(t, "TestHostileLayersChild", tc.name, boundtest.Limits{})
			t.Logf("%v wall, %v CPU, %d MB", r.Elapsed, r.CPU, r.MaxRSS>>20)
			if testing.Verbose() {
				t.Logf("child:\n%s", r.Output)
			}
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
		ls := tc.layers()
		cfg, opts := hostileInput(len(ls))
		stop := boundtest.Measure()
		r, err := analyze(t, ls, cfg, opts)
		stop()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%d entries in layer 1, %d findings\n", r.Layers[0].Entries, len(r.Findings))
		found := false
		for _, f := range r.Findings {
			if f.Rule == RuleImpliedDirs {
				found = true
				fmt.Printf("%s line %d: %s\n", f.Rule, f.Line, f.Message)
			}
		}
		if found != (tc.rule != "") {
			t.Errorf("%s reported: %v, want %v", RuleImpliedDirs, found, tc.rule != "")
		}
		return
	}
	t.Fatalf("no case %q", name)
}

// BenchmarkHostileLayers analyzes each hostile layer of issue 9, with a
// Dockerfile as check --dockerfile does.
func BenchmarkHostileLayers(b *testing.B) {
	for _, tc := range hostileLayers {
		b.Run(tc.name, func(b *testing.B) {
			ls := tc.layers()
			cfg, opts := hostileInput(len(ls))
			repo, err := memory.New().Repository(b.Context(), "test/app")
			if err != nil {
				b.Fatal(err)
			}
			if err := imagetest.Image(ls, cfg).Push(b.Context(), repo, "v1"); err != nil {
				b.Fatal(err)
			}
			var n int64
			for _, l := range ls {
				n += int64(len(l.Data))
			}
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Analyze(b.Context(), repo, "test/app:v1", "v1", opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hostileInput is the history and Dockerfile the hostile layers are
// analyzed with: one RUN per layer.
func hostileInput(layers int) (imagetest.Config, Options) {
	cfg := imagetest.Config{CreatedBy: slices.Repeat([]string{"RUN /bin/sh -c make # buildkit"}, layers)}
	df := "FROM scratch\n" + strings.Repeat("RUN make\n", layers)
	return cfg, Options{Dockerfile: &Dockerfile{Name: "Dockerfile", Source: []byte(df)}}
}
