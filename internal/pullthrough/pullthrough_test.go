package pullthrough_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// upstream is a real gantry registry over a memory store, counting the
// requests it answers, that can be made to fail.
type upstream struct {
	store *memory.Store
	srv   *httptest.Server

	mu      sync.Mutex
	gets    map[string]int // "GET /v2/..." → count
	corrupt map[string][]byte
	hold    map[string]chan struct{} // blob paths sent half, then held until closed
	delay   time.Duration            // before each blob GET is answered
	down    atomic.Bool
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{store: memory.New(), gets: map[string]int{}, corrupt: map[string][]byte{}, hold: map[string]chan struct{}{}}
	reg := registry.New(u.store, registry.Options{})
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		u.mu.Lock()
		if r.Method == http.MethodGet {
			u.gets[r.URL.Path]++
		}
		bad, isBad := u.corrupt[r.URL.Path]
		hold, held := u.hold[r.URL.Path]
		delay := u.delay
		u.mu.Unlock()
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			time.Sleep(delay)
		}
		if held && r.Method == http.MethodGet {
			serveHeld(w, r, reg, hold)
			return
		}
		if isBad && r.Method == http.MethodGet {
			// The right headers, the wrong bytes.
			w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(bad)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// serveHeld sends the first half of the blob, then waits for hold.
func serveHeld(w http.ResponseWriter, r *http.Request, reg http.Handler, hold chan struct{}) {
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	<-hold
	_, _ = w.Write(body[len(body)/2:])
}

func (u *upstream) push(t *testing.T, name, tag string, img testimage.Image) {
	t.Helper()
	repo, err := u.store.Repository(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(t.Context(), repo, tag); err != nil {
		t.Fatal(err)
	}
}

// blobGets returns the GETs of each blob of img in repository name.
func (u *upstream) blobGets(name string, img testimage.Image) map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for _, d := range append([]ocispec.Descriptor{img.ConfigDesc}, layerDescs(img)...) {
		out[d.Digest.Encoded()[:12]] = u.gets["/v2/"+name+"/blobs/"+d.Digest.String()]
	}
	return out
}

func layerDescs(img testimage.Image) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, l := range img.Layers {
		out = append(out, l.Desc)
	}
	return out
}

// mirror is gantry's registry over a pull-through store of up.
type mirror struct {
	store *pullthrough.Store
	cache *disk.Store
	srv   *httptest.Server
	host  string
}

func newMirror(t *testing.T, opts pullthrough.Options) *mirror {
	t.Helper()
	cache, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.TempDir = t.TempDir()
	s, err := pullthrough.New(cache, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(registry.New(s, registry.Options{})))
	t.Cleanup(func() {
		srv.Close()
		s.Close()
		cache.Close()
	})
	return &mirror{store: s, cache: cache, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

// pull copies name:tag from the mirror into a fresh memory store, as a
// client would, and returns the manifest's descriptor.
func (m *mirror) pull(ctx context.Context, name, tag string) (ocispec.Descriptor, error) {
	reg, err := remote.New(m.host, remote.Options{DockerConfig: "/dev/null", HTTPClient: &http.Client{}}) // no retries
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	src, err := reg.Repository(ctx, name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	dst, err := memory.New().Repository(ctx, "pulled")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return copy.Copy(ctx, src, tag, dst, tag, copy.Options{Retries: -1})
}

func fleetImage(t *testing.T, seed uint64) testimage.Image {
	t.Helper()
	imgs, err := testimage.Fleet(1, 1, 1<<20, 256<<10, seed)
	if err != nil {
		t.Fatal(err)
	}
	return imgs[0]
}

func TestColdHerdOneUpstreamGetPerBlob(t *testing.T) {
	up := newUpstream(t)
	img := fleetImage(t, 1)
	up.push(t, "apps/api", "v1", img)
	// Slow blobs: the 8 pulls ask for each blob while its first fetch
	// is still out.
	up.delay = 200 * time.Millisecond
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}})

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			desc, err := m.pull(t.Context(), "apps/api", "v1")
			if err == nil && desc.Digest != img.ManifestDesc.Digest {
				err = fmt.Errorf("pulled %s, want %s", desc.Digest, img.ManifestDesc.Digest)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for blob, n := range up.blobGets("apps/api", img) {
		if n != 1 {
			t.Errorf("blob %s: %d upstream GETs for 8 cold pulls, want 1", blob, n)
		}
	}

	t.Run("warm", func(t *testing.T) {
		before := up.blobGets("apps/api", img)
		if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
			t.Fatal(err)
		}
		for blob, n := range up.blobGets("apps/api", img) {
			if n != before[blob] {
				t.Errorf("blob %s: a warm pull sent %d upstream GETs, want 0", blob, n-before[blob])
			}
		}
	})
}

