package image

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSquashedHistory: a squashed image (buildah --squash, docker build
// --squash) has one layer for the changes of many instructions, and a
// history whose layer-bearing entry, if any, is not the instruction that
// made the layer. Findings must name the squashed layer, never the
// unrelated instruction (CMD, ENV) the history happens to put on it; an
// image whose history does match its layers keeps its instructions.
func TestSquashedHistory(t *testing.T) {
	h := func(createdBy string, empty bool) ocispec.History {
		return ocispec.History{CreatedBy: createdBy, EmptyLayer: empty}
	}
	run1 := "/bin/sh -c mkdir -p /var/cache/apt/archives && dd if=/dev/zero of=/var/cache/apt/archives/tool.deb bs=1000 count=50"
	run2 := "/bin/sh -c rm /big"
	cache := imagetest.Sized("var/cache/apt/archives/tool.deb", 50000)
	tests := []struct {
		name     string
		layers   [][]imagetest.Entry
		history  []ocispec.History
		squashed []bool   // per layer
		want     []string // CreatedBy per layer
	}{
		{
			// buildah --squash: every instruction marked empty_layer but
			// the last, a CMD.
			name:   "buildah squash",
			layers: [][]imagetest.Entry{{imagetest.Sized("bin/busybox", 1000), cache}},
			history: []ocispec.History{
				h(run1, true), h(run2, true), h("/bin/sh -c #(nop) ENV A=b", true),
				{CreatedBy: `/bin/sh -c #(nop) CMD ["/bin/sh"]`, Comment: "FROM example/busybox:1"},
			},
			squashed: []bool{true},
			want:     []string{""},
		},
		{
			// buildah --squash FROM a base with its own history: more
			// layer-bearing entries than layers.
			name:   "buildah squash on a base with history",
			layers: [][]imagetest.Entry{{imagetest.Sized("bin/busybox", 1000), cache}},
			history: []ocispec.History{
				h("/bin/sh -c #(nop) ADD file:0f3a in / ", false), h(`/bin/sh -c #(nop)  CMD ["bash"]`, true),
				h(run1, true), h(`/bin/sh -c #(nop) CMD ["/bin/sh"]`, false),
			},
			squashed: []bool{true},
			want:     []string{""},
		},
		{
			// docker build --squash: the base's layers stay, the new
			// instructions are empty and a "merge" entry carries the layer.
			name:   "docker squash",
			layers: [][]imagetest.Entry{{imagetest.Sized("bin/busybox", 1000)}, {cache}},
			history: []ocispec.History{
				h("/bin/sh -c #(nop) ADD file:0f3a in / ", false), h(`/bin/sh -c #(nop)  CMD ["bash"]`, true),
				h(run1, true), h(run2, true),
				{Comment: "merge sha256:1111 to sha256:2222"},
			},
			squashed: []bool{false, true},
			want:     []string{"/bin/sh -c #(nop) ADD file:0f3a in / ", ""},
		},
		{
			// A squash whose history has no empty_layer flags at all.
			name:     "no empty_layer flags",
			layers:   [][]imagetest.Entry{{imagetest.Sized("bin/busybox", 1000), cache}},
			history:  []ocispec.History{h(run1, false), h(run2, false), h("/bin/sh -c #(nop) ENV A=b", false), h(`/bin/sh -c #(nop) CMD ["/bin/sh"]`, false)},
			squashed: []bool{true},
			want:     []string{""},
		},
		{
			// Not squashed: one layer made by ADD, then a CMD.
			name:     "one real layer",
			layers:   [][]imagetest.Entry{{imagetest.Sized("bin/busybox", 1000), cache}},
			history:  []ocispec.History{h("/bin/sh -c #(nop) ADD file:0f3a in / ", false), h(`/bin/sh -c #(nop)  CMD ["bash"]`, true)},
			squashed: []bool{false},
			want:     []string{"/bin/sh -c #(nop) ADD file:0f3a in / "},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var layers []testimage.Layer
			for _, entries := range tc.layers {
				layers = append(layers, imagetest.Layer(imagetest.Gzip, entries...))
			}
			r := mustAnalyze(t, layers, imagetest.Config{User: "1000", History: tc.history})
			for i, l := range r.Layers {
				if l.Squashed != tc.squashed[i] || l.CreatedBy != tc.want[i] {
					t.Errorf("layer %d: squashed %v, created by %q; want %v, %q", i+1, l.Squashed, l.CreatedBy, tc.squashed[i], tc.want[i])
				}
			}
			found := false
			for _, f := range r.Findings {
				if strings.Contains(f.Message, "CMD") || strings.Contains(f.Message, "ENV") || strings.Contains(f.Message, "rm /big") {
					t.Errorf("%s names an instruction that did not make its layer: %s", f.Rule, f.Message)
				}
				if f.Rule == RulePackageCache {
					found = true
					if tc.squashed[len(tc.squashed)-1] && !strings.Contains(f.Message, "squashed") {
						t.Errorf("%s does not say the layer is squashed: %s", f.Rule, f.Message)
					}
				}
			}
			if !found {
				t.Errorf("no %s finding: %v", RulePackageCache, r.Findings)
			}
		})
	}
}

