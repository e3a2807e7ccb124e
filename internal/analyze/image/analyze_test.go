package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// analyze pushes an image of layers into a memory store and analyzes it.
func analyze(t testing.TB, layers []testimage.Layer, cfg imagetest.Config, opts Options) (*Result, error) {
	t.Helper()
	repo, err := memory.New().Repository(t.Context(), "test/app")
	if err != nil {
		t.Fatal(err)
	}
	img := imagetest.Image(layers, cfg)
	if err := img.Push(t.Context(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	return Analyze(t.Context(), repo, "test/app:v1", "v1", opts)
}

func mustAnalyze(t *testing.T, layers []testimage.Layer, cfg imagetest.Config) *Result {
	t.Helper()
	r, err := analyze(t, layers, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWaste(t *testing.T) {
	for _, c := range []imagetest.Compression{imagetest.Gzip, imagetest.Zstd, imagetest.None} {
		l1 := imagetest.Layer(c,
			imagetest.Sized("a/f1", 100), imagetest.Sized("a/f2", 200),
			imagetest.Sized("d/x", 300), imagetest.Sized("d/sub/y", 400),
			imagetest.Sized("o/p", 500), imagetest.Sized("o/q", 600), imagetest.Sized("keep", 50))
		l2 := imagetest.Layer(c,
			imagetest.Sized("a/f1", 110), // overwrites 100
			imagetest.Whiteout("a/f2"),   // deletes 200
			imagetest.Whiteout("d"),      // deletes a directory of 700
			imagetest.Opaque("o"),        // hides 1100
			imagetest.Sized("o/r", 70))   // survives the opaque marker of its own layer
		r := mustAnalyze(t, []testimage.Layer{l1, l2}, imagetest.Config{})
		// Stored: 2150 + 180; final: a/f1 110 + keep 50 + o/r 70.
		if r.Stored != 2330 || r.Size != 230 || r.Wasted != 2100 {
			t.Errorf("compression %d: stored %d size %d wasted %d, want 2330 230 2100", c, r.Stored, r.Size, r.Wasted)
		}
		if r.Layers[0].Hidden != 2100 || r.Layers[1].Hides != 2100 || r.Layers[1].Hidden != 0 {
			t.Errorf("layers: %+v", r.Layers)
		}
		// dive: a/f1 counted twice (100+110), a/f2 (200 + a file whiteout's
		// 0); d's contents are not leaves twice; the opaque marker is
		// ignored.
		if r.DiveWasted != 410 {
			t.Errorf("dive wasted %d, want 410", r.DiveWasted)
		}
	}
}

func TestWasteEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		layers               []testimage.Layer
		stored, size, wasted int64
	}{
		{"same path twice in one layer", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("f", 10), imagetest.Sized("f", 20)),
		}, 30, 20, 10},
		{"file replaces a directory", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("x/a", 10), imagetest.Sized("x/b/c", 20)),
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("x", 5)),
		}, 35, 5, 30},
		{"whiteout then re-create in the same layer", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("e/a", 10), imagetest.Sized("e/b", 20)),
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("e/c", 3), imagetest.Whiteout("e")),
		}, 33, 3, 30},
		{"whiteout of a missing path", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("k", 10)),
			imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("nothing/here")),
		}, 10, 10, 0},
		{"opaque over three layers", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("o/a", 10)),
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("o/b", 20)),
			imagetest.Layer(imagetest.Gzip, imagetest.Opaque("o"), imagetest.Sized("o/c", 1)),
		}, 31, 1, 30},
		{"directory metadata change keeps contents", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("m/a", 10)),
			imagetest.Layer(imagetest.Gzip, imagetest.Dir("m")),
		}, 10, 10, 0},
		{"hard links store no bytes", []testimage.Layer{
			imagetest.Layer(imagetest.Gzip, imagetest.Sized("h/a", 10), imagetest.Entry{Name: "h/b", Type: tar.TypeLink, Link: "h/a"}),
		}, 10, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustAnalyze(t, tc.layers, imagetest.Config{})
			if r.Stored != tc.stored || r.Size != tc.size || r.Wasted != tc.wasted {
				t.Errorf("stored %d size %d wasted %d, want %d %d %d", r.Stored, r.Size, r.Wasted, tc.stored, tc.size, tc.wasted)
			}
		})
	}
}

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"