func TestTagReresolvedAfterTTL(t *testing.T) {
	up := newUpstream(t)
	a, b := fleetImage(t, 1), fleetImage(t, 2)
	up.push(t, "apps/api", "v1", a)
	const ttl = 2 * time.Second
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}, TagTTL: ttl})

	if desc, err := m.pull(t.Context(), "apps/api", "v1"); err != nil || desc.Digest != a.ManifestDesc.Digest {
		t.Fatalf("first pull: %v, %v; want %s", desc.Digest, err, a.ManifestDesc.Digest)
	}
	up.push(t, "apps/api", "v1", b) // retagged upstream
	if desc, err := m.pull(t.Context(), "apps/api", "v1"); err != nil || desc.Digest != a.ManifestDesc.Digest {
		t.Fatalf("pull within the TTL: %v, %v; want the cached %s", desc.Digest, err, a.ManifestDesc.Digest)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if desc, err := m.pull(t.Context(), "apps/api", "v1"); err != nil || desc.Digest != b.ManifestDesc.Digest {
		t.Fatalf("pull after the TTL: %v, %v; want the new %s", desc.Digest, err, b.ManifestDesc.Digest)
	}
}

func TestStaleTagServedWhenUpstreamFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*upstream)
	}{
		{"5xx", func(u *upstream) { u.down.Store(true) }},
		{"unreachable", func(u *upstream) { u.srv.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t)
			img := fleetImage(t, 1)
			up.push(t, "apps/api", "v1", img)
			m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}, TagTTL: time.Millisecond})
			if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
				t.Fatal(err)
			}
			tc.fail(up)
			time.Sleep(5 * time.Millisecond)
			desc, err := m.pull(t.Context(), "apps/api", "v1")
			if err != nil || desc.Digest != img.ManifestDesc.Digest {
				t.Fatalf("pull with the upstream down: %v, %v; want the cached %s", desc.Digest, err, img.ManifestDesc.Digest)
			}
			if _, err := m.pull(t.Context(), "apps/other", "v1"); err == nil {
				t.Fatal("a name never cached was served with the upstream down")
			}
		})
	}
}

// A client reads a blob's bytes as they come from the upstream, before
// the upstream has sent the rest.
func TestBlobStreamedWhileFetched(t *testing.T) {
	up := newUpstream(t)
	img := fleetImage(t, 1)
	up.push(t, "apps/api", "v1", img)
	layer := img.Layers[0]
	path := "/v2/apps/api/blobs/" + layer.Desc.Digest.String()
	hold := make(chan struct{})
	up.hold[path] = hold
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}})
	// The manifest first, so the mirror knows the blob's size.
	if _, err := http.Get(m.srv.URL + "/v2/apps/api/manifests/v1"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(m.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	half := make([]byte, len(layer.Data)/2)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, half); got <- err }()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first half of the blob did not reach the client while the upstream held the rest")
	}
	if !bytes.Equal(half, layer.Data[:len(half)]) {
		t.Fatal("the first half differs from the blob's")
	}
	close(hold)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(half, rest...), layer.Data) {
		t.Fatalf("the whole blob: %d bytes, %v", len(half)+len(rest), err)
	}
}

