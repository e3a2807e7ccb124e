package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// stores are the stores every endpoint test runs over: memory (readers
// that do not seek, ranges through cas.RangeFetcher), disk (files,
// ranges by Seek, the path `gantry serve` takes) and s3 (MinIO, the path
// of `gantry serve --s3`).
var stores = []struct {
	name string
	open func(t *testing.T) cas.Store
}{
	{"memory", func(t *testing.T) cas.Store { return memory.New() }},
	{"disk", func(t *testing.T) cas.Store {
		s, err := disk.Open(t.TempDir(), disk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"s3", newS3Store}, // s3_test.go
}

// forStores runs fn once per store, against a server over it.
func forStores(t *testing.T, opts registry.Options, fn func(t *testing.T, c *client)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			fn(t, newClient(t, s.open(t), opts))
		})
	}
}

// client is a test's view of a server.
type client struct {
	t    *testing.T
	base string
}

func newClient(t *testing.T, s cas.Store, opts registry.Options) *client {
	srv := httptest.NewServer(registry.New(s, opts))
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body []byte
}

// code returns the first error code of an OCI error body, or "".
func (r response) code() string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	_ = json.Unmarshal(r.body, &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// do sends a request; headers are name, value pairs.
func (c *client) do(method, path string, body []byte, headers ...string) response {
	c.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = c.base + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{resp, b}
}

// expect checks a response's status and, if code is set, its error code.
func (c *client) expect(r response, status int, code string) {
	c.t.Helper()
	if r.StatusCode != status || (code != "" && r.code() != code) {
		c.t.Fatalf("%s %s: got %d %s, want %d %s; body %s", r.Request.Method, r.Request.URL, r.StatusCode, r.code(), status, code, r.body)
	}
}

// pushBlob uploads b monolithically into repo and returns its digest.
func (c *client) pushBlob(repo string, b []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(b)
	c.expect(c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b), http.StatusCreated, "")
	return d
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// image pushes a config and one layer into repo and returns an image
// manifest naming them.
func (c *client) image(repo string, extra string) []byte {
	c.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := randomBytes(100)
	cd, ld := c.pushBlob(repo, cfg), c.pushBlob(repo, layer)
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]%s}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd, len(cfg), ocispec.MediaTypeImageLayerGzip, ld, len(layer), extra)
}

func TestPing(t *testing.T) {
	c := newClient(t, memory.New(), registry.Options{})
	for _, p := range []string{"/v2/", "/v2"} {
		r := c.do("GET", p, nil)
		c.expect(r, http.StatusOK, "")
		if got := r.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
			t.Errorf("%s: Docker-Distribution-API-Version %q", p, got)
		}
	}
	c.expect(c.do("GET", "/v3/", nil), http.StatusNotFound, "")
	c.expect(c.do("POST", "/v2/", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
}

func TestNames(t *testing.T) {
	c := newClient(t, memory.New(), registry.Options{})
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v2/UPPER/tags/list", http.StatusBadRequest, registry.CodeNameInvalid},
		{"/v2/a/../b/tags/list", http.StatusBadRequest, registry.CodeNameInvalid},
		{"/v2//abs/tags/list", http.StatusBadRequest, registry.CodeNameInvalid},
		{"/v2/a//b/manifests/latest", http.StatusBadRequest, registry.CodeNameInvalid},
		{"/v2/a/manifests/b/manifests/latest", http.StatusNotFound, registry.CodeManifestUnknown},
		{"/v2/a/blobs/b/tags/list", http.StatusOK, ""},
		{"/v2/a/manifests/bad%20tag", http.StatusBadRequest, registry.CodeTagInvalid},
		{"/v2/a/nothing/here", http.StatusNotFound, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c.t = t
			c.expect(c.do("GET", tc.path, nil), tc.status, tc.code)
		})
	}
}

