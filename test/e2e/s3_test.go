package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// TestServeS3Replicas runs two `gantry serve --s3` processes on one bucket,
// as replicas behind a load balancer: an image pushed through one is pulled
// through the other at once (crane), and 32 tag writes at once through
// both, to distinct tags and to one shared tag, all land; written one at a
// time through alternating replicas, the last acknowledged write is what
// both serve.
func TestServeS3Replicas(t *testing.T) {
	crane := testenv.GoTool(t, "crane")
	loc := s3test.Start(t).URL()
	a, b := startServer(t, loc), startServer(t, loc)
	img := pushBusybox(t, a, "demo/busybox:1")
	want := img.ManifestDesc.Digest.String()
	if r := must(t, crane, "digest", "--insecure", b.Addr+"/demo/busybox:1"); strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("digest through the other replica %q, want %s", r.Stdout, want)
	}
	must(t, crane, "pull", "--insecure", "--format", "oci", b.Addr+"/demo/busybox:1", t.TempDir())

	// Manifest variants of the image: distinct content for each write.
	base := string(img.Manifest)
	variant := func(i int) []byte {
		return []byte(strings.Replace(base, `"schemaVersion":2`, fmt.Sprintf(`"schemaVersion":2,"annotations":{"n":"%d"}`, i), 1))
	}
	if !bytes.Contains(variant(0), []byte(`"n":"0"`)) {
		t.Fatalf("cannot make variants of %s", base)
	}
	put := func(s *server, tag string, m []byte) error {
		req, _ := http.NewRequest("PUT", s.URL("/v2/demo/busybox/manifests/"+tag), bytes.NewReader(m))
		req.Header.Set("Content-Type", img.ManifestDesc.MediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("PUT %s: %s %s", tag, resp.Status, body)
		}
		return nil
	}
	get := func(s *server, tag string) []byte {
		req, _ := http.NewRequest("GET", s.URL("/v2/demo/busybox/manifests/"+tag), nil)
		req.Header.Set("Accept", img.ManifestDesc.MediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s from %s: %s", tag, s.Addr, resp.Status)
		}
		return body
	}
	replicas := []*server{a, b}
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() { errs[i] = put(replicas[i%2], fmt.Sprintf("t%d", i), variant(i)) })
		wg.Go(func() { errs[n+i] = put(replicas[(i+1)%2], "shared", variant(i)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		for _, s := range replicas {
			if got := get(s, fmt.Sprintf("t%d", i)); !bytes.Equal(got, variant(i)) {
				t.Fatalf("t%d through %s is not the manifest written", i, s.Addr)
			}
		}
	}
	shared, found := get(b, "shared"), false
	for i := range n {
		found = found || bytes.Equal(shared, variant(i))
	}
	if !found || !bytes.Equal(get(a, "shared"), shared) {
		t.Fatal("the shared tag is not one of the manifests written, or the replicas disagree")
	}
	for i := range 8 {
		if err := put(replicas[i%2], "seq", variant(100+i)); err != nil {
			t.Fatal(err)
		}
		if got := get(replicas[(i+1)%2], "seq"); !bytes.Equal(got, variant(100+i)) {
			t.Fatalf("seq after write %d: the other replica serves an older manifest", i)
		}
	}
	r := must(t, crane, "ls", "--insecure", b.Addr+"/demo/busybox")
	if got := len(strings.Fields(r.Stdout)); got != n+3 {
		t.Fatalf("crane ls through a replica: %d tags, want %d (1, shared, seq and t0..t%d)", got, n+3, n-1)
	}
}
