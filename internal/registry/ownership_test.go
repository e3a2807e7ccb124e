package registry_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageOf returns a manifest naming blobs already pushed: a config and
// one layer of the given sizes.
func imageOf(config, layer digest.Digest, configSize, layerSize int64) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, config, configSize, ocispec.MediaTypeImageLayerGzip, layer, layerSize)
}

// TestRepositoriesOwnContent: a repository serves only what was pushed or
// mounted into it, and a delete in one repository never changes what
// another serves (the same image pushed to team-a/app and team-b/app).
func TestRepositoriesOwnContent(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), randomBytes(300)
		var m []byte
		for _, repo := range []string{"team-a/app", "team-b/app"} {
			cd, ld := c.pushBlob(repo, cfg), c.pushBlob(repo, layer)
			m = imageOf(cd, ld, int64(len(cfg)), int64(len(layer)))
			c.expect(c.do("PUT", "/v2/"+repo+"/manifests/v1", m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
		}
		md, ld := digest.FromBytes(m), digest.FromBytes(layer)

		// Nobody else's repository, existing or not, serves them.
		for _, repo := range []string{"any/name", "team-c/app"} {
			c.expect(c.do("GET", "/v2/"+repo+"/blobs/"+ld.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
			c.expect(c.do("HEAD", "/v2/"+repo+"/blobs/"+ld.String(), nil), http.StatusNotFound, "")
			c.expect(c.do("GET", "/v2/"+repo+"/manifests/"+md.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
			// A mount from a repository that lacks it fails.
			c.expect(c.do("POST", "/v2/"+repo+"/blobs/uploads/?mount="+ld.String()+"&from=team-c/none", nil), http.StatusAccepted, "")
		}
		// A manifest naming another repository's blobs is refused.
		c.expect(c.do("PUT", "/v2/team-c/app/manifests/v1", m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")

		// Deleting team-a's manifest and layer leaves team-b whole.
		c.expect(c.do("DELETE", "/v2/team-a/app/manifests/"+md.String(), nil), http.StatusAccepted, "")
		c.expect(c.do("DELETE", "/v2/team-a/app/blobs/"+ld.String(), nil), http.StatusAccepted, "")
		c.expect(c.do("GET", "/v2/team-a/app/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.expect(c.do("GET", "/v2/team-a/app/blobs/"+ld.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		r := c.do("GET", "/v2/team-b/app/manifests/v1", nil)
		c.expect(r, http.StatusOK, "")
		if string(r.body) != string(m) {
			t.Fatal("team-b/app:v1 changed after a delete in team-a/app")
		}
		r = c.do("GET", "/v2/team-b/app/blobs/"+ld.String(), nil)
		c.expect(r, http.StatusOK, "")
		if string(r.body) != string(layer) {
			t.Fatal("team-b/app's layer changed after a delete in team-a/app")
		}
		r = c.do("GET", "/v2/team-b/app/tags/list", nil)
		if !strings.Contains(string(r.body), `"v1"`) {
			t.Fatalf("team-b/app's tags after a delete in team-a/app: %s", r.body)
		}
		// An anonymous mount finds a repository that holds the blob, and
		// makes it the mounting repository's.
		c.expect(c.do("POST", "/v2/team-d/app/blobs/uploads/?mount="+ld.String(), nil), http.StatusCreated, "")
		c.expect(c.do("GET", "/v2/team-d/app/blobs/"+ld.String(), nil), http.StatusOK, "")
		c.expect(c.do("POST", "/v2/team-d/app/blobs/uploads/?mount="+digest.FromString("absent").String(), nil), http.StatusAccepted, "")
		// team-a may get the content back by pushing or mounting it.
		c.expect(c.do("POST", "/v2/team-a/app/blobs/uploads/?mount="+ld.String()+"&from=team-b/app", nil), http.StatusCreated, "")
		c.expect(c.do("GET", "/v2/team-a/app/blobs/"+ld.String(), nil), http.StatusOK, "")
	})
}

// TestManifestChildSizes: a manifest whose child descriptor has another
// size than the stored blob (up to 2^63-1, which overflowed readers) is
// refused where it enters.
func TestManifestChildSizes(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), randomBytes(300)
		cd, ld := c.pushBlob("sizes", cfg), c.pushBlob("sizes", layer)
		for _, size := range []int64{math.MaxInt64, int64(len(layer)) + 1, int64(len(layer)) - 1, 0} {
			m := imageOf(cd, ld, int64(len(cfg)), size)
			r := c.do("PUT", "/v2/sizes/manifests/v1", m, "Content-Type", ocispec.MediaTypeImageManifest)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("layer size %d: got %d %s, want 400", size, r.StatusCode, r.body)
			}
		}
		m := imageOf(cd, ld, int64(len(cfg)), int64(len(layer)))
		c.expect(c.do("PUT", "/v2/sizes/manifests/v1", m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
	})
}

// TestDeleteRacesTagMove: a manifest DELETE racing a PUT that moves one of
// its tags to another manifest never removes the moved tag, while both
// succeed.
func TestDeleteRacesTagMove(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		for i := range 20 {
			old, moved := c.image("race", ""), c.image("race", "")
			tag := fmt.Sprintf("t%d", i)
			c.expect(c.do("PUT", "/v2/race/manifests/"+tag, old, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
			var wg sync.WaitGroup
			var del, put response
			wg.Go(func() { del = c.do("DELETE", "/v2/race/manifests/"+digest.FromBytes(old).String(), nil) })
			wg.Go(func() {
				put = c.do("PUT", "/v2/race/manifests/"+tag, moved, "Content-Type", ocispec.MediaTypeImageManifest)
			})
			wg.Wait()
			if del.StatusCode != http.StatusAccepted || put.StatusCode != http.StatusCreated {
				t.Fatalf("round %d: DELETE %d %s, PUT %d %s", i, del.StatusCode, del.body, put.StatusCode, put.body)
			}
			r := c.do("HEAD", "/v2/race/manifests/"+tag, nil)
			if r.StatusCode != http.StatusOK || r.Header.Get("Docker-Content-Digest") != digest.FromBytes(moved).String() {
				t.Fatalf("round %d: the tag moved during the DELETE answers %d %s, want 200 %s", i, r.StatusCode, r.Header.Get("Docker-Content-Digest"), digest.FromBytes(moved))
			}
		}
	})
}

// TestManifestThroughBlobAPI: a manifest pushed through the blob API skipped
// every manifest check (here: its layer is absent), so it is not served
// from /manifests/ by digest, nor taggable; pushed as a manifest, it is
// checked and refused.
func TestManifestThroughBlobAPI(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
		cd := c.pushBlob("sneaky", cfg)
		m := imageOf(cd, digest.FromString("absent layer"), int64(len(cfg)), 12)
		md := c.pushBlob("sneaky", m)
		c.expect(c.do("GET", "/v2/sneaky/manifests/"+md.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.expect(c.do("HEAD", "/v2/sneaky/manifests/"+md.String(), nil), http.StatusNotFound, "")
		c.expect(c.do("GET", "/v2/sneaky/blobs/"+md.String(), nil), http.StatusOK, "")
		c.expect(c.do("PUT", "/v2/sneaky/manifests/v1", m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		c.expect(c.do("GET", "/v2/sneaky/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
}