func TestCorruptUpstreamBlobIsNeverCached(t *testing.T) {
	up := newUpstream(t)
	img := fleetImage(t, 1)
	up.push(t, "apps/api", "v1", img)
	layer := img.Layers[0]
	bad := append([]byte(nil), layer.Data...)
	bad[len(bad)/2] ^= 0xff
	path := "/v2/apps/api/blobs/" + layer.Desc.Digest.String()
	up.corrupt[path] = bad
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: up.srv.URL}}})

	if _, err := m.pull(t.Context(), "apps/api", "v1"); err == nil {
		t.Fatal("a pull of a blob the upstream corrupted succeeded")
	}
	// The client read the blob's bytes raw too: it must get a broken
	// response, not bad bytes with a clean end.
	resp, err := http.Get(m.srv.URL + path)
	if err == nil {
		body := make([]byte, len(bad)+1)
		n, rerr := readFull(resp, body)
		resp.Body.Close()
		if rerr == nil && n == len(bad) {
			t.Fatal("a raw GET of the corrupted blob ended cleanly with all its bytes")
		}
	}
	cached, err := m.cache.Repository(t.Context(), "apps/api")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cached.Exists(t.Context(), layer.Desc); ok || err != nil {
		t.Fatalf("the cache holds the corrupted blob (%v, %v)", ok, err)
	}

	up.mu.Lock()
	delete(up.corrupt, path)
	up.mu.Unlock()
	if _, err := m.pull(t.Context(), "apps/api", "v1"); err != nil {
		t.Fatalf("pull after the upstream was fixed: %v", err)
	}
	if ok, err := cached.Exists(t.Context(), layer.Desc); !ok || err != nil {
		t.Fatalf("the cache lacks the blob after a good pull (%v, %v)", ok, err)
	}
}

func readFull(resp *http.Response, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := resp.Body.Read(buf[n:])
		n += k
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

func TestPrefixesDockerHubNamesAndContainerdNamespace(t *testing.T) {
	hub, other := newUpstream(t), newUpstream(t)
	a, b := fleetImage(t, 1), fleetImage(t, 2)
	hub.push(t, "library/busybox", "latest", a)
	other.push(t, "team/app", "v1", b)
	m := newMirror(t, pullthrough.Options{Upstreams: []pullthrough.Upstream{
		{Prefix: "docker.io/", URL: hub.srv.URL},
		{Prefix: "ghcr.io/", URL: other.srv.URL},
	}})
	// The fake hub is not Docker Hub by its URL: name it as one for the
	// library/ rule through the prefix's full name.
	for _, tc := range []struct{ name, tag, want string }{
		{"docker.io/library/busybox", "latest", a.ManifestDesc.Digest.String()},
		{"ghcr.io/team/app", "v1", b.ManifestDesc.Digest.String()},
	} {
		desc, err := m.pull(t.Context(), tc.name, tc.tag)
		if err != nil || desc.Digest.String() != tc.want {
			t.Errorf("%s:%s: %v, %v; want %s", tc.name, tc.tag, desc.Digest, err, tc.want)
		}
	}
	// containerd's mirror request: the registry in ?ns=.
	req, _ := http.NewRequest(http.MethodGet, m.srv.URL+"/v2/library/busybox/manifests/latest?ns=docker.io", nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); resp.StatusCode != 200 || got != a.ManifestDesc.Digest.String() {
		t.Errorf("?ns=docker.io: %d %s, want 200 %s", resp.StatusCode, got, a.ManifestDesc.Digest)
	}
	// A name no upstream serves is the server's own: pushes work there,
	// and are refused under a mirrored prefix.
	local, err := m.store.Repository(t.Context(), "local/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Push(t.Context(), local, "v1"); err != nil {
		t.Errorf("push to a name no upstream serves: %v", err)
	}
	mirrored, err := m.store.Repository(t.Context(), "docker.io/library/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := mirrored.Tag(t.Context(), a.ManifestDesc, "mine"); !errors.Is(err, cas.ErrUnsupported) {
		t.Errorf("tag under a mirrored prefix: %v, want ErrUnsupported", err)
	}
}

func TestDockerHubShortNames(t *testing.T) {
	// A single upstream named as Docker Hub: "busybox" is library/busybox
	// there. The upstream is not contacted: only the names are checked.
	s, err := pullthrough.New(memory.New(), pullthrough.Options{Upstreams: []pullthrough.Upstream{{URL: "https://registry-1.docker.io"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]string{"busybox": "library/busybox", "library/busybox": "library/busybox", "bitnami/redis": "bitnami/redis"} {
		_, up, cached, ok := s.Upstream(name)
		if !ok || up != want || cached != want {
			t.Errorf("%s: upstream name %q, cached as %q (%v); want %q", name, up, cached, ok, want)
		}
	}
}
