package image

import (
	"archive/tar"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// builtDockerfile is the Dockerfile the layers of builtLayers were built
// from.
const builtDockerfile = `FROM debian:12
ENV A=1
RUN apt-get update && apt-get install -y curl
COPY app /app
RUN rm /app/big
RUN chmod -R 700 /app
CMD ["/app/a"]
`

// builtLayers are a base layer and the four layers builtDockerfile makes.
func builtLayers() []testimage.Layer {
	chmodded := imagetest.Sized("app/a", 70000)
	chmodded.Mode = 0o700
	return []testimage.Layer{
		imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), imagetest.Sized("bin/sh", 1000)),
		imagetest.Layer(imagetest.Gzip, imagetest.Sized("var/lib/apt/lists/deb.debian.org_Packages", 5000),
			imagetest.Sized("var/cache/apt/pkgcache.bin", 2000), imagetest.Sized("usr/bin/curl", 3000)),
		imagetest.Layer(imagetest.Gzip, imagetest.Dir("app"), imagetest.Sized("app/a", 70000), imagetest.Sized("app/big", 100000)),
		imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("app/big")),
		imagetest.Layer(imagetest.Gzip, imagetest.Entry{Name: "app/", Type: tar.TypeDir, Mode: 0o700}, chmodded),
	}
}

// history builds a config history: entries starting with "-" are empty
// layers.
func history(entries ...string) []ocispec.History {
	var h []ocispec.History
	for _, e := range entries {
		if s, ok := strings.CutPrefix(e, "-"); ok {
			h = append(h, ocispec.History{CreatedBy: s, EmptyLayer: true})
		} else {
			h = append(h, ocispec.History{CreatedBy: e})
		}
	}
	return h
}

var (
	buildahHistory = history(
		"/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ",
		"-/bin/sh -c #(nop) CMD [\"bash\"]",
		"-/bin/sh -c #(nop) ENV A=1",
		"/bin/sh -c apt-get update && apt-get install -y curl",
		"/bin/sh -c #(nop) COPY dir:0508f84dc2d6b53a10036b71989f3fd10e82e84a0606f9692dae6953b39b8752 in /app ",
		"|1 V=1 /bin/sh -c rm /app/big",
		"/bin/sh -c chmod -R 700 /app",
		"-/bin/sh -c #(nop) CMD [\"/app/a\"]",
	)
	buildkitHistory = history(
		"# debian.sh --arch 'amd64' out/ 'bookworm' '@1700000000'",
		"-ENV A=1",
		"RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit",
		"COPY app /app # buildkit",
		"RUN /bin/sh -c rm /app/big # buildkit",
		"RUN /bin/sh -c chmod -R 700 /app # buildkit",
		"-CMD [\"/app/a\"]",
	)
)

func checkWithDockerfile(t *testing.T, layers []testimage.Layer, hist []ocispec.History, dockerfile string) (*Result, []report.Finding) {
	t.Helper()
	r, err := analyze(t, layers, imagetest.Config{History: hist, User: "1000"},
		Options{Dockerfile: &Dockerfile{Name: "Dockerfile", Source: []byte(dockerfile)}})
	if err != nil {
		t.Fatal(err)
	}
	return r, r.Findings
}