func TestBlobs(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		blob := randomBytes(2048)
		d := c.pushBlob("a/b", blob)
		path := "/v2/a/b/blobs/" + d.String()

		r := c.do("HEAD", path, nil)
		c.expect(r, http.StatusOK, "")
		if r.ContentLength != 2048 || r.Header.Get("Docker-Content-Digest") != d.String() || len(r.body) != 0 {
			t.Errorf("HEAD: length %d digest %q body %d bytes", r.ContentLength, r.Header.Get("Docker-Content-Digest"), len(r.body))
		}
		r = c.do("GET", path, nil)
		c.expect(r, http.StatusOK, "")
		if !bytes.Equal(r.body, blob) {
			t.Errorf("GET: body differs")
		}

		for _, tc := range []struct {
			rng          string
			status       int
			from, to     int // body = blob[from:to] for 206
			contentRange string
		}{
			{"bytes=500-1499", 206, 500, 1500, "bytes 500-1499/2048"},
			{"bytes=500-", 206, 500, 2048, "bytes 500-2047/2048"},
			{"bytes=-500", 206, 1548, 2048, "bytes 1548-2047/2048"},
			{"bytes=2000-5000", 206, 2000, 2048, "bytes 2000-2047/2048"},
			{"bytes=0-0", 206, 0, 1, "bytes 0-0/2048"},
			{"bytes=-5000", 206, 0, 2048, "bytes 0-2047/2048"},
			{"bytes=100-99999999999999999999", 206, 100, 2048, "bytes 100-2047/2048"},
			{"bytes=500-0", 416, 0, 0, "bytes */2048"},
			{"bytes=5000-10000", 416, 0, 0, "bytes */2048"},
			{"bytes=2048-", 416, 0, 0, "bytes */2048"},
			{"bytes=-0", 416, 0, 0, "bytes */2048"},
			{"bytes=x-y", 416, 0, 0, "bytes */2048"},
			{"bytes=0-1,5-6", 200, 0, 2048, ""},
			{"items=0-1", 200, 0, 2048, ""},
		} {
			t.Run(tc.rng, func(t *testing.T) {
				c.t = t
				r := c.do("GET", path, nil, "Range", tc.rng)
				c.expect(r, tc.status, "")
				if got := r.Header.Get("Content-Range"); got != tc.contentRange {
					t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
				}
				if tc.status != 416 && !bytes.Equal(r.body, blob[tc.from:tc.to]) {
					t.Errorf("body: %d bytes, want blob[%d:%d]", len(r.body), tc.from, tc.to)
				}
			})
		}
		c.t = t

		missing := digest.FromString("missing")
		c.expect(c.do("GET", "/v2/a/b/blobs/"+missing.String(), nil), http.StatusNotFound, registry.CodeBlobUnknown)
		c.expect(c.do("GET", "/v2/a/b/blobs/sha256:nothex", nil), http.StatusBadRequest, registry.CodeDigestInvalid)
		c.expect(c.do("GET", "/v2/a/b/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil), http.StatusBadRequest, registry.CodeDigestInvalid)
		sha384 := digest.SHA384.FromString("x")
		c.expect(c.do("GET", "/v2/a/b/blobs/"+sha384.String(), nil), http.StatusBadRequest, registry.CodeUnsupported)

		// sha512 content.
		b512 := randomBytes(300)
		d512 := digest.SHA512.FromBytes(b512)
		c.expect(c.do("POST", "/v2/a/b/blobs/uploads/?digest="+d512.String(), b512), http.StatusCreated, "")
		r = c.do("GET", "/v2/a/b/blobs/"+d512.String(), nil)
		c.expect(r, http.StatusOK, "")
		if !bytes.Equal(r.body, b512) {
			t.Errorf("sha512 blob differs")
		}

		// The empty blob.
		empty := c.pushBlob("a/b", []byte{})
		r = c.do("GET", "/v2/a/b/blobs/"+empty.String(), nil)
		c.expect(r, http.StatusOK, "")
		c.expect(c.do("GET", "/v2/a/b/blobs/"+empty.String(), nil, "Range", "bytes=0-"), http.StatusRequestedRangeNotSatisfiable, "")

		c.expect(c.do("DELETE", path, nil), http.StatusAccepted, "")
		c.expect(c.do("HEAD", path, nil), http.StatusNotFound, "")
		c.expect(c.do("DELETE", path, nil), http.StatusNotFound, registry.CodeBlobUnknown)
	})
}

