package s3_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/s3"
	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// open opens the store at location with the test server's credentials.
func open(t testing.TB, location string) *s3.Store {
	t.Helper()
	o, err := s3.ParseURL(location)
	if err != nil {
		t.Fatal(err)
	}
	o.AccessKey, o.SecretKey = s3test.AccessKey, s3test.SecretKey
	o.PartSize = s3.MinPartSize
	s, err := s3.Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open(%s): %v", location, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	locations := map[*s3.Store]string{}
	var mu sync.Mutex
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store {
			loc := srv.URL()
			s := open(t, loc)
			mu.Lock()
			locations[s] = loc
			mu.Unlock()
			return s
		},
		// A replica on the same bucket and prefix is the same store.
		Reopen: func(t *testing.T, s cas.Store) cas.Store {
			mu.Lock()
			loc := locations[s.(*s3.Store)]
			mu.Unlock()
			return open(t, loc)
		},
	})
}

// TestLargeUpload: content over several parts, written in pieces that
// straddle part boundaries and resumed through another replica between
// requests, commits to the right bytes, and its session leaves nothing
// behind.
func TestLargeUpload(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := open(t, loc), open(t, loc)
	blob, desc := castest.Blob(t, 2*s3.MinPartSize+12345)
	ra, err := a.Repository(t.Context(), "big/app")
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := b.Repository(t.Context(), "big/app")
	u, err := ra.(cas.Ingester).NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	cut := s3.MinPartSize + 777
	if _, err := u.Write(blob[:cut]); err != nil {
		t.Fatal(err)
	}
	u.Close()
	u, err = rb.(cas.Ingester).ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload through another replica: %v", err)
	}
	if u.Size() != int64(cut) {
		t.Fatalf("resumed Size = %d, want %d", u.Size(), cut)
	}
	if _, err := u.Write(blob[cut:]); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(t.Context(), desc); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	rc, err := ra.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil || !bytes.Equal(got.Bytes(), blob) {
		t.Fatalf("fetched %d bytes (%v), differing from the %d written", got.Len(), err, len(blob))
	}
	prefix := loc[len("s3://gantry/"):]
	prefix = prefix[:bytes.IndexByte([]byte(prefix), '?')]
	if keys := srv.Keys(t, prefix+"/uploads/"); len(keys) != 0 {
		t.Fatalf("objects of a committed session left: %v", keys)
	}
	// The same through Push, which takes the multipart path past 4 MiB.
	big, bdesc := castest.Blob(t, 6<<20+1)
	if err := rb.Push(t.Context(), bdesc, bytes.NewReader(big)); err != nil {
		t.Fatalf("Push of %d bytes: %v", len(big), err)
	}
	bad := append([]byte(nil), big...)
	bad[len(bad)-1] ^= 1
	_, odesc := castest.Blob(t, len(bad))
	if err := rb.Push(t.Context(), odesc, bytes.NewReader(bad)); !errors.Is(err, cas.ErrDigestMismatch) {
		t.Fatalf("Push of wrong bytes: %v, want ErrDigestMismatch", err)
	}
	if keys := srv.Keys(t, prefix+"/blobs/"); len(keys) != 2 {
		t.Fatalf("blobs after one good and one bad push of large content: %v, want 2", keys)
	}
}