func has(fs []report.Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func TestFindings(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
	type tc struct {
		name   string
		rule   string
		fires  bool
		layers [][]imagetest.Entry
		cfg    imagetest.Config
	}
	app := imagetest.Config{User: "app", Cmd: []string{"/app"}}
	with := func(mod func(*imagetest.Config)) imagetest.Config { c := app; mod(&c); return c }
	cases := []tc{
		{"jvm", RuleHeavy, true, [][]imagetest.Entry{{imagetest.Sized("usr/lib/jvm/java-17/lib/server/libjvm.so", 1000), imagetest.Sized("usr/lib/jvm/java-17/lib/modules", 5000)}}, app},
		{"plain library", RuleHeavy, false, [][]imagetest.Entry{{imagetest.Sized("usr/lib/libfoo.so", 1000)}}, app},
		{"chromium", RuleHeavy, true, [][]imagetest.Entry{{imagetest.Sized("usr/lib/chromium/chromium", 11<<20)}}, app},
		{"chromium wrapper script", RuleHeavy, false, [][]imagetest.Entry{{imagetest.Sized("usr/bin/chromium", 2000)}}, app},
		{"elasticsearch", RuleHeavy, true, [][]imagetest.Entry{{imagetest.Sized("usr/share/elasticsearch/lib/elasticsearch-8.11.0.jar", 100)}}, app},
		{"elasticsearch client notes", RuleHeavy, false, [][]imagetest.Entry{{imagetest.Sized("srv/elasticsearch-notes.txt", 100)}}, app},
		{"gcc", RuleHeavy, true, [][]imagetest.Entry{{imagetest.Sized("usr/lib/gcc/x86_64-linux-gnu/12/cc1", 100)}}, app},
		{"gcc runtime only", RuleHeavy, false, [][]imagetest.Entry{{imagetest.Sized("usr/lib/x86_64-linux-gnu/libgcc_s.so.1", 100)}}, app},
		{"build-essential", RuleBuildEssential, true, [][]imagetest.Entry{{imagetest.Sized("var/lib/dpkg/info/build-essential.list", 10)}}, app},
		{"no build-essential", RuleBuildEssential, false, [][]imagetest.Entry{{imagetest.Sized("var/lib/dpkg/info/bash.list", 10)}}, app},

		{"systemd through /sbin/init symlink", RuleProcessManager, true, [][]imagetest.Entry{{imagetest.Sized("lib/systemd/systemd", 10), imagetest.Symlink("sbin/init", "/lib/systemd/systemd")}}, with(func(c *imagetest.Config) { c.Cmd = []string{"/sbin/init"} })},
		{"systemd under another name", RuleProcessManager, true, [][]imagetest.Entry{{imagetest.Sized("lib/systemd/systemd", 10), imagetest.Symlink("usr/bin/start", "../../lib/systemd/systemd")}}, with(func(c *imagetest.Config) { c.Cmd = []string{"start"}; c.Env = []string{"PATH=/usr/bin"} })},
		{"supervisord behind tini", RuleProcessManager, true, [][]imagetest.Entry{{imagetest.Sized("usr/bin/supervisord", 10), imagetest.Sized("usr/bin/tini", 10)}}, with(func(c *imagetest.Config) {
			c.Entrypoint = []string{"tini", "--"}
			c.Cmd = []string{"supervisord", "-n"}
		})},
		{"nginx behind tini", RuleProcessManager, false, [][]imagetest.Entry{{imagetest.Sized("usr/bin/nginx", 10), imagetest.Sized("usr/bin/tini", 10)}}, with(func(c *imagetest.Config) { c.Entrypoint = []string{"tini", "--"}; c.Cmd = []string{"nginx"} })},
		{"gosu then app", RuleProcessManager, false, [][]imagetest.Entry{{imagetest.Sized("usr/bin/gosu", 10)}}, with(func(c *imagetest.Config) { c.Entrypoint = []string{"gosu", "app", "/app"} })},
		{"shell chain ending in supervisord", RuleProcessManager, true, nil, with(func(c *imagetest.Config) {
			c.Cmd = []string{"/bin/sh", "-c", "service cron start && exec supervisord -n"}
		})},
		{"s6-overlay /init", RuleProcessManager, true, [][]imagetest.Entry{{imagetest.Sized("init", 10), imagetest.Dir("etc/s6-overlay")}}, with(func(c *imagetest.Config) { c.Entrypoint = []string{"/init"} })},
		{"plain /init script", RuleProcessManager, false, [][]imagetest.Entry{{imagetest.Sized("init", 10)}}, with(func(c *imagetest.Config) { c.Entrypoint = []string{"/init"} })},
		{"runsvdir", RuleProcessManager, true, nil, with(func(c *imagetest.Config) { c.Cmd = []string{"runsvdir", "/etc/service"} })},
		{"plain app", RuleProcessManager, false, nil, app},

		{"no user", RuleRootUser, true, nil, with(func(c *imagetest.Config) { c.User = "" })},
		{"uid 0", RuleRootUser, true, nil, with(func(c *imagetest.Config) { c.User = "0:0" })},
		{"named user with uid 0", RuleRootUser, true, [][]imagetest.Entry{{imagetest.File("etc/passwd", passwd+"toor:x:0:0::/:/bin/sh\n")}}, with(func(c *imagetest.Config) { c.User = "toor" })},
		{"named user", RuleRootUser, false, nil, app},
		{"numeric user", RuleRootUser, false, nil, with(func(c *imagetest.Config) { c.User = "1000:1000" })},
		{"unknown user", RuleUnknownUser, true, nil, with(func(c *imagetest.Config) { c.User = "ghost" })},
		{"known user", RuleUnknownUser, false, nil, app},
		{"setuid", RuleSetuid, true, [][]imagetest.Entry{{{Name: "usr/bin/su", Type: tar.TypeReg, Mode: 0o4755, Data: []byte("x")}}}, app},
		{"setgid", RuleSetuid, true, [][]imagetest.Entry{{{Name: "usr/bin/wall", Type: tar.TypeReg, Mode: 0o2755, Data: []byte("x")}}}, app},
		{"no setuid", RuleSetuid, false, [][]imagetest.Entry{{{Name: "usr/bin/ls", Type: tar.TypeReg, Mode: 0o755, Data: []byte("x")}}}, app},
		{"empty password", RuleEmptyPassword, true, [][]imagetest.Entry{{imagetest.File("etc/shadow", "root:*:19000:0:99999:7:::\nbob::19000:0:99999:7:::\n")}}, app},
		{"locked passwords", RuleEmptyPassword, false, [][]imagetest.Entry{{imagetest.File("etc/shadow", "root:*:19000:0:99999:7:::\nbob:!:19000:0:99999:7:::\n")}}, app},
		{"shadow fixed in a later layer", RuleEmptyPassword, false, [][]imagetest.Entry{{imagetest.File("etc/shadow", "bob::1::::::\n")}, {imagetest.File("etc/shadow", "bob:!:1::::::\n")}}, app},
		{"duplicate uid", RuleDuplicateUID, true, [][]imagetest.Entry{{imagetest.File("etc/passwd", passwd+"app2:x:1000:1000::/:/bin/sh\n")}}, app},
		{"unique uids", RuleDuplicateUID, false, nil, app},

		{"secret env", RuleSecretEnv, true, nil, with(func(c *imagetest.Config) { c.Env = []string{"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG"} })},
		{"token-shaped env", RuleSecretEnv, true, nil, with(func(c *imagetest.Config) { c.Env = []string{"SOMETHING=ghp_abcdefghijklmnopqrstuvwxyz0123456789"} })},
		{"secret file reference", RuleSecretEnv, false, nil, with(func(c *imagetest.Config) {
			c.Env = []string{"DB_PASSWORD_FILE=/run/secrets/db", "PATH=/usr/bin", "TOKEN_URL=https://auth.example.com/token"}
		})},
		{"secret build arg in history", RuleSecretHistory, true, [][]imagetest.Entry{{imagetest.Sized("x", 1)}}, with(func(c *imagetest.Config) { c.CreatedBy = []string{"RUN |1 DB_PASSWORD=hunter22 /bin/sh -c make"} })},
		{"plain history", RuleSecretHistory, false, [][]imagetest.Entry{{imagetest.Sized("x", 1)}}, with(func(c *imagetest.Config) { c.CreatedBy = []string{"RUN /bin/sh -c apt-get install -y curl"} })},
		{"private key", RuleSecretFile, true, [][]imagetest.Entry{{imagetest.File("root/.ssh/id_ed25519", key)}}, app},
		{"private key deleted later", RuleSecretFile, true, [][]imagetest.Entry{{imagetest.File("root/.ssh/id_ed25519", key)}, {imagetest.Whiteout("root/.ssh")}}, app},
		{"certificate only", RuleSecretFile, false, [][]imagetest.Entry{{imagetest.File("etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n")}}, app},
		{"key in test fixtures", RuleSecretFile, false, [][]imagetest.Entry{{imagetest.File("app/node_modules/x/test/fixtures/key.pem", key)}}, app},
		{".env", RuleSecretFile, true, [][]imagetest.Entry{{imagetest.File("app/.env", "DEBUG=1\nAPI_KEY=abc123\n")}}, app},
		{".env.example", RuleSecretFile, false, [][]imagetest.Entry{{imagetest.File("app/.env.example", "API_KEY=abc123\n")}}, app},
		{"aws credentials", RuleSecretFile, true, [][]imagetest.Entry{{imagetest.File("root/.aws/credentials", "[default]\n")}}, app},
		{"npmrc without token", RuleSecretFile, false, [][]imagetest.Entry{{imagetest.File("root/.npmrc", "registry=https://r.example.com/\n")}}, app},

		{"git directory", RuleBuildContext, true, [][]imagetest.Entry{{imagetest.File("app/.git/HEAD", "ref: refs/heads/main\n")}}, app},
		{"Dockerfile", RuleBuildContext, true, [][]imagetest.Entry{{imagetest.File("app/Dockerfile", "FROM x\n")}}, app},
		{"vscode", RuleBuildContext, true, [][]imagetest.Entry{{imagetest.File("app/.vscode/settings.json", "{}")}}, app},
		{"Dockerfile shipped by a package", RuleBuildContext, false, [][]imagetest.Entry{{imagetest.File("usr/share/doc/x/Dockerfile", "FROM x\n")}}, app},
		{"Dockerfile deep in node_modules", RuleBuildContext, false, [][]imagetest.Entry{{imagetest.File("app/node_modules/a/b/c/Dockerfile", "FROM x\n")}}, app},
		{"git repository in the Go module cache", RuleBuildContext, false, [][]imagetest.Entry{{imagetest.File("root/go/pkg/mod/x/.git/HEAD", "ref: refs/heads/main\n")}}, app},
		{"Dockerfile in a directory named like a package one", RuleBuildContext, true, [][]imagetest.Entry{{imagetest.File("opt/xusr/share/Dockerfile", "FROM x\n")}}, app},
		{"Dockerfile beside node_modules", RuleBuildContext, true, [][]imagetest.Entry{{imagetest.Dir("app/node_modules"), imagetest.File("app/node_modules2/Dockerfile", "FROM x\n")}}, app},
		{"directory named like a heavy component's file", RuleHeavy, false, [][]imagetest.Entry{{imagetest.File("opt/lib/libjvm.so/README", "not a JVM\n")}}, app},
		{"directories no entry names", RuleImpliedDirs, false, [][]imagetest.Entry{{imagetest.File(strings.Repeat("a/", 2000)+"f", "x")}}, app},
		{"apt archives", RulePackageCache, true, [][]imagetest.Entry{{imagetest.Sized("var/cache/apt/archives/curl.deb", 2000), imagetest.Sized("var/cache/apt/archives/lock", 0)}}, app},
		{"apt archives empty", RulePackageCache, false, [][]imagetest.Entry{{imagetest.Sized("var/cache/apt/archives/lock", 0), imagetest.Dir("var/cache/apt/archives/partial")}}, app},
		{"apt lists", RulePackageCache, true, [][]imagetest.Entry{{imagetest.Sized("var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease", 5000)}}, app},
		{"pip cache", RulePackageCache, true, [][]imagetest.Entry{{imagetest.Sized("root/.cache/pip/http/a/b", 5000)}}, app},
		{"apt lists cleaned in a later layer", RulePackageCache, false, [][]imagetest.Entry{{imagetest.Sized("var/lib/apt/lists/x_InRelease", 5000)}, {imagetest.Opaque("var/lib/apt/lists")}}, app},

		{"base annotation", RuleBaseImage, true, nil, with(func(c *imagetest.Config) {
			c.Annotations = map[string]string{AnnotationBaseName: "docker.io/library/debian:bookworm"}
		})},
		{"no base annotation", RuleBaseImage, false, nil, app},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layers := []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", passwd), imagetest.Sized("app", 10))}
			for _, l := range c.layers {
				layers = append(layers, imagetest.Layer(imagetest.Gzip, l...))
			}
			cfg := c.cfg
			if len(cfg.CreatedBy) > 0 {
				cfg.CreatedBy = append([]string{"base"}, cfg.CreatedBy...)
			}
			r := mustAnalyze(t, layers, cfg)
			if got := has(r.Findings, c.rule); got != c.fires {
				t.Errorf("%s fired: %v, want %v; findings:", c.rule, got, c.fires)
				for _, f := range r.Findings {
					t.Logf("  %s %s %s", f.Rule, f.Severity, f.Message)
				}
			}
		})
	}
}