func TestUploads(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		blob := randomBytes(3000)
		d := digest.FromBytes(blob)

		t.Run("chunked", func(t *testing.T) {
			c.t = t
			r := c.do("POST", "/v2/r/blobs/uploads/", nil)
			c.expect(r, http.StatusAccepted, "")
			loc := r.Header.Get("Location")
			if !strings.HasPrefix(loc, "/v2/r/blobs/uploads/") || r.Header.Get("Range") != "0-0" || r.Header.Get("Blob-Upload-Session-ID") == "" {
				t.Fatalf("POST: Location %q Range %q", loc, r.Header.Get("Range"))
			}
			r = c.do("PATCH", loc, blob[:1000], "Content-Range", "0-999", "Content-Type", "application/octet-stream")
			c.expect(r, http.StatusAccepted, "")
			if r.Header.Get("Range") != "0-999" {
				t.Errorf("PATCH Range %q", r.Header.Get("Range"))
			}
			loc = r.Header.Get("Location")
			// Out of order: skipped ahead, then back to the start.
			for _, cr := range []string{"2000-2999", "0-999", "garbage", "1000-"} {
				r = c.do("PATCH", loc, blob[:1000], "Content-Range", cr)
				c.expect(r, http.StatusRequestedRangeNotSatisfiable, "")
				if r.Header.Get("Range") != "0-999" || r.Header.Get("Location") == "" {
					t.Errorf("416 for %q: Range %q Location %q", cr, r.Header.Get("Range"), r.Header.Get("Location"))
				}
			}
			// The Content-Length must match the range.
			c.expect(c.do("PATCH", loc, blob[1000:1500], "Content-Range", "1000-1999"), http.StatusBadRequest, registry.CodeBlobUploadInvalid)
			r = c.do("GET", loc, nil)
			c.expect(r, http.StatusNoContent, "")
			if r.Header.Get("Range") != "0-999" {
				t.Errorf("status Range %q", r.Header.Get("Range"))
			}
			r = c.do("PATCH", loc, blob[1000:2000], "Content-Range", "bytes 1000-1999")
			c.expect(r, http.StatusAccepted, "")
			// Last chunk in the PUT.
			r = c.do("PUT", loc+"?digest="+d.String(), blob[2000:], "Content-Range", "2000-2999")
			c.expect(r, http.StatusCreated, "")
			if r.Header.Get("Location") != "/v2/r/blobs/"+d.String() || r.Header.Get("Docker-Content-Digest") != d.String() {
				t.Errorf("PUT: Location %q digest %q", r.Header.Get("Location"), r.Header.Get("Docker-Content-Digest"))
			}
			if got := c.do("GET", "/v2/r/blobs/"+d.String(), nil); !bytes.Equal(got.body, blob) {
				t.Errorf("blob differs")
			}
			// The session is gone.
			c.expect(c.do("GET", loc, nil), http.StatusNotFound, registry.CodeBlobUploadUnknown)
		})

		t.Run("streamed", func(t *testing.T) {
			c.t = t
			loc := c.do("POST", "/v2/r/blobs/uploads", nil).Header.Get("Location")
			r := c.do("PATCH", loc, blob[:1234])
			c.expect(r, http.StatusAccepted, "")
			r = c.do("PATCH", r.Header.Get("Location"), blob[1234:])
			c.expect(r, http.StatusAccepted, "")
			if r.Header.Get("Range") != "0-2999" {
				t.Errorf("Range %q", r.Header.Get("Range"))
			}
			c.expect(c.do("PUT", r.Header.Get("Location")+"?digest="+d.String(), nil), http.StatusCreated, "")
		})

		t.Run("post then put", func(t *testing.T) {
			c.t = t
			b := randomBytes(10)
			loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
			c.expect(c.do("PUT", loc, b), http.StatusBadRequest, registry.CodeDigestInvalid) // no digest
			c.expect(c.do("PUT", loc+"?digest="+digest.FromBytes(b).String(), b), http.StatusCreated, "")
		})

		t.Run("bad digest", func(t *testing.T) {
			c.t = t
			b := randomBytes(10)
			wrong := digest.FromString("other")
			c.expect(c.do("POST", "/v2/r/blobs/uploads/?digest="+wrong.String(), b), http.StatusBadRequest, registry.CodeDigestInvalid)
			c.expect(c.do("HEAD", "/v2/r/blobs/"+wrong.String(), nil), http.StatusNotFound, "")
			loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
			c.expect(c.do("PATCH", loc, b), http.StatusAccepted, "")
			c.expect(c.do("PUT", loc+"?digest="+wrong.String(), nil), http.StatusBadRequest, registry.CodeDigestInvalid)
			c.expect(c.do("POST", "/v2/r/blobs/uploads/?digest=sha256:short", b), http.StatusBadRequest, registry.CodeDigestInvalid)
		})

		t.Run("cancel", func(t *testing.T) {
			c.t = t
			loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
			c.expect(c.do("PATCH", loc, []byte("abc")), http.StatusAccepted, "")
			c.expect(c.do("DELETE", loc, nil), http.StatusNoContent, "")
			c.expect(c.do("GET", loc, nil), http.StatusNotFound, registry.CodeBlobUploadUnknown)
			c.expect(c.do("PATCH", loc, []byte("abc")), http.StatusNotFound, registry.CodeBlobUploadUnknown)
		})

		t.Run("other repository", func(t *testing.T) {
			c.t = t
			loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
			other := strings.Replace(loc, "/v2/r/", "/v2/s/", 1)
			c.expect(c.do("GET", other, nil), http.StatusNotFound, registry.CodeBlobUploadUnknown)
			c.expect(c.do("PATCH", other, []byte("x")), http.StatusNotFound, registry.CodeBlobUploadUnknown)
			c.expect(c.do("GET", loc, nil), http.StatusNoContent, "")
		})
	})
}