// TestReplicasConcurrentTags: 32 tag writes at once through two replicas,
// to distinct tags and to one shared tag, lose no update: every distinct
// tag is there, and the shared one points at one of the manifests written.
func TestReplicasConcurrentTags(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	replicas := []*s3.Store{open(t, loc), open(t, loc)}
	repo := func(i int) cas.Target {
		r, err := replicas[i%2].Repository(t.Context(), "race/app")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const n = 32
	manifests := make([]ocispec.Descriptor, n)
	for i := range n {
		r := repo(i)
		cb, cdesc := castest.Blob(t, 40)
		if err := r.Push(t.Context(), cdesc, bytes.NewReader(cb)); err != nil {
			t.Fatal(err)
		}
		mb, mdesc := castest.Manifest(t, cdesc)
		if err := r.Push(t.Context(), mdesc, bytes.NewReader(mb)); err != nil {
			t.Fatal(err)
		}
		manifests[i] = mdesc
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() { errs[i] = repo(i).Tag(t.Context(), manifests[i], fmt.Sprintf("t%d", i)) })
		wg.Go(func() { errs[n+i] = repo(i+1).Tag(t.Context(), manifests[i], "shared") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("tag write %d: %v", i, err)
		}
	}
	for i := range n {
		got, err := repo(i+1).Resolve(t.Context(), fmt.Sprintf("t%d", i))
		if err != nil || got.Digest != manifests[i].Digest {
			t.Fatalf("t%d through the other replica = %s, %v; want %s", i, got.Digest, err, manifests[i].Digest)
		}
	}
	got, err := repo(0).Resolve(t.Context(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range manifests {
		found = found || m.Digest == got.Digest
	}
	if !found {
		t.Fatalf("shared = %s, none of the manifests written", got.Digest)
	}
	var tags []string
	if err := repo(1).(cas.TagLister).Tags(t.Context(), "", func(p []string) error { tags = append(tags, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(tags) != n+1 {
		t.Fatalf("%d tags listed, want %d: %v", len(tags), n+1, tags)
	}
	// Sequential writes through alternating replicas: the last
	// acknowledged one wins.
	for i := range 6 {
		if err := repo(i).Tag(t.Context(), manifests[i], "seq"); err != nil {
			t.Fatal(err)
		}
		if got, err := repo(i+1).Resolve(t.Context(), "seq"); err != nil || got.Digest != manifests[i].Digest {
			t.Fatalf("seq after write %d through the other replica = %s, %v; want %s", i, got.Digest, err, manifests[i].Digest)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want s3.Options
	}{
		{"s3://bkt", s3.Options{Bucket: "bkt", Endpoint: "https://s3.us-east-1.amazonaws.com"}},
		{"s3://bkt/p/q/?region=eu-west-1", s3.Options{Bucket: "bkt", Prefix: "p/q", Region: "eu-west-1", Endpoint: "https://s3.eu-west-1.amazonaws.com"}},
		{"s3://my.bkt/p?endpoint=http://127.0.0.1:9000&path-style=true&part-size=6291456&presign=15m", s3.Options{Bucket: "my.bkt", Prefix: "p", Endpoint: "http://127.0.0.1:9000", PathStyle: true, PartSize: 6 << 20, Presign: 15 * time.Minute}},
	} {
		got, err := s3.ParseURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "b/p", "http://b/p", "s3:///p", "s3://user:pw@b", "s3://b", "s3://bkt:9000", "s3://Bkt", "s3://bkt/a//b", "s3://bkt/a/../b", "s3://bkt?endpoint=ftp://x", "s3://b?endpoint=http://x/path", "s3://b?part-size=1", "s3://b?nosuch=1", "s3://b?region=a&region=b", "s3://b?path-style=yes", "s3://bkt?presign=0s", "s3://bkt?presign=1y"} {
		if _, err := s3.ParseURL(bad); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("ParseURL(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

// countingTransport counts the requests a store sends.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestResolveThenFetch: a registry's blob GET (Resolve of the digest, then
// Fetch through the same repository) reads the link once: two requests to
// the bucket, not three. A Delete through the repository in between is
// seen.
func TestResolveThenFetch(t *testing.T) {
	srv := s3test.Start(t)
	o, err := s3.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{}
	o.AccessKey, o.SecretKey, o.Transport = s3test.AccessKey, s3test.SecretKey, ct
	st, err := s3.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := st.Repository(t.Context(), "a/b")
	blob, desc := castest.Blob(t, 1000)
	if err := r.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	before := ct.n.Load()
	got, err := r.Resolve(t.Context(), desc.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := r.Fetch(t.Context(), got)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if n := ct.n.Load() - before; n != 2 {
		t.Fatalf("Resolve then Fetch sent %d requests, want 2 (the link, the blob)", n)
	}
	if _, err := r.Resolve(t.Context(), desc.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if err := r.(cas.Deleter).Delete(t.Context(), desc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(t.Context(), desc); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("Fetch after Resolve and Delete: %v, want ErrNotFound", err)
	}
}

// TestUploadTwoWriters: two requests on one session through two replicas
// (a client that did not wait): the one whose state write lands keeps its
// bytes, the other fails and leaves them untouched, and the session
// commits to exactly the winner's bytes.
func TestUploadTwoWriters(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := open(t, loc), open(t, loc)
	ra, _ := a.Repository(t.Context(), "w/app")
	rb, _ := b.Repository(t.Context(), "w/app")
	u, err := ra.(cas.Ingester).NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("common prefix|")); err != nil {
		t.Fatal(err)
	}
	ua, err := ra.(cas.Ingester).ResumeUpload(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	ub, err := rb.(cas.Ingester).ResumeUpload(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ua.Write([]byte("written through a")); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	if _, err := ub.Write([]byte("written through b")); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("second writer on a session changed meanwhile: %v, want ErrNotFound", err)
	}
	final, err := rb.(cas.Ingester).ResumeUpload(t.Context(), u.ID())
	if err != nil {
		t.Fatalf("resume after the lost write: %v", err)
	}
	want := []byte("common prefix|written through a")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(want), Size: int64(len(want))}
	if err := final.Commit(t.Context(), desc); err != nil {
		t.Fatalf("Commit of the winner's bytes: %v", err)
	}
	rc, err := rb.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	_, _ = got.ReadFrom(rc)
	if got.String() != string(want) {
		t.Fatalf("committed %q, want %q", got.String(), want)
	}
}