// find returns the findings of rule.
func find(fs []report.Finding, rule string) []report.Finding {
	var out []report.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestDockerfileLinked(t *testing.T) {
	for _, tc := range []struct {
		name string
		hist []ocispec.History
	}{
		{"buildah", buildahHistory},
		{"buildkit", buildkitHistory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, fs := checkWithDockerfile(t, builtLayers(), tc.hist, builtDockerfile)
			layer := func(i int) string { return r.Layers[i].Digest.String() }
			for _, want := range []struct {
				rule  string
				line  int
				layer int
				bytes int64
			}{
				{"GL401", 3, 1, 7000},   // apt lists and caches in the RUN's layer
				{"GL410", 3, 1, 10000},  // the whole layer of an unpinned install
				{"GL501", 6, 4, 70000},  // the copied file, stored again by chmod -R
				{"GC005", 5, 3, 100000}, // rm hides the big file: located on its line
				{"GC005", 6, 4, 70000},  // chmod -R hides the first copy
				{"GC006", 4, 2, 170000}, // what COPY stored that later lines hide
			} {
				var got *report.Finding
				for _, f := range find(fs, want.rule) {
					if f.Line == want.line {
						got = &f
						break
					}
				}
				if got == nil {
					t.Errorf("no %s finding on line %d in:\n%s", want.rule, want.line, dump(fs))
					continue
				}
				if got.File != "Dockerfile" || got.Layer != layer(want.layer) || got.Bytes != want.bytes || got.Image != "test/app:v1" {
					t.Errorf("%s line %d: file %q layer %s bytes %d image %q, want layer %d (%s) bytes %d\n%s",
						want.rule, want.line, got.File, got.Layer, got.Bytes, got.Image, want.layer+1, layer(want.layer), want.bytes, got.Message)
				}
			}
			if w := find(fs, RuleWasted); len(w) != 1 || w[0].Bytes != 170000 {
				t.Errorf("GC004: %+v", w)
			}
			link := find(fs, RuleDockerfileLink)
			if len(link) != 1 || link[0].Severity != report.Info || !strings.Contains(link[0].Message, "4 instructions linked to layers 2-5; layers 1-1 come from the base image (line 1)") {
				t.Errorf("GC070: %s", dump(link))
			}
			// Findings of instructions that make no layer carry no layer.
			for _, f := range find(fs, "GL617") {
				if f.Layer != "" || f.Bytes != 0 {
					t.Errorf("GL617 priced: %+v", f)
				}
			}
		})
	}
}

func TestDockerfileUnsure(t *testing.T) {
	hist := append([]ocispec.History(nil), buildahHistory...)
	hist[5].CreatedBy = "/bin/sh -c rm -f /app/big" // edited after the build
	_, fs := checkWithDockerfile(t, builtLayers(), hist, builtDockerfile)
	link := find(fs, RuleDockerfileLink)
	if len(link) != 1 || link[0].Severity != report.Warning || !strings.Contains(link[0].Message, "1 of them unsure") || !strings.Contains(link[0].Message, "line 5 (RUN)") {
		t.Errorf("GC070: %s", dump(link))
	}
	// Still linked and priced: the kinds agree and the other RUNs match.
	if g := find(fs, "GL501"); len(g) != 1 || g[0].Bytes != 70000 {
		t.Errorf("GL501: %s", dump(g))
	}
}

func TestDockerfileMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, dockerfile string
		hist             []ocispec.History
		why              string
	}{
		{"another image's Dockerfile", "FROM alpine:3.20\nRUN apk add --no-cache python3\nCOPY . /srv\nRUN pip install flask\nRUN chown -R app /srv\n",
			buildahHistory, "none of the 3 RUN instructions appears in the image history"},
		{"kinds disagree", "FROM debian:12\nRUN apt-get update && apt-get install -y curl\nCOPY app /app\nRUN rm /app/big\nCOPY a /a\n",
			buildahHistory, "line 5 (COPY) falls on layer 5, which the history says RUN made"},
		{"more instructions than layers", builtDockerfile + "RUN apt-get update && apt-get install -y curl\nCOPY app /app\nRUN rm /app/big\nRUN chmod -R 700 /app\n",
			buildkitHistory, "more layer-producing instructions than the image has layers"},
		{"history does not list the layers", builtDockerfile, buildahHistory[:4], "the image history lists 2 layers but the manifest has 5"},
		{"no history", builtDockerfile, []ocispec.History{}, "no history"},
		{"FROM scratch", "FROM scratch\nCOPY app /app\nRUN rm /app/big\nRUN chmod -R 700 /app\n", buildahHistory, "FROM scratch but 2 layers precede"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layers := builtLayers()
			_, fs := checkWithDockerfile(t, layers, tc.hist, tc.dockerfile)
			link := find(fs, RuleDockerfileLink)
			if len(link) != 1 || link[0].Severity != report.Warning || !strings.Contains(link[0].Message, tc.why) {
				t.Fatalf("GC070, want a warning saying %q: %s", tc.why, dump(link))
			}
			for _, f := range fs {
				if strings.HasPrefix(f.Rule, "GL") && (f.Layer != "" || f.Bytes != 0) {
					t.Errorf("%s priced or linked although the Dockerfile does not match: %+v", f.Rule, f)
				}
				if strings.HasPrefix(f.Rule, "GC") && f.Rule != RuleDockerfileLink && f.File != "" {
					t.Errorf("%s located in the Dockerfile although it does not match: %+v", f.Rule, f)
				}
				if f.Rule == RuleLayerHidden {
					t.Errorf("GC006 without a link: %+v", f)
				}
			}
			if len(find(fs, RuleWasted)) != 1 {
				t.Error("the image findings should still be there")
			}
		})
	}
}