func TestMaxChunkSize(t *testing.T) {
	c := newClient(t, memory.New(), registry.Options{MaxChunkSize: 100})
	loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
	c.expect(c.do("PATCH", loc, randomBytes(100)), http.StatusAccepted, "")
	c.expect(c.do("PATCH", loc, randomBytes(101)), http.StatusRequestEntityTooLarge, registry.CodeSizeInvalid)
}

func TestMount(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		d := c.pushBlob("src", randomBytes(50))
		for _, tc := range []struct {
			query  string
			status int
		}{
			{"mount=" + d.String() + "&from=src", http.StatusCreated},
			{"mount=" + d.String(), http.StatusCreated}, // anonymous
			{"mount=" + digest.FromString("absent").String() + "&from=src", http.StatusAccepted},
			{"mount=" + digest.FromString("absent").String(), http.StatusAccepted},
			{"mount=" + d.String() + "&from=BAD", http.StatusAccepted},
			{"mount=sha256:bad&from=src", http.StatusAccepted},
		} {
			t.Run(tc.query, func(t *testing.T) {
				c.t = t
				r := c.do("POST", "/v2/dst/blobs/uploads/?"+tc.query, nil)
				c.expect(r, tc.status, "")
				if tc.status == http.StatusCreated && r.Header.Get("Location") != "/v2/dst/blobs/"+d.String() {
					t.Errorf("Location %q", r.Header.Get("Location"))
				}
				if tc.status == http.StatusAccepted && !strings.HasPrefix(r.Header.Get("Location"), "/v2/dst/blobs/uploads/") {
					t.Errorf("fallback Location %q", r.Header.Get("Location"))
				}
			})
		}
	})
}