// TestDockerfileSquashed: with --dockerfile, a squashed image is said to be
// squashed (not "does not match"), and no line is linked to its layer or
// priced, where the RUN of line 3 used to be refused as falling on a layer
// "the history says CMD made".
func TestDockerfileSquashed(t *testing.T) {
	var all []imagetest.Entry
	for _, l := range [][]imagetest.Entry{
		{imagetest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), imagetest.Sized("bin/sh", 1000)},
		{imagetest.Sized("var/lib/apt/lists/deb.debian.org_Packages", 5000), imagetest.Sized("var/cache/apt/pkgcache.bin", 2000), imagetest.Sized("usr/bin/curl", 3000)},
		{imagetest.Dir("app"), imagetest.Sized("app/a", 70000)},
	} {
		all = append(all, l...)
	}
	squashedHistory := history(
		"-/bin/sh -c #(nop) ENV A=1",
		"-/bin/sh -c apt-get update && apt-get install -y curl",
		"-/bin/sh -c #(nop) COPY dir:0508f84dc2d6b53a10036b71989f3fd10e82e84a0606f9692dae6953b39b8752 in /app ",
		"-|1 V=1 /bin/sh -c rm /app/big",
		"-/bin/sh -c chmod -R 700 /app",
		"/bin/sh -c #(nop) CMD [\"/app/a\"]",
	)
	r, fs := checkWithDockerfile(t, []testimage.Layer{imagetest.Layer(imagetest.Gzip, all...)}, squashedHistory, builtDockerfile)
	if !r.Layers[0].Squashed {
		t.Errorf("layer 1 not found squashed: %+v", r.Layers[0])
	}
	link := find(fs, RuleDockerfileLink)
	if len(link) != 1 || link[0].Severity != report.Info || !strings.Contains(link[0].Message, "squashed") || strings.Contains(link[0].Message, "does not match") {
		t.Fatalf("GC070, want one info saying the image is squashed: %s", dump(link))
	}
	for _, f := range fs {
		if f.Layer != "" && f.Line > 0 {
			t.Errorf("%s linked line %d to a layer of a squashed image: %+v", f.Rule, f.Line, f)
		}
		if strings.Contains(f.Message, "CMD") {
			t.Errorf("%s names the CMD as a layer's maker: %s", f.Rule, f.Message)
		}
	}
}

// TestSquashedEntrypointAndHeavy: in a squashed image (buildah --squash),
// the process manager an entrypoint script starts is located to the image,
// and a heavy component to the squashed layer, named as squashed; neither
// names the CMD that buildah's history puts on the layer.
func TestSquashedEntrypointAndHeavy(t *testing.T) {
	layer := imagetest.Layer(imagetest.Gzip,
		imagetest.File("etc/passwd", passwd), imagetest.Sized("bin/busybox", 1000), imagetest.Symlink("bin/sh", "busybox"),
		script("usr/local/bin/start.sh", "#!/bin/sh\nhttpd -f -p 8080 &\ncrond -f &\nwait\n"),
		imagetest.Sized("opt/java/lib/modules", bigBinary+1))
	hist := []ocispec.History{
		{CreatedBy: "/bin/sh -c #(nop) COPY file:1a2b in /usr/local/bin/start.sh ", EmptyLayer: true},
		{CreatedBy: "/bin/sh -c tar -xzf /tmp/jdk.tgz -C /opt/java", EmptyLayer: true},
		{CreatedBy: `/bin/sh -c #(nop) CMD ["start.sh"]`},
	}
	r := mustAnalyze(t, []testimage.Layer{layer}, imagetest.Config{User: "app", Cmd: []string{"start.sh"}, History: hist})
	if !r.Layers[0].Squashed {
		t.Fatalf("layer 1 not found squashed")
	}
	pm := find(r.Findings, RuleProcessManager)
	if len(pm) != 1 || pm[0].Layer != "" || !strings.Contains(pm[0].Message, "/usr/local/bin/start.sh, which starts 2 processes in the background") {
		t.Errorf("GC020, want one on the image for start.sh: %s", dump(pm))
	}
	heavy := find(r.Findings, RuleHeavy)
	if len(heavy) != 1 || heavy[0].Layer != r.Layers[0].Digest.String() || !strings.Contains(heavy[0].Message, "squashed: instruction unknown") ||
		strings.Contains(heavy[0].Message, "CMD") || strings.Contains(heavy[0].Message, "tar -xzf") {
		t.Errorf("GC010, want one on the squashed layer naming no instruction: %s", dump(heavy))
	}
}
