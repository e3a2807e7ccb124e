package registry_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestNewReadOnly serves a bundle, a cas.ReadOnlyStore, over HTTP: reads
// answer as from any store, each repository serves its own images' blobs
// only, and every write is refused before it reaches the store.
func TestNewReadOnly(t *testing.T) {
	ctx := t.Context()
	src, err := memory.New().Repository(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	put := func(b []byte, d ocispec.Descriptor) {
		t.Helper()
		if err := src.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}
	cfgDesc.Digest, cfgDesc.Size = digest.FromBytes(cfg), int64(len(cfg))
	put(cfg, cfgDesc)
	var images []bundle.Image
	layers := map[string][]byte{}
	for _, repo := range []string{"team/a", "team/b"} {
		lb, ld := castest.Blob(t, 64)
		put(lb, ld)
		layers[repo] = lb
		mb, md := castest.Manifest(t, cfgDesc, ld)
		put(mb, md)
		images = append(images, bundle.Image{Name: repo + ":v1", Source: src, Reference: md.Digest.String()})
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := bundle.Create(ctx, out, images, bundle.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(registry.NewReadOnly(r, registry.Options{}))
	defer srv.Close()

	layerA := "/blobs/" + digest.FromBytes(layers["team/a"]).String()
	tests := []struct {
		name, method, path, rangeHdr string
		status                       int
		body                         string // a substring of the body, if set
	}{
		{"manifest", "GET", "/v2/team/a/manifests/v1", "", http.StatusOK, `"schemaVersion":2`},
		{"own blob", "GET", "/v2/team/a" + layerA, "", http.StatusOK, string(layers["team/a"])},
		{"own blob range", "GET", "/v2/team/a" + layerA, "bytes=2-5", http.StatusPartialContent, string(layers["team/a"][2:6])},
		{"another repository's blob", "GET", "/v2/team/b" + layerA, "", http.StatusNotFound, "BLOB_UNKNOWN"},
		{"unknown repository", "HEAD", "/v2/team/none" + layerA, "", http.StatusNotFound, ""},
		{"tags", "GET", "/v2/team/b/tags/list", "", http.StatusOK, `"tags":["v1"]`},
		{"catalog", "GET", "/v2/_catalog", "", http.StatusOK, `["team/a","team/b"]`},
		{"manifest put", "PUT", "/v2/team/a/manifests/v2", "", http.StatusMethodNotAllowed, "UNSUPPORTED"},
		{"upload", "POST", "/v2/team/a/blobs/uploads/", "", http.StatusMethodNotAllowed, "UNSUPPORTED"},
		{"delete", "DELETE", "/v2/team/a/manifests/v1", "", http.StatusMethodNotAllowed, "UNSUPPORTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.rangeHdr != "" {
				req.Header.Set("Range", tc.rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%s %s: %d %s; want %d with %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}