func TestManifests(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		m := c.image("app", "")
		md := digest.FromBytes(m)
		ct := ocispec.MediaTypeImageManifest

		r := c.do("PUT", "/v2/app/manifests/v1", m, "Content-Type", ct)
		c.expect(r, http.StatusCreated, "")
		if r.Header.Get("Location") != "/v2/app/manifests/"+md.String() || r.Header.Get("Docker-Content-Digest") != md.String() {
			t.Errorf("PUT: Location %q digest %q", r.Header.Get("Location"), r.Header.Get("Docker-Content-Digest"))
		}
		for _, ref := range []string{"v1", md.String()} {
			for _, method := range []string{"GET", "HEAD"} {
				r := c.do(method, "/v2/app/manifests/"+ref, nil, "Accept", ct)
				c.expect(r, http.StatusOK, "")
				if r.Header.Get("Content-Type") != ct || r.ContentLength != int64(len(m)) || r.Header.Get("Docker-Content-Digest") != md.String() {
					t.Errorf("%s %s: type %q length %d digest %q", method, ref, r.Header.Get("Content-Type"), r.ContentLength, r.Header.Get("Docker-Content-Digest"))
				}
				if method == "GET" && !bytes.Equal(r.body, m) {
					t.Errorf("GET %s: body differs", ref)
				}
			}
		}
		// A layer is not a manifest.
		var mf oci.Manifest
		_ = json.Unmarshal(m, &mf)
		c.expect(c.do("GET", "/v2/app/manifests/"+mf.Layers[0].Digest.String(), nil), http.StatusNotFound, registry.CodeManifestUnknown)

		t.Run("errors", func(t *testing.T) {
			c.t = t
			absent := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":2},"layers":[]}`,
				ct, ocispec.MediaTypeImageConfig, digest.FromString("absent"))
			r := c.do("PUT", "/v2/app/manifests/x", absent, "Content-Type", ct)
			c.expect(r, http.StatusBadRequest, registry.CodeManifestBlobUnknown)
			c.expect(c.do("PUT", "/v2/app/manifests/"+digest.FromString("other").String(), m, "Content-Type", ct), http.StatusBadRequest, registry.CodeDigestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/sha256:baddigeststring", m, "Content-Type", ct), http.StatusBadRequest, registry.CodeDigestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/x", m, "Content-Type", ocispec.MediaTypeImageIndex), http.StatusBadRequest, registry.CodeManifestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/x", m, "Content-Type", "text/plain"), http.StatusBadRequest, registry.CodeManifestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/x", []byte("{not json"), "Content-Type", ct), http.StatusBadRequest, registry.CodeManifestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/x", make([]byte, oci.MaxManifestSize+1), "Content-Type", ct), http.StatusRequestEntityTooLarge, registry.CodeManifestInvalid)
			c.expect(c.do("PUT", "/v2/app/manifests/x?tag=bad:tag", m, "Content-Type", ct), http.StatusBadRequest, registry.CodeTagInvalid)
			c.expect(c.do("GET", "/v2/app/manifests/absent", nil), http.StatusNotFound, registry.CodeManifestUnknown)
			c.expect(c.do("HEAD", "/v2/app/manifests/absent", nil), http.StatusNotFound, "")
		})

		t.Run("non-distributable", func(t *testing.T) {
			c.t = t
			cfg := c.pushBlob("app", []byte(`{}`))
			nd := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":2},"layers":[{"mediaType":%q,"digest":%q,"size":5,"urls":["https://example.com/x"]}]}`,
				ct, ocispec.MediaTypeImageConfig, cfg, oci.MediaTypeDockerForeignLayer, digest.FromString("foreign"))
			c.expect(c.do("PUT", "/v2/app/manifests/nd", nd, "Content-Type", ct), http.StatusCreated, "")
		})

		t.Run("index and tag parameters", func(t *testing.T) {
			c.t = t
			for _, mt := range []string{ocispec.MediaTypeImageIndex, oci.MediaTypeDockerManifestList} {
				idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}`,
					mt, ct, md, len(m))
				id := digest.FromBytes(idx)
				r := c.do("PUT", "/v2/app/manifests/"+id.String()+"?tag=t1&tag=t2", idx, "Content-Type", mt)
				c.expect(r, http.StatusCreated, "")
				if got := r.Header.Values("OCI-Tag"); strings.Join(got, ",") != "t1,t2" {
					t.Errorf("OCI-Tag %q", got)
				}
				for _, tag := range []string{"t1", "t2"} {
					r := c.do("GET", "/v2/app/manifests/"+tag, nil)
					c.expect(r, http.StatusOK, "")
					if r.Header.Get("Content-Type") != mt || r.Header.Get("Docker-Content-Digest") != id.String() {
						t.Errorf("%s: %q %q", tag, r.Header.Get("Content-Type"), r.Header.Get("Docker-Content-Digest"))
					}
				}
			}
		})

		t.Run("sha512", func(t *testing.T) {
			c.t = t
			d := digest.SHA512.FromBytes(m)
			c.expect(c.do("PUT", "/v2/app/manifests/"+d.String(), m, "Content-Type", ct), http.StatusCreated, "")
			r := c.do("GET", "/v2/app/manifests/"+d.String(), nil)
			c.expect(r, http.StatusOK, "")
			if r.Header.Get("Docker-Content-Digest") != d.String() {
				t.Errorf("digest header %q", r.Header.Get("Docker-Content-Digest"))
			}
		})

		t.Run("delete", func(t *testing.T) {
			c.t = t
			c.expect(c.do("PUT", "/v2/app/manifests/v2", m, "Content-Type", ct), http.StatusCreated, "")
			c.expect(c.do("DELETE", "/v2/app/manifests/v2", nil), http.StatusAccepted, "")
			c.expect(c.do("GET", "/v2/app/manifests/v2", nil), http.StatusNotFound, registry.CodeManifestUnknown)
			c.expect(c.do("GET", "/v2/app/manifests/v1", nil), http.StatusOK, "")
			c.expect(c.do("DELETE", "/v2/app/manifests/v2", nil), http.StatusNotFound, registry.CodeManifestUnknown)
			// By digest: the content and the tags pointing at it go.
			c.expect(c.do("DELETE", "/v2/app/manifests/"+md.String(), nil), http.StatusAccepted, "")
			c.expect(c.do("HEAD", "/v2/app/manifests/"+md.String(), nil), http.StatusNotFound, "")
			c.expect(c.do("GET", "/v2/app/manifests/v1", nil), http.StatusNotFound, registry.CodeManifestUnknown)
			c.expect(c.do("DELETE", "/v2/app/manifests/"+md.String(), nil), http.StatusNotFound, registry.CodeManifestUnknown)
		})
	})
}

func TestSparse(t *testing.T) {
	c := newClient(t, memory.New(), registry.Options{AllowSparse: true})
	ct := ocispec.MediaTypeImageIndex
	idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":3}]}`,
		ct, ocispec.MediaTypeImageManifest, digest.FromString("absent"))
	c.expect(c.do("PUT", "/v2/app/manifests/sparse", idx, "Content-Type", ct), http.StatusCreated, "")
}