func TestDockerfileUnparsable(t *testing.T) {
	_, fs := checkWithDockerfile(t, builtLayers(), buildahHistory, "FROM debian\nRUN <<EOF\nunterminated")
	if len(find(fs, "GL900")) != 1 || len(find(fs, RuleDockerfileLink)) != 1 {
		t.Errorf("want GL900 and GC070: %s", dump(fs))
	}
}

func TestHistKind(t *testing.T) {
	for _, tc := range []struct{ in, kind, text string }{
		{"/bin/sh -c apt-get update", "RUN", "/bin/sh -c apt-get update"},
		{"|2 A=1 B=2 /bin/sh -c make", "RUN", "|2 A=1 B=2 /bin/sh -c make"},
		{"RUN /bin/sh -c make # buildkit", "RUN", "/bin/sh -c make"},
		{"RUN |1 V=2 /bin/sh -c make # buildkit", "RUN", "|1 V=2 /bin/sh -c make"},
		{"/bin/sh -c #(nop) COPY file:abc in /etc/x ", "COPY", "/etc/x"},
		{"/bin/sh -c #(nop) ADD multi:abc in /srv/ ", "ADD", "/srv/"},
		{"COPY --chown=1 app /app # buildkit", "COPY", "/app"},
		{"WORKDIR /app", "WORKDIR", "/app"},
		{"/bin/sh -c #(nop)  ENV A=1", "ENV", "A=1"},
		{"gantry testimage", "", "gantry testimage"},
	} {
		if k, text := histKind(tc.in); k != tc.kind || text != tc.text {
			t.Errorf("histKind(%q) = %q, %q; want %q, %q", tc.in, k, text, tc.kind, tc.text)
		}
	}
}

func dump(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Location() + " " + f.Rule + " " + f.Message + "\n")
	}
	return b.String()
}

// TestDockerfileBuilderStage checks that only the stages that ship are
// linked: a builder stage's instructions made no layer of the image.
func TestDockerfileBuilderStage(t *testing.T) {
	df := "FROM debian:12 AS build\nRUN apt-get update && apt-get install -y gcc\n" + builtDockerfile
	r, fs := checkWithDockerfile(t, builtLayers(), buildahHistory, df)
	if g := find(fs, "GL501"); len(g) != 1 || g[0].Line != 8 || g[0].Bytes != 70000 || g[0].Layer != r.Layers[4].Digest.String() {
		t.Errorf("GL501: %s", dump(g))
	}
	for _, f := range fs {
		if f.Line == 2 && f.Layer != "" {
			t.Errorf("a builder stage's finding names a layer: %+v", f)
		}
	}
	if link := find(fs, RuleDockerfileLink); len(link) != 1 || link[0].Severity != report.Info || link[0].Line != 3 {
		t.Errorf("GC070: %s", dump(link))
	}
}
