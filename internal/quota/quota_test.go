package quota_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/quota"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// serve starts gantry's registry handler over store with q, and returns
// a client of it.
func serve(t *testing.T, store cas.Store, q *quota.Quotas) (*remote.Registry, string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(store, registry.Options{Quota: q}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := remote.New(host, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv.URL
}

func image(t *testing.T, layerBytes int) testimage.Image {
	t.Helper()
	l, err := testimage.RandomLayer(layerBytes)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.NewImage([]testimage.Layer{l}, []string{"/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func size(img testimage.Image) int64 {
	n := img.ConfigDesc.Size + img.ManifestDesc.Size
	for _, l := range img.Layers {
		n += l.Desc.Size
	}
	return n
}

func push(t *testing.T, c *remote.Registry, repo string, img testimage.Image, tag string) error {
	t.Helper()
	r, err := c.Repository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	return img.Push(t.Context(), r, tag)
}

func usage(q *quota.Quotas) (int64, int) {
	u := q.Usage()[0]
	return u.Bytes, u.Tags
}

// TestQuotaBytes checks that a push over a prefix's bytes is refused with
// 403 DENIED naming the quota, that content the prefix holds already
// (in another of its repositories) costs nothing, that deletes give bytes
// back, and that repositories outside the prefix are not bounded.
func TestQuotaBytes(t *testing.T) {
	a, b := image(t, 300<<10), image(t, 300<<10)
	q, err := quota.New([]quota.Rule{{Repositories: "team-a/**", Bytes: size(a) + 100<<10}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	c, url := serve(t, store, q)
	if err := push(t, c, "team-a/one", a, "v1"); err != nil {
		t.Fatalf("push within the quota: %v", err)
	}
	if err := push(t, c, "team-a/two", a, "v1"); err != nil {
		t.Fatalf("the same image in another repository of the prefix (counted once): %v", err)
	}
	if got, _ := usage(q); got != size(a) {
		t.Errorf("usage %d bytes, want %d (one image, once)", got, size(a))
	}
	err = push(t, c, "team-a/two", b, "v2")
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), `quota "team-a/**"`) {
		t.Fatalf("push over the quota: %v, want DENIED naming the quota", err)
	}
	repo, _ := store.Repository(t.Context(), "team-a/two")
	if ok, _ := repo.Exists(t.Context(), b.Layers[0].Desc); ok {
		t.Error("the refused layer entered the repository")
	}
	if got, _ := usage(q); got != size(a) {
		t.Errorf("usage after the refusal %d, want %d", got, size(a))
	}

	// The raw answer: 403, DENIED, a message naming the quota.
	resp, err := http.Post(url+"/v2/team-a/three/blobs/uploads/?digest="+b.Layers[0].Desc.Digest.String(), "application/octet-stream", strings.NewReader(string(b.Layers[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(body.Errors) != 1 || body.Errors[0].Code != "DENIED" || !strings.Contains(body.Errors[0].Message, "team-a/**") {
		t.Errorf("monolithic upload over the quota: %d %+v, want 403 DENIED naming the quota", resp.StatusCode, body)
	}

	if err := push(t, c, "team-b/x", b, "v1"); err != nil {
		t.Fatalf("a repository outside the prefix: %v", err)
	}

	// Deleting the image from both repositories gives its bytes back
	// (the layer and config once the blobs are deleted too).
	for _, name := range []string{"team-a/one", "team-a/two"} {
		r, _ := c.Repository(t.Context(), name)
		del := r.(cas.Deleter)
		for _, d := range []ocispec.Descriptor{a.ManifestDesc, a.ConfigDesc, a.Layers[0].Desc} {
			if err := del.Delete(t.Context(), d); err != nil {
				t.Fatalf("delete %s from %s: %v", d.Digest, name, err)
			}
		}
	}
	if got, tags := usage(q); got != 0 || tags != 0 {
		t.Errorf("usage after deletes: %d bytes, %d tags, want 0", got, tags)
	}
	if err := push(t, c, "team-a/two", b, "v2"); err != nil {
		t.Fatalf("push after the deletes: %v", err)
	}
}

// TestQuotaTags checks the tag bound: a new tag past it is refused, a tag
// that exists moves freely, and an untag makes room.
func TestQuotaTags(t *testing.T) {
	img := image(t, 1<<10)
	q, err := quota.New([]quota.Rule{{Repositories: "ci/*", Tags: 2}})
	if err != nil {
		t.Fatal(err)
	}
	c, url := serve(t, memory.New(), q)
	for _, tag := range []string{"a", "b"} {
		if err := push(t, c, "ci/app", img, tag); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
	err = push(t, c, "ci/other", img, "c")
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), "2 tags") {
		t.Fatalf("third tag of the prefix: %v, want DENIED naming the bound", err)
	}
	if err := push(t, c, "ci/app", image(t, 1<<10), "a"); err != nil {
		t.Fatalf("moving a tag: %v", err)
	}
	req, _ := http.NewRequest(http.MethodDelete, url+"/v2/ci/app/manifests/b", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("untag: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := push(t, c, "ci/other", img, "c"); err != nil {
		t.Fatalf("a tag after an untag: %v", err)
	}
	if _, tags := usage(q); tags != 2 {
		t.Errorf("tags %d, want 2", tags)
	}
	if err := push(t, c, "ci/deep/app", img, "x"); err != nil {
		t.Errorf("ci/* does not match ci/deep/app: %v", err)
	}
}

// TestQuotaLoad checks that a store's content is counted at start, as the
// handler counted it while it entered.
func TestQuotaLoad(t *testing.T) {
	rules := []quota.Rule{{Repositories: "team-a/**", Bytes: 10 << 20, Tags: 10}}
	live, err := quota.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	c, _ := serve(t, store, live)
	a, b := image(t, 10<<10), image(t, 20<<10)
	for _, p := range []struct {
		repo string
		img  testimage.Image
		tag  string
	}{{"team-a/one", a, "v1"}, {"team-a/two", a, "v1"}, {"team-a/two", b, "v2"}, {"other", b, "v1"}} {
		if err := push(t, c, p.repo, p.img, p.tag); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := quota.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Load(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if lb, lt := usage(loaded); lb != size(a)+size(b) || lt != 3 {
		t.Errorf("loaded %d bytes, %d tags; want %d, 3", lb, lt, size(a)+size(b))
	}
	if got, want := loaded.Usage(), live.Usage(); got[0] != want[0] {
		t.Errorf("loaded %+v, counted live %+v", got[0], want[0])
	}
}

// TestQuotaRules checks that bad rules fail, naming the rule.
func TestQuotaRules(t *testing.T) {
	for _, tc := range []struct {
		rule quota.Rule
		want string
	}{
		{quota.Rule{Repositories: "", Bytes: 1}, "quotas[0]: empty repositories pattern"},
		{quota.Rule{Repositories: "a/**"}, "quotas[0] (a/**): no bound"},
		{quota.Rule{Repositories: "a/**", Tags: -1}, "0 (no bound) or more"},
	} {
		if _, err := quota.New([]quota.Rule{tc.rule}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.rule, err, tc.want)
		}
	}
}

// TestQuotaConcurrentUploads sends 16 uploads of distinct blobs at once
// into a prefix whose quota holds 5 of them: exactly 5 are taken, and
// the usage is theirs, since a charge is taken before a blob commits.
func TestQuotaConcurrentUploads(t *testing.T) {
	const n, fits, size = 16, 5, 4 << 10
	q, err := quota.New([]quota.Rule{{Repositories: "team-a/**", Bytes: fits * size}})
	if err != nil {
		t.Fatal(err)
	}
	_, url := serve(t, memory.New(), q)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			blob := bytes.Repeat([]byte{byte(i)}, size)
			resp, err := http.Post(fmt.Sprintf("%s/v2/team-a/r%d/blobs/uploads/?digest=%s", url, i%3, digest.FromBytes(blob)), "application/octet-stream", bytes.NewReader(blob))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
		default:
			t.Errorf("status %d, want 201 or 403", c)
		}
	}
	if created != fits {
		t.Errorf("%d uploads taken, want %d", created, fits)
	}
	if got, _ := usage(q); got != fits*size {
		t.Errorf("usage %d, want %d", got, fits*size)
	}
}