func TestLists(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		m := c.image("lib/app", "")
		tags := []string{"a", "b", "c", "d", "e"}
		for _, tag := range tags {
			c.expect(c.do("PUT", "/v2/lib/app/manifests/"+tag, m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
		}
		c.expect(c.do("PUT", "/v2/other/manifests/x", c.image("other", ""), "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")

		var got []string
		next := "/v2/lib/app/tags/list?n=2"
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			r := c.do("GET", next, nil)
			c.expect(r, http.StatusOK, "")
			var tl struct {
				Name string
				Tags []string
			}
			if err := json.Unmarshal(r.body, &tl); err != nil || tl.Name != "lib/app" {
				t.Fatalf("body %s: %v", r.body, err)
			}
			got = append(got, tl.Tags...)
			next = ""
			if link := r.Header.Get("Link"); link != "" {
				u, rel, _ := strings.Cut(link, ">; ")
				if rel != `rel="next"` || !strings.HasPrefix(u, "</v2/lib/app/tags/list?") {
					t.Fatalf("Link %q", link)
				}
				next = u[1:]
			}
		}
		if strings.Join(got, ",") != strings.Join(tags, ",") {
			t.Errorf("paged tags %v, want %v", got, tags)
		}
		r := c.do("GET", "/v2/lib/app/tags/list?last=c", nil)
		if !strings.Contains(string(r.body), `"tags":["d","e"]`) || r.Header.Get("Link") != "" {
			t.Errorf("last=c: %s, Link %q", r.body, r.Header.Get("Link"))
		}
		r = c.do("GET", "/v2/empty/tags/list", nil)
		if !strings.Contains(string(r.body), `"tags":[]`) {
			t.Errorf("empty repository: %s", r.body)
		}
		c.expect(c.do("GET", "/v2/lib/app/tags/list?n=-1", nil), http.StatusBadRequest, registry.CodePaginationInvalid)

		r = c.do("GET", "/v2/_catalog?n=1", nil)
		c.expect(r, http.StatusOK, "")
		if string(r.body) != `{"repositories":["lib/app"]}` || !strings.Contains(r.Header.Get("Link"), "last=lib%2Fapp") {
			t.Errorf("catalog: %s, Link %q", r.body, r.Header.Get("Link"))
		}
		r = c.do("GET", "/v2/_catalog", nil)
		if string(r.body) != `{"repositories":["lib/app","other"]}` {
			t.Errorf("catalog: %s", r.body)
		}
	})
}