func TestFindingCarriesLayerAndBytes(t *testing.T) {
	l1 := imagetest.Layer(imagetest.Gzip, imagetest.Sized("big", 1<<20))
	l2 := imagetest.Layer(imagetest.Gzip, imagetest.Sized("usr/lib/jvm/j/lib/server/libjvm.so", 3000), imagetest.Sized("usr/lib/jvm/j/bin/java", 1000))
	l3 := imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("big"))
	r := mustAnalyze(t, []testimage.Layer{l1, l2, l3}, imagetest.Config{User: "1000", CreatedBy: []string{"ADD base", "RUN apt-get install -y openjdk-17-jre", "RUN rm /big"}})
	var heavy, hides *report.Finding
	for i, f := range r.Findings {
		switch f.Rule {
		case RuleHeavy:
			heavy = &r.Findings[i]
		case RuleLayerHides:
			hides = &r.Findings[i]
		}
	}
	if heavy == nil || heavy.Bytes != 4000 || heavy.Layer != l2.Desc.Digest.String() || !strings.Contains(heavy.Message, "openjdk-17-jre") || heavy.Image != "test/app:v1" {
		t.Errorf("heavy: %+v", heavy)
	}
	if hides == nil || hides.Bytes != 1<<20 || hides.Layer != l3.Desc.Digest.String() || !strings.Contains(hides.Message, "/big") {
		t.Errorf("hides: %+v", hides)
	}
}

