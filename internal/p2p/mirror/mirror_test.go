package mirror_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/mirror"
	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const user, password = "alice", "secret"

// privateUpstream is a registry that answers only alice, with a Basic
// challenge to anyone else, holding app:v1 (one layer).
func privateUpstream(t *testing.T) (url string, layer []byte, manifest digest.Digest) {
	t.Helper()
	st := memory.New()
	repo, err := st.Repository(t.Context(), "team/app")
	if err != nil {
		t.Fatal(err)
	}
	push := func(mt string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := repo.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer = bytes.Repeat([]byte("private layer "), 50000)
	ld := push(ocispec.MediaTypeImageLayer, layer)
	cd := push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}}
	mf.SchemaVersion = 2
	m, _ := json.Marshal(mf)
	md := push(ocispec.MediaTypeImageManifest, m)
	if err := repo.Tag(t.Context(), md, "v1"); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(st, registry.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, layer, md.Digest
}

// agent is a mirror endpoint over a swarm node, as gantry agent wires it.
func agent(t *testing.T, upstream, trackerURL, id string) string {
	t.Helper()
	var h http.Handler
	peers := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(peers.Close)
	node, err := swarm.New(swarm.Options{ID: id, Addr: peers.Listener.Addr().String(), Tracker: trackerURL, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h = node.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	store, err := mirror.New(mirror.Options{Upstream: upstream, Swarm: node})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mirror.Authorize(registry.NewReadOnly(store, registry.Options{})))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string, auth bool) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	if auth {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The upstream's challenge reaches a client without credentials; with
// them, the manifest and its blobs come through; a node whose client never
// had its manifest request succeed is not served a private blob the swarm
// holds.
func TestPrivateContent(t *testing.T) {
	upstream, layer, manifest := privateUpstream(t)
	trk := httptest.NewServer(tracker.New(tracker.Options{}))
	t.Cleanup(trk.Close)
	a := agent(t, upstream, trk.URL, "a")
	b := agent(t, upstream, trk.URL, "b")

	resp, _ := get(t, a+"/v2/team/app/manifests/v1", false)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="upstream"` {
		t.Fatalf("manifest without credentials: %s, challenge %q; want 401 with the upstream's challenge", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	resp, body := get(t, a+"/v2/team/app/manifests/v1", true)
	if resp.StatusCode != http.StatusOK || digest.FromBytes(body) != manifest {
		t.Fatalf("manifest with credentials: %s", resp.Status)
	}
	layerURL := "/v2/team/app/blobs/" + digest.FromBytes(layer).String()
	resp, body = get(t, a+layerURL, true)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, layer) {
		t.Fatalf("layer with credentials: %s, %d bytes", resp.Status, len(body))
	}
	// Node b's client has no credentials: the swarm holds the layer (node
	// a), but b may not serve it.
	resp, body = get(t, b+layerURL, false)
	if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, layer[:100]) {
		t.Fatalf("private layer on a node without credentials: %s, want 401", resp.Status)
	}
	// With credentials, b gets it.
	resp, body = get(t, b+layerURL, true)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, layer) {
		t.Fatalf("layer on node b with credentials: %s, %d bytes", resp.Status, len(body))
	}
}

// A digest the node holds no grant for is resolved with one round trip to
// the upstream, not two: the HEADs of it as a manifest and as a blob go
// out together. The upstream here holds each manifest HEAD until the blob
// HEAD of the same digest has arrived (for 5 s at most), so HEADs sent one
// after the other show as a wait. A manifest's digest still resolves to
// the manifest, with its media type.
func TestDigestResolvedInOneRoundTrip(t *testing.T) {
	upstream, layer, manifest := privateUpstream(t)
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	blobHEADs := map[string]chan struct{}{}
	blobHEAD := func(d string, arrived bool) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		c := blobHEADs[d]
		if c == nil {
			c = make(chan struct{})
			blobHEADs[d] = c
		}
		if arrived {
			select {
			case <-c:
			default:
				close(c)
			}
		}
		return c
	}
	var waited atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dir, d := path.Split(r.URL.Path)
		switch {
		case r.Method != http.MethodHead:
		case strings.HasSuffix(dir, "/blobs/"):
			blobHEAD(d, true)
		case strings.HasSuffix(dir, "/manifests/") && strings.HasPrefix(d, "sha256:"):
			select {
			case <-blobHEAD(d, false):
			case <-time.After(5 * time.Second):
				waited.Add(1)
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	trk := httptest.NewServer(tracker.New(tracker.Options{}))
	t.Cleanup(trk.Close)
	a := agent(t, proxy.URL, trk.URL, "a")

	resp, body := get(t, a+"/v2/team/app/blobs/"+digest.FromBytes(layer).String(), true)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, layer) {
		t.Fatalf("layer by digest: %s, %d bytes", resp.Status, len(body))
	}
	req, _ := http.NewRequest(http.MethodHead, a+"/v2/team/app/manifests/"+manifest.String(), nil)
	req.SetBasicAuth(user, password)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
		t.Fatalf("manifest by digest: %s, Content-Type %q; want 200 and %s", resp.Status, resp.Header.Get("Content-Type"), ocispec.MediaTypeImageManifest)
	}
	if n := waited.Load(); n > 0 {
		t.Fatalf("%d manifest HEADs went out alone: the blob's HEAD came only after them", n)
	}
}
