package registry_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/s3"
	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/opencontainers/go-digest"
)

// One MinIO serves every S3 case of the package: started by the first,
// stopped by TestMain.
var shared struct {
	once sync.Once
	srv  *s3test.Server
	stop func() string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// s3Server returns the package's MinIO, starting it on first use.
func s3Server(t *testing.T) *s3test.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.stop, shared.err = s3test.Launch() })
	if errors.Is(shared.err, s3test.ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// openS3 opens the store at location (an s3test URL).
func openS3(t *testing.T, location string) *s3.Store {
	t.Helper()
	o, err := s3.ParseURL(location)
	if err != nil {
		t.Fatal(err)
	}
	o.AccessKey, o.SecretKey, o.PartSize = s3test.AccessKey, s3test.SecretKey, s3.MinPartSize
	st, err := s3.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newS3Store is the "s3" entry of the endpoint tests' stores: a fresh
// prefix of the shared server.
func newS3Store(t *testing.T) cas.Store { return openS3(t, s3Server(t).URL()) }

// TestS3Replicas: two registries over one bucket, as two gantry serve
// replicas behind a load balancer. A push through one is pulled through
// the other at once, a chunked upload begun on one is finished on the
// other, and 32 tag PUTs at once through both, to distinct tags and to one
// shared tag, all land.
func TestS3Replicas(t *testing.T) {
	loc := s3Server(t).URL()
	a := newClient(t, openS3(t, loc), registry.Options{})
	b := newClient(t, openS3(t, loc), registry.Options{})

	m := a.image("apps/api", "")
	a.expect(a.do("PUT", "/v2/apps/api/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusCreated, "")
	got := b.do("GET", "/v2/apps/api/manifests/v1", nil)
	b.expect(got, http.StatusOK, "")
	if string(got.body) != string(m) {
		t.Fatal("manifest pulled through the other replica differs")
	}

	// An upload moves between replicas with its requests.
	blob := randomBytes(3000)
	post := a.do("POST", "/v2/apps/api/blobs/uploads/", nil)
	a.expect(post, http.StatusAccepted, "")
	loc1 := post.Header.Get("Location")
	patch := b.do("PATCH", loc1, blob[:1000], "Content-Type", "application/octet-stream")
	b.expect(patch, http.StatusAccepted, "")
	d := digest.FromBytes(blob)
	put := a.do("PUT", patch.Header.Get("Location")+sep(patch.Header.Get("Location"))+"digest="+d.String(), blob[1000:], "Content-Type", "application/octet-stream")
	a.expect(put, http.StatusCreated, "")
	b.expect(b.do("HEAD", "/v2/apps/api/blobs/"+d.String(), nil), http.StatusOK, "")

	const n = 32
	manifests := make([][]byte, n)
	for i := range n {
		manifests[i] = a.image("apps/race", fmt.Sprintf(`,"annotations":{"n":"%d"}`, i))
	}
	var wg sync.WaitGroup
	status := make([]int, 2*n)
	for i := range n {
		c := []*client{a, b}[i%2]
		other := []*client{b, a}[i%2]
		wg.Go(func() {
			status[i] = c.do("PUT", fmt.Sprintf("/v2/apps/race/manifests/t%d", i), manifests[i], "Content-Type", "application/vnd.oci.image.manifest.v1+json").StatusCode
		})
		wg.Go(func() {
			status[n+i] = other.do("PUT", "/v2/apps/race/manifests/shared", manifests[i], "Content-Type", "application/vnd.oci.image.manifest.v1+json").StatusCode
		})
	}
	wg.Wait()
	for i, s := range status {
		if s != http.StatusCreated {
			t.Fatalf("PUT %d: status %d", i, s)
		}
	}
	for i := range n {
		r := []*client{b, a}[i%2].do("GET", fmt.Sprintf("/v2/apps/race/manifests/t%d", i), nil)
		if r.StatusCode != http.StatusOK || string(r.body) != string(manifests[i]) {
			t.Fatalf("t%d through the other replica: status %d", i, r.StatusCode)
		}
	}
	shared := a.do("GET", "/v2/apps/race/manifests/shared", nil)
	found := false
	for _, m := range manifests {
		found = found || string(m) == string(shared.body)
	}
	if shared.StatusCode != http.StatusOK || !found {
		t.Fatalf("shared: status %d, not one of the manifests written", shared.StatusCode)
	}
}

func sep(u string) string {
	for _, c := range u {
		if c == '?' {
			return "&"
		}
	}
	return "?"
}

// TestS3Redirect: with presigned URLs on, a blob GET is a 307 to the
// bucket, which serves the bytes and ranges of them; HEAD and manifests
// stay with the registry.
func TestS3Redirect(t *testing.T) {
	o, err := s3.ParseURL(s3Server(t).URL() + "&presign=1m")
	if err != nil {
		t.Fatal(err)
	}
	o.AccessKey, o.SecretKey = s3test.AccessKey, s3test.SecretKey
	st, err := s3.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, st, registry.Options{})
	blob := randomBytes(5000)
	d := c.pushBlob("apps/api", blob)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(c.base + "/v2/apps/api/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("blob GET: %s, Location %q; want 307 to a presigned URL", resp.Status, loc)
	}
	if r := c.do("GET", "/v2/apps/api/blobs/"+d.String(), nil); r.StatusCode != http.StatusOK || !bytes.Equal(r.body, blob) {
		t.Fatalf("blob GET through the redirect: %d, %d bytes", r.StatusCode, len(r.body))
	}
	if r := c.do("GET", "/v2/apps/api/blobs/"+d.String(), nil, "Range", "bytes=100-199"); r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, blob[100:200]) {
		t.Fatalf("ranged blob GET through the redirect: %d, %d bytes", r.StatusCode, len(r.body))
	}
	if r := c.do("HEAD", "/v2/apps/api/blobs/"+d.String(), nil); r.StatusCode != http.StatusOK || r.Header.Get("Content-Length") != "5000" {
		t.Fatalf("blob HEAD: %d, Content-Length %s", r.StatusCode, r.Header.Get("Content-Length"))
	}
	c.expect(c.do("GET", "/v2/other/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
}