func TestBaseFindings(t *testing.T) {
	imgs, err := testimage.Fleet(3, 2, 1000, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := memory.New().Repository(t.Context(), "fleet")
	var rs []*Result
	for i, img := range imgs {
		if err := img.Push(t.Context(), repo, ""); err != nil {
			t.Fatal(err)
		}
		r, err := Analyze(t.Context(), repo, "img"+string(rune('0'+i)), img.ManifestDesc.Digest.String(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	fs := BaseFindings(rs)
	// Images 0 and 2 share base 0; image 1 shares nothing.
	if len(fs) != 2 || fs[0].Image != "img0" || fs[1].Image != "img2" || !strings.Contains(fs[0].Message, "img2") {
		t.Errorf("%+v", fs)
	}
}

// corrupt serves wrong bytes for one blob.
type corrupt struct {
	cas.ReadOnlyTarget
	bad string
}

func (c corrupt) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || desc.Digest.String() != c.bad {
		return rc, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestBadInput(t *testing.T) {
	bomb := imagetest.Layer(imagetest.Gzip, imagetest.Sized("zeros", 8<<20))
	for _, tc := range []struct {
		name   string
		layers []testimage.Layer
		lim    Limits
		want   error
	}{
		{"dot-dot path", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.File("../etc/passwd", "x"))}, Limits{}, ErrHostile},
		{"dot-dot inside", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.File("a/../../b", "x"))}, Limits{}, ErrHostile},
		{"absolute path", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.File("/etc/passwd", "x"))}, Limits{}, ErrHostile},
		{"hard link out", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.Entry{Name: "l", Type: tar.TypeLink, Link: "../../etc/shadow"})}, Limits{}, ErrHostile},
		{"huge name", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.File(strings.Repeat("a/", 3000)+"f", "x"))}, Limits{}, ErrHostile},
		{"decompression bomb", []testimage.Layer{bomb}, Limits{MaxLayerBytes: 1 << 20}, ErrLimit},
		{"total over limit", []testimage.Layer{bomb, imagetest.Layer(imagetest.Gzip, imagetest.Sized("more", 8<<20))}, Limits{MaxTotalBytes: 12 << 20}, ErrLimit},
		{"too many entries", []testimage.Layer{imagetest.Layer(imagetest.Gzip, imagetest.Sized("a", 1), imagetest.Sized("b", 1), imagetest.Sized("c", 1))}, Limits{MaxEntries: 2}, ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := analyze(t, tc.layers, imagetest.Config{}, Options{Limits: tc.lim})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("not a tar", func(t *testing.T) {
		_, err := analyze(t, []testimage.Layer{imagetest.RawLayer(imagetest.Gzip, bytes.Repeat([]byte("garbage!"), 200))}, imagetest.Config{}, Options{})
		if err == nil || !strings.Contains(err.Error(), "layer 1") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		l := imagetest.Layer(imagetest.Gzip, imagetest.Sized("f", 100000))
		l = imagetest.RawLayer(imagetest.None, l.Data[:len(l.Data)/2])
		if _, err := analyze(t, []testimage.Layer{l}, imagetest.Config{}, Options{}); err == nil {
			t.Error("no error")
		}
	})
	t.Run("missing layer", func(t *testing.T) {
		repo, _ := memory.New().Repository(t.Context(), "m")
		l := imagetest.Layer(imagetest.Gzip, imagetest.Sized("f", 10))
		img := imagetest.Image([]testimage.Layer{l}, imagetest.Config{})
		_ = repo.Push(t.Context(), img.ConfigDesc, bytes.NewReader(img.Config))
		_ = repo.Push(t.Context(), img.ManifestDesc, bytes.NewReader(img.Manifest))
		_ = repo.Tag(t.Context(), img.ManifestDesc, "v1")
		_, err := Analyze(t.Context(), repo, "m:v1", "v1", Options{})
		if !errors.Is(err, cas.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("corrupt layer", func(t *testing.T) {
		repo, _ := memory.New().Repository(t.Context(), "c")
		l := imagetest.Layer(imagetest.None, imagetest.Sized("f", 10000))
		img := imagetest.Image([]testimage.Layer{l}, imagetest.Config{})
		if err := img.Push(t.Context(), repo, "v1"); err != nil {
			t.Fatal(err)
		}
		_, err := Analyze(t.Context(), corrupt{repo, l.Desc.Digest.String()}, "c:v1", "v1", Options{})
		if !errors.Is(err, cas.ErrDigestMismatch) {
			t.Errorf("err = %v, want ErrDigestMismatch", err)
		}
	})
}

// TestImpliedDirLimit stacks a layer whose paths imply more directories
// than Limits.MaxImpliedDirs allows: the entry past the bound is left out,
// the sizes leave it out too, and GC007 names it.
func TestImpliedDirLimit(t *testing.T) {
	l1 := imagetest.Layer(imagetest.Gzip,
		imagetest.Sized("a/b/c/f1", 100), // implies 3 directories
		imagetest.Sized("x/y/f2", 200),   // 2 more: 5
		imagetest.Sized("p/q/r/f4", 400), // 3 more would be 8, over 5 entries + 1
		imagetest.Sized("top", 50))
	l2 := imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("a/b/c/f1"))
	r, err := analyze(t, []testimage.Layer{l1, l2}, imagetest.Config{}, Options{Limits: Limits{MaxImpliedDirs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stored != 750 || r.Size != 250 || r.Wasted != 100 || r.DiveWasted != 100 {
		t.Errorf("stored %d, size %d, wasted %d, dive %d; want 750, 250, 100, 100", r.Stored, r.Size, r.Wasted, r.DiveWasted)
	}
	if n := r.fs.lookup("x/y/f2"); n == nil {
		t.Error("x/y/f2, within the bound, was left out")
	}
	var got []report.Finding
	for _, f := range r.Findings {
		if f.Rule == RuleImpliedDirs {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d %s findings, want 1: %+v", len(got), RuleImpliedDirs, got)
	}
	f := got[0]
	if f.Layer != r.Layers[0].Digest.String() || f.Bytes != 400 || f.Severity != report.Error ||
		!strings.Contains(f.Message, "1 of its 4 entries") || !strings.Contains(f.Message, "/p/q/r/f4") {
		t.Errorf("finding %+v", f)
	}
}