func TestReferrers(t *testing.T) {
	forStores(t, registry.Options{}, func(t *testing.T, c *client) {
		subject := c.image("app", "")
		sd := digest.FromBytes(subject)
		c.expect(c.do("PUT", "/v2/app/manifests/v1", subject, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")

		r := c.do("GET", "/v2/app/referrers/"+sd.String(), nil)
		c.expect(r, http.StatusOK, "")
		if r.Header.Get("Content-Type") != ocispec.MediaTypeImageIndex || !strings.Contains(string(r.body), `"manifests":[]`) {
			t.Errorf("empty referrers: %q %s", r.Header.Get("Content-Type"), r.body)
		}
		subj := fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":%d}`, ocispec.MediaTypeImageManifest, sd, len(subject))
		sig := c.image("app", `,"artifactType":"application/vnd.example.sig","annotations":{"k":"v"}`+subj)
		sbom := c.image("app", subj) // artifactType falls back to the config's media type
		for _, m := range [][]byte{sig, sbom} {
			r := c.do("PUT", "/v2/app/manifests/"+digest.FromBytes(m).String(), m, "Content-Type", ocispec.MediaTypeImageManifest)
			c.expect(r, http.StatusCreated, "")
			if r.Header.Get("OCI-Subject") != sd.String() {
				t.Errorf("OCI-Subject %q", r.Header.Get("OCI-Subject"))
			}
		}
		var idx ocispec.Index
		r = c.do("GET", "/v2/app/referrers/"+sd.String(), nil)
		_ = json.Unmarshal(r.body, &idx)
		if len(idx.Manifests) != 2 || idx.Manifests[0].ArtifactType != "application/vnd.example.sig" || idx.Manifests[0].Annotations["k"] != "v" ||
			idx.Manifests[1].ArtifactType != ocispec.MediaTypeImageConfig || idx.Manifests[0].Digest != digest.FromBytes(sig) {
			t.Errorf("referrers: %s", r.body)
		}
		r = c.do("GET", "/v2/app/referrers/"+sd.String()+"?artifactType=application/vnd.example.sig", nil)
		idx = ocispec.Index{}
		_ = json.Unmarshal(r.body, &idx)
		if len(idx.Manifests) != 1 || r.Header.Get("OCI-Filters-Applied") != "artifactType" {
			t.Errorf("filtered: %s, OCI-Filters-Applied %q", r.body, r.Header.Get("OCI-Filters-Applied"))
		}
		c.expect(c.do("DELETE", "/v2/app/manifests/"+digest.FromBytes(sig).String(), nil), http.StatusAccepted, "")
		idx = ocispec.Index{}
		_ = json.Unmarshal(c.do("GET", "/v2/app/referrers/"+sd.String(), nil).body, &idx)
		if len(idx.Manifests) != 1 {
			t.Errorf("after delete: %d referrers", len(idx.Manifests))
		}
		c.expect(c.do("GET", "/v2/app/referrers/sha256:bad", nil), http.StatusBadRequest, registry.CodeDigestInvalid)
	})
}

// bare is a store that hides every optional ability of the memory store:
// the handler must say UNSUPPORTED, not fail.
type bare struct{ s *memory.Store }

type bareRepo struct{ cas.Target }

func (b bare) Repository(ctx context.Context, name string) (cas.Target, error) {
	t, err := b.s.Repository(ctx, name)
	return bareRepo{t}, err
}

func TestUnsupported(t *testing.T) {
	c := newClient(t, bare{memory.New()}, registry.Options{})
	b := randomBytes(10)
	d := c.pushBlob("r", b) // monolithic uploads need only Push
	c.expect(c.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "bytes=2-3"), http.StatusPartialContent, "")
	c.expect(c.do("POST", "/v2/r/blobs/uploads/", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	c.expect(c.do("GET", "/v2/r/blobs/uploads/x", nil), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	c.expect(c.do("DELETE", "/v2/r/blobs/"+d.String(), nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	c.expect(c.do("DELETE", "/v2/r/manifests/t", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	c.expect(c.do("GET", "/v2/r/tags/list", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	c.expect(c.do("GET", "/v2/_catalog", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	c.expect(c.do("GET", "/v2/r/referrers/"+d.String(), nil), http.StatusNotFound, registry.CodeUnsupported)
	// A mount without cas.Mounter copies.
	c.expect(c.do("POST", "/v2/s/blobs/uploads/?mount="+d.String()+"&from=r", nil), http.StatusCreated, "")
}

func TestReadOnlyAndDisableDelete(t *testing.T) {
	s := memory.New()
	rw := newClient(t, s, registry.Options{})
	d := rw.pushBlob("r", randomBytes(10))
	ro := newClient(t, s, registry.Options{ReadOnly: true})
	ro.expect(ro.do("GET", "/v2/r/blobs/"+d.String(), nil), http.StatusOK, "")
	ro.expect(ro.do("POST", "/v2/r/blobs/uploads/", nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	nd := newClient(t, s, registry.Options{DisableDelete: true})
	nd.expect(nd.do("DELETE", "/v2/r/blobs/"+d.String(), nil), http.StatusMethodNotAllowed, registry.CodeUnsupported)
	nd.expect(nd.do("POST", "/v2/r/blobs/uploads/", nil), http.StatusAccepted, "")
}

// panicky panics on every repository.
type panicky struct{}

func (panicky) Repository(context.Context, string) (cas.Target, error) { panic("boom") }

func TestRecover(t *testing.T) {
	c := newClient(t, panicky{}, registry.Options{})
	c.expect(c.do("GET", "/v2/r/tags/list", nil), http.StatusInternalServerError, registry.CodeUnknown)
	c.expect(c.do("GET", "/v2/", nil), http.StatusOK, "")
}

// TestConcurrentPatches sends chunks of one session at once: the session
// lock must serialise them, so every byte arrives once (run with -race).
func TestConcurrentPatches(t *testing.T) {
	c := newClient(t, memory.New(), registry.Options{})
	loc := c.do("POST", "/v2/r/blobs/uploads/", nil).Header.Get("Location")
	const n, size = 8, 4096
	errs := make(chan error, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("PATCH", c.base+loc, bytes.NewReader(bytes.Repeat([]byte("x"), size)))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	r := c.do("GET", loc, nil)
	if r.Header.Get("Range") != fmt.Sprintf("0-%d", n*size-1) {
		t.Errorf("Range %q after %d chunks of %d", r.Header.Get("Range"), n, size)
	}
}

// TestCatalogServedNamesOnly: a store may hold repositories whose names are
// not distribution-spec names (an OCI layout in which skopeo or ctr wrote
// "HOST:PORT/REPO", a store loaded by an older bundle load); the catalog
// lists only the names the registry serves, so that crane, gantry
// inventory and gantry fleet --registry can walk it.
func TestCatalogServedNamesOnly(t *testing.T) {
	s, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	l, err := testimage.RandomLayer(100)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.NewImage([]testimage.Layer{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1:5000/apps/api", "apps/web"} {
		r, err := s.Repository(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(t.Context(), r, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, s, registry.Options{})
	r := c.do("GET", "/v2/_catalog", nil)
	c.expect(r, http.StatusOK, "")
	if string(r.body) != `{"repositories":["apps/web"]}` {
		t.Fatalf("catalog %s, want only apps/web", r.body)
	}
	r = c.do("GET", "/v2/_catalog?n=1", nil)
	if string(r.body) != `{"repositories":["apps/web"]}` {
		t.Fatalf("catalog?n=1 %s, want apps/web", r.body)
	}
}
