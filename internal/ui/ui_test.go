package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/gantry-dev/gantry/internal/ui"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// fixture is gantry serve in small: a disk store, the registry handler and
// the web view over it, behind one httptest server, as serve wires them.
type fixture struct {
	srv   *httptest.Server
	ui    *ui.UI
	store *disk.Store
}

func newFixture(t *testing.T, az registry.Authorizer, run bool) *fixture {
	t.Helper()
	ds, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	u := ui.New(ds, ui.Options{Authorizer: az, Workers: 2})
	reg := u.Observe(registry.New(ds, registry.Options{Authorizer: az}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := az.(*auth.Authority); ok && r.URL.Path == a.TokenPath() {
			a.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, ui.Prefix) {
			u.ServeHTTP(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); u.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return &fixture{srv: srv, ui: u, store: ds}
}

// push pushes img through the registry's HTTP API, as a client would.
func (f *fixture) push(t *testing.T, img testimage.Image, repo, tag string, opts remote.Options) {
	t.Helper()
	u, _ := url.Parse(f.srv.URL)
	rr, err := remote.New(u.Host, opts)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := rr.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(t.Context(), dst, tag); err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
}

// wait waits for the background work to finish.
func (f *fixture) wait(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f.ui.Idle() {
		if time.Now().After(deadline) {
			t.Fatal("the web view's background work did not finish in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get fetches path as JSON into v, or as HTML when v is nil, and returns
// the body.
func (f *fixture) get(t *testing.T, path string, v any, user, password string, want int) string {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if v != nil {
		req.Header.Set("Accept", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	if v != nil && want == 200 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: Content-Type %q", path, ct)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	if v == nil && want == 200 && !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// images returns a base layer and three apps on it: app1 and app2 share
// the base, app2 writes a big file and deletes it (wasted bytes), app3
// arrives later with one new layer.
type images struct {
	base             testimage.Layer
	app1, app2, app3 testimage.Image
	bigBytes         int64
}

func testImages() images {
	var im images
	im.base = imagetest.Layer(imagetest.Gzip, imagetest.Dir("etc"), imagetest.File("etc/os-release", "ID=test\n"), imagetest.Sized("usr/lib/libbase.so", 200_000))
	im.bigBytes = 300_000
	cfg := func(cmds ...string) imagetest.Config {
		return imagetest.Config{Cmd: []string{"/app"}, CreatedBy: append([]string{"/bin/sh -c #(nop) ADD file:base in /"}, cmds...)}
	}
	im.app1 = imagetest.Image([]testimage.Layer{im.base, imagetest.Layer(imagetest.Gzip, imagetest.Sized("app/one", 1000))}, cfg("COPY app /app"))
	im.app2 = imagetest.Image([]testimage.Layer{
		im.base,
		imagetest.Layer(imagetest.Gzip, imagetest.Sized("tmp/big.bin", int(im.bigBytes))),
		imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("tmp/big.bin"), imagetest.Sized("app/two", 500)),
	}, cfg("RUN fetch big.bin", "RUN rm /tmp/big.bin"))
	im.app3 = imagetest.Image([]testimage.Layer{im.base, imagetest.Layer(imagetest.Gzip, imagetest.Sized("app/three", 700))}, cfg("COPY three /app"))
	return im
}

func TestPagesAndAnalysis(t *testing.T) {
	f := newFixture(t, nil, true)
	im := testImages()
	f.push(t, im.app1, "team/app1", "v1", remote.Options{})
	f.push(t, im.app2, "team/app2", "v1", remote.Options{})
	f.push(t, im.app2, "team/app2", "v2", remote.Options{})
	f.wait(t)

	t.Run("repositories", func(t *testing.T) {
		var p ui.ReposPage
		f.get(t, "/ui/?sort=tags", &p, "", "", 200)
		if len(p.Repositories) != 2 || p.Repositories[0].Name != "team/app2" || p.Repositories[0].Tags != 2 {
			t.Fatalf("repositories sorted by tags: %+v", p.Repositories)
		}
		for _, r := range p.Repositories {
			if !r.Known || r.Bytes <= 0 || r.LastPush == nil {
				t.Errorf("%s: %+v", r.Name, r)
			}
		}
		f.get(t, "/ui/?q=APP1", &p, "", "", 200)
		if len(p.Repositories) != 1 || p.Repositories[0].Name != "team/app1" {
			t.Errorf("search app1: %+v", p.Repositories)
		}
		html := f.get(t, "/ui/?sort=size", nil, "", "", 200)
		for _, want := range []string{`href="/ui/repo/team/app1"`, `href="/ui/repo/team/app2"`, `<label for="q">`} {
			if !strings.Contains(html, want) {
				t.Errorf("repositories page lacks %s", want)
			}
		}
	})

	t.Run("tags", func(t *testing.T) {
		var p ui.RepoPage
		f.get(t, "/ui/repo/team/app2", &p, "", "", 200)
		if len(p.Tags) != 2 {
			t.Fatalf("tags: %+v", p.Tags)
		}
		for _, tag := range p.Tags {
			if tag.Digest != im.app2.ManifestDesc.Digest || tag.Analysis != "ready" || tag.Uncompressed == nil || *tag.Uncompressed < im.bigBytes ||
				tag.Compressed <= 0 || len(tag.Platforms) != 1 || tag.Platforms[0] != "linux/amd64" || tag.Pushed == nil || tag.Findings == 0 {
				t.Errorf("tag %+v", tag)
			}
		}
	})

	t.Run("image", func(t *testing.T) {
		var p ui.ImagePage
		f.get(t, "/ui/image/team/app2:v1", &p, "", "", 200)
		if p.Analysis != "ready" || p.Wasted == nil || *p.Wasted < im.bigBytes || len(p.Layers) != 3 || p.Layers[1].CreatedBy != "RUN fetch big.bin" {
			t.Fatalf("image: %+v", p)
		}
		var waste *ui.FindingRow
		for i, fd := range p.Findings {
			if fd.Rule == "GC005" && fd.Bytes == im.bigBytes {
				waste = &p.Findings[i]
			}
		}
		if waste == nil || waste.Instruction != "RUN rm /tmp/big.bin" {
			t.Errorf("no GC005 finding of %d bytes on RUN rm /tmp/big.bin: %+v", im.bigBytes, p.Findings)
		}
		if p.Base == nil || p.Base.Layers != 1 || len(p.Base.Images) != 1 || p.Base.Images[0] != "team/app1:v1" {
			t.Errorf("shared base: %+v", p.Base)
		}
		html := f.get(t, "/ui/image/team/app2@"+im.app2.ManifestDesc.Digest.String(), nil, "", "", 200)
		for _, want := range []string{"GC005", "RUN rm /tmp/big.bin", "team/app1:v1", "wasted"} {
			if !strings.Contains(html, want) {
				t.Errorf("image page lacks %q", want)
			}
		}
	})

	t.Run("fleet", func(t *testing.T) {
		var p ui.FleetPage
		f.get(t, "/ui/fleet", &p, "", "", 200)
		if len(p.Report.Images) != 3 || p.Report.Node >= p.Report.Total {
			t.Fatalf("fleet: %+v", p.Report)
		}
		html := f.get(t, "/ui/fleet", nil, "", "", 200)
		if !strings.Contains(html, "<svg") || !strings.Contains(html, "team/app1:v1") {
			t.Errorf("fleet page lacks the tree")
		}
	})

	t.Run("shared layers read once", func(t *testing.T) {
		// base + app1's layer + app2's two layers.
		if n := f.ui.LayersScanned(); n != 4 {
			t.Errorf("layers scanned: %d, want 4", n)
		}
		f.push(t, im.app3, "team/app3", "v1", remote.Options{})
		f.wait(t)
		if n := f.ui.LayersScanned(); n != 5 {
			t.Errorf("after a push with one new layer, layers scanned: %d, want 5", n)
		}
		var p ui.ImagePage
		f.get(t, "/ui/image/team/app3:v1", &p, "", "", 200)
		if p.Analysis != "ready" {
			t.Errorf("app3: %s", p.Analysis)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, path := range []string{"/ui/repo/nope", "/ui/image/team/app1:nope", "/ui/nowhere"} {
			var e map[string]string
			f.get(t, path, &e, "", "", 404)
			f.get(t, path, nil, "", "", 404)
		}
		f.get(t, "/ui/image/justaname", nil, "", "", 400)
	})
}

func TestReferrersShown(t *testing.T) {
	f := newFixture(t, nil, true)
	im := testImages()
	f.push(t, im.app1, "signed/app", "v1", remote.Options{})
	// A cosign-style signature referring to the image.
	sigCfg := []byte("{}")
	sig := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config:  ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes(sigCfg), Size: 2},
		Layers:  []ocispec.Descriptor{{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes(sigCfg), Size: 2}},
		Subject: &im.app1.ManifestDesc,
	}
	sig.SchemaVersion = 2
	mb, _ := json.Marshal(sig)
	put := func(path, ct string, body []byte) {
		req, _ := http.NewRequest("PUT", f.srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("PUT %s: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Post(f.srv.URL+"/v2/signed/app/blobs/uploads/?digest="+digest.FromBytes(sigCfg).String(), "application/octet-stream", bytes.NewReader(sigCfg))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	put("/v2/signed/app/manifests/"+digest.FromBytes(mb).String(), ocispec.MediaTypeImageManifest, mb)
	f.wait(t)
	var p ui.RepoPage
	f.get(t, "/ui/repo/signed/app", &p, "", "", 200)
	if len(p.Tags) != 1 || len(p.Tags[0].Referrers) != 1 || p.Tags[0].Referrers[0].Kind != "signature" {
		t.Fatalf("referrers: %+v", p.Tags)
	}
	if html := f.get(t, "/ui/repo/signed/app", nil, "", "", 200); !strings.Contains(html, ">signature<") {
		t.Errorf("tags page does not show the signature")
	}
}

// TestNotYetAnalyzed: without the background work, pages answer at once
// and say the image is not analyzed; nothing reads a layer in the request.
func TestNotYetAnalyzed(t *testing.T) {
	f := newFixture(t, nil, false)
	im := testImages()
	f.push(t, im.app2, "team/app2", "v1", remote.Options{})
	var p ui.ImagePage
	f.get(t, "/ui/image/team/app2:v1", &p, "", "", 200)
	if p.Analysis != "pending" || p.Size != nil || len(p.Findings) != 0 || len(p.Layers) != 3 {
		t.Fatalf("image before analysis: %+v", p)
	}
	if html := f.get(t, "/ui/image/team/app2:v1", nil, "", "", 200); !strings.Contains(html, "not yet analyzed") {
		t.Errorf("the page does not say the image is not yet analyzed")
	}
	var rp ui.ReposPage
	f.get(t, "/ui/", &rp, "", "", 200)
	if len(rp.Repositories) != 1 || rp.Repositories[0].Known {
		t.Errorf("repositories before the background refresh: %+v", rp.Repositories)
	}
	if n := f.ui.LayersScanned(); n != 0 {
		t.Errorf("a page read %d layers", n)
	}
}

// TestAccessControl: each caller sees only the repositories it may pull,
// through the registry's own Authorizer.
func TestAccessControl(t *testing.T) {
	line := func(user, pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return user + ":" + string(h) + "\n"
	}
	users, err := auth.ParseHtpasswd(strings.NewReader(line("admin", "a") + line("alice", "b")))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := auth.NewPolicy(auth.Config{
		Grants: []auth.Grant{
			{Repositories: "**", Users: []string{"admin"}, Actions: []string{"*"}},
			{Repositories: "team-a/**", Users: []string{"alice"}, Actions: []string{"pull"}},
		},
		Anonymous: []auth.Grant{{Repositories: "public/**", Actions: []string{"pull"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	az, err := auth.New(auth.Options{Users: users, Policy: policy, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, az, true)
	im := testImages()
	admin := remote.Options{Username: "admin", Password: "a", DockerConfig: "/nonexistent"}
	f.push(t, im.app1, "public/app1", "v1", admin)
	f.push(t, im.app2, "team-a/app2", "v1", admin)
	f.push(t, im.app3, "secret/app3", "v1", admin)
	f.wait(t)

	names := func(user, pw string) []string {
		var p ui.ReposPage
		f.get(t, "/ui/", &p, user, pw, 200)
		var n []string
		for _, r := range p.Repositories {
			n = append(n, r.Name)
		}
		return n
	}
	for _, tc := range []struct {
		user, pw string
		want     string
	}{
		{"", "", "public/app1"},
		{"alice", "b", "public/app1 team-a/app2"}, // anonymous grants hold for users too
		{"admin", "a", "public/app1 secret/app3 team-a/app2"},
	} {
		if got := strings.Join(names(tc.user, tc.pw), " "); got != tc.want {
			t.Errorf("%q sees %q, want %q", tc.user, got, tc.want)
		}
	}
	var fp ui.FleetPage
	f.get(t, "/ui/fleet", &fp, "alice", "b", 200)
	if len(fp.Report.Images) != 2 || fp.Report.Images[1].Name != "team-a/app2:v1" {
		t.Errorf("alice's fleet: %+v", fp.Report.Images)
	}
	// A repository the caller may not pull does not exist for it.
	f.get(t, "/ui/repo/secret/app3", nil, "alice", "b", 404)
	f.get(t, "/ui/image/secret/app3:v1", nil, "", "", 404)
	// Wrong credentials: a challenge the browser answers with a prompt.
	req, _ := http.NewRequest("GET", f.srv.URL+"/ui/", nil)
	req.SetBasicAuth("alice", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("wrong password: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	f.get(t, "/ui/login", nil, "", "", 401)
	// The image's shared base names only images the caller may see.
	var ip ui.ImagePage
	f.get(t, "/ui/image/team-a/app2:v1", &ip, "alice", "b", 200)
	if ip.Base == nil || strings.Join(ip.Base.Images, " ") != "public/app1:v1" {
		t.Errorf("alice sees a base shared with images she may not see: %+v", ip.Base)
	}
}

func TestStaticAssets(t *testing.T) {
	f := newFixture(t, nil, false)
	for _, p := range []string{"/ui/static/style.css", "/ui/static/app.js"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 100 {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(b))
		}
	}
}

var _ cas.Store = (*disk.Store)(nil)

// TestRescanForgetsDeleted: a tag removed behind the registry's back (as
// online garbage collection does) leaves the pages at the next rescan.
func TestRescanForgetsDeleted(t *testing.T) {
	ds, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	im := testImages()
	for _, repo := range []string{"a/one", "a/two"} {
		tgt, _ := ds.Repository(t.Context(), repo)
		if err := im.app1.Push(t.Context(), tgt, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	u := ui.New(ds, ui.Options{Rescan: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); u.Run(ctx) }()
	defer func() { cancel(); <-done }()
	known := func() int {
		req := httptest.NewRequest("GET", "/ui/", nil)
		req.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		u.ServeHTTP(w, req)
		var p ui.ReposPage
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range p.Repositories {
			if r.Known {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for known() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two repositories were not read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tgt, _ := ds.Repository(t.Context(), "a/two")
	if err := tgt.(cas.Untagger).Untag(t.Context(), "v1"); err != nil {
		t.Fatal(err)
	}
	for known() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the untagged repository is still shown after rescans")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
