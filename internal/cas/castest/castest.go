// Package castest is the conformance suite of the cas contract. Every store
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		castest.Run(t, castest.Config{New: func(t *testing.T) cas.Store { return memory.New() }})
//	}
//
// Read-only stores (docker-archive tarballs, bundles) run RunReadOnly
// (readonly.go) instead, on fixture images the suite makes.
//
// It checks the required interfaces always, that repositories own their
// content (repository.go), and each optional interface
// (Deleter, Untagger, TagLister, RepositoryLister, RangeFetcher, Mounter,
// Ingester, ReferrerIndex; UploadPurger and UploadCounter on the store) when the store or its
// targets implement it.
package castest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config describes the store under test.
type Config struct {
	// New returns an empty store. The suite calls it once per subtest.
	New func(t *testing.T) cas.Store
	// Reopen, if set, closes s and opens the same data again: the suite
	// then checks that pushed content and tags survive.
	Reopen func(t *testing.T, s cas.Store) cas.Store
}

// Blob returns content of n random bytes and its descriptor.
func Blob(t testing.TB, n int) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(n)}
}

// Manifest returns a minimal image manifest pointing at config and layers,
// and its descriptor.
func Manifest(t testing.TB, config ocispec.Descriptor, layers ...ocispec.Descriptor) ([]byte, ocispec.Descriptor) {
	t.Helper()
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	b := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":%s,"layers":%s}`,
		ocispec.MediaTypeImageManifest, mustJSON(config), mustJSON(layers))
	return b, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func repo(t *testing.T, s cas.Store, name string) cas.Target {
	t.Helper()
	r, err := s.Repository(t.Context(), name)
	if err != nil {
		t.Fatalf("Repository(%q): %v", name, err)
	}
	return r
}

func push(t *testing.T, r cas.Pusher, desc ocispec.Descriptor, b []byte) {
	t.Helper()
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatalf("Push(%s): %v", desc.Digest, err)
	}
}

func fetch(t *testing.T, r cas.Fetcher, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := r.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", desc.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Fetch(%s): read: %v", desc.Digest, err)
	}
	return b
}

func exists(t *testing.T, r cas.Exister, desc ocispec.Descriptor) bool {
	t.Helper()
	ok, err := r.Exists(t.Context(), desc)
	if err != nil {
		t.Fatalf("Exists(%s): %v", desc.Digest, err)
	}
	return ok
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		fn   func(t *testing.T, cfg Config, s cas.Store)
	}{
		{"PushFetch", testPushFetch},
		{"SHA512", testSHA512},
		{"EmptyBlob", testEmptyBlob},
		{"PushWrongDigest", testPushWrongDigest},
		{"PushShort", testPushShort},
		{"PushLong", testPushLong},
		{"PushReaderError", testPushReaderError},
		{"PushCancelled", testPushCancelled},
		{"PushExisting", testPushExisting},
		{"PushInvalidDescriptor", testPushInvalidDescriptor},
		{"ConcurrentPushSameBlob", testConcurrentPush},
		{"FetchMissing", testFetchMissing},
		{"ResolveTagAndDigest", testResolve},
		{"TagMissingContent", testTagMissing},
		{"Retag", testRetag},
		{"InvalidNames", testInvalidNames},
		{"RepositoryScoping", testRepositoryScoping},
		{"Reopen", testReopen},
		{"Delete", testDelete},
		{"Untag", testUntag},
		{"TagList", testTagList},
		{"RepositoryList", testRepositoryList},
		{"FetchRange", testFetchRange},
		{"Mount", testMount},
		{"MountScoped", testMountScoped},
		{"DeleteScoped", testDeleteScoped},
		{"DeleteUntags", testDeleteUntags},
		{"DeleteRacesTag", testDeleteRacesTag},
		{"UploadScoped", testUploadScoped},
		{"ManifestThroughBlobAPI", testManifestThroughBlobAPI},
		{"Upload", testUpload},
		{"UploadResume", testUploadResume},
		{"UploadOtherRepository", testUploadOtherRepository},
		{"UploadMismatch", testUploadMismatch},
		{"UploadExisting", testUploadExisting},
		{"UploadCancel", testUploadCancel},
		{"UploadSHA512", testUploadSHA512},
		{"UploadEmpty", testUploadEmpty},
		{"UploadIDs", testUploadIDs},
		{"UploadReopen", testUploadReopen},
		{"PurgeUploads", testPurgeUploads},
		{"PurgeEmptySooner", testPurgeEmptySooner},
		{"OpenUploads", testOpenUploads},
		{"Referrers", testReferrers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, cfg, cfg.New(t)) })
	}
}

func testPushFetch(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/push")
	for _, n := range []int{1, 4096, 1 << 20} {
		b, desc := Blob(t, n)
		if exists(t, r, desc) {
			t.Fatalf("Exists before Push = true")
		}
		push(t, r, desc, b)
		if !exists(t, r, desc) {
			t.Fatalf("Exists after Push = false")
		}
		if got := fetch(t, r, desc); !bytes.Equal(got, b) {
			t.Fatalf("Fetch returned %d bytes that differ from the %d pushed", len(got), len(b))
		}
	}
}

func testSHA512(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/sha512")
	b, _ := Blob(t, 1000)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.SHA512.FromBytes(b), Size: 1000}
	push(t, r, desc, b)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("sha512 content differs")
	}
	got, err := r.Resolve(t.Context(), desc.Digest.String())
	if err != nil || got.Digest != desc.Digest || got.Size != desc.Size {
		t.Fatalf("Resolve(sha512 digest) = %+v, %v", got, err)
	}
}

func testEmptyBlob(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/empty")
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(nil), Size: 0}
	push(t, r, desc, nil)
	if got := fetch(t, r, desc); len(got) != 0 {
		t.Fatalf("empty blob fetched as %d bytes", len(got))
	}
}

func testPushWrongDigest(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/wrong")
	b, desc := Blob(t, 5000)
	bad := append([]byte(nil), b...)
	bad[2500] ^= 0xff
	err := r.Push(t.Context(), desc, bytes.NewReader(bad))
	wantErr(t, "Push of altered content", err, cas.ErrDigestMismatch)
	if exists(t, r, desc) {
		t.Fatal("content visible after a failed push")
	}
	push(t, r, desc, b) // the right bytes still go in afterwards
}

func testPushShort(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/short")
	b, desc := Blob(t, 5000)
	wantErr(t, "Push of truncated content", r.Push(t.Context(), desc, bytes.NewReader(b[:4000])), cas.ErrSizeMismatch)
	if exists(t, r, desc) {
		t.Fatal("content visible after a truncated push")
	}
}

func testPushLong(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/long")
	b, desc := Blob(t, 5000)
	long := append(append([]byte(nil), b...), "extra"...)
	wantErr(t, "Push of over-long content", r.Push(t.Context(), desc, bytes.NewReader(long)), cas.ErrSizeMismatch)
	if exists(t, r, desc) {
		t.Fatal("content visible after an over-long push")
	}
}

func testPushReaderError(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/readerr")
	b, desc := Blob(t, 100000)
	boom := errors.New("connection reset")
	rd := io.MultiReader(bytes.NewReader(b[:50000]), iotest.ErrReader(boom))
	if err := r.Push(t.Context(), desc, rd); !errors.Is(err, boom) {
		t.Fatalf("Push with a failing reader: got %v, want the reader's error", err)
	}
	if exists(t, r, desc) {
		t.Fatal("content visible after a failed read")
	}
	push(t, r, desc, b)
}

func testPushCancelled(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/cancel")
	b, desc := Blob(t, 100000)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Push(ctx, desc, bytes.NewReader(b)); err == nil {
		t.Fatal("Push with a cancelled context succeeded")
	}
	if exists(t, r, desc) {
		t.Fatal("content visible after a cancelled push")
	}
}

func testPushExisting(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/existing")
	b, desc := Blob(t, 100)
	push(t, r, desc, b)
	wantErr(t, "second Push", r.Push(t.Context(), desc, bytes.NewReader(b)), cas.ErrExists)
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content changed by a second push")
	}
}

func testPushInvalidDescriptor(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/invalid")
	for _, d := range []digest.Digest{"sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "nonsense", digest.Digest("sha256:" + digest.FromString("x").Encoded() + "00")} {
		err := r.Push(t.Context(), ocispec.Descriptor{Digest: d, Size: 1}, bytes.NewReader([]byte("x")))
		if !errors.Is(err, cas.ErrInvalid) && !errors.Is(err, cas.ErrUnsupported) {
			t.Errorf("Push with digest %q: got %v, want ErrInvalid or ErrUnsupported", d, err)
		}
	}
}

func testConcurrentPush(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/concurrent")
	b, desc := Blob(t, 1<<20)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = r.Push(t.Context(), desc, bytes.NewReader(b)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, cas.ErrExists) {
			t.Errorf("push %d: %v", i, err)
		}
	}
	if got := fetch(t, r, desc); !bytes.Equal(got, b) {
		t.Fatal("content differs after concurrent pushes")
	}
}

func testFetchMissing(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/missing")
	_, desc := Blob(t, 10)
	_, err := r.Fetch(t.Context(), desc)
	wantErr(t, "Fetch of absent content", err, cas.ErrNotFound)
	_, err = r.Resolve(t.Context(), desc.Digest.String())
	wantErr(t, "Resolve of absent digest", err, cas.ErrNotFound)
	_, err = r.Resolve(t.Context(), "nosuchtag")
	wantErr(t, "Resolve of absent tag", err, cas.ErrNotFound)
}

// pushImage pushes a config, a layer and a manifest, and returns the
// manifest's descriptor.
func pushImage(t *testing.T, r cas.Target) ocispec.Descriptor {
	t.Helper()
	cb, cdesc := Blob(t, 50)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	lb, ldesc := Blob(t, 3000)
	push(t, r, cdesc, cb)
	push(t, r, ldesc, lb)
	mb, mdesc := Manifest(t, cdesc, ldesc)
	push(t, r, mdesc, mb)
	return mdesc
}

func testResolve(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/resolve")
	mdesc := pushImage(t, r)
	if err := r.Tag(t.Context(), mdesc, "v1"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	got, err := r.Resolve(t.Context(), "v1")
	if err != nil {
		t.Fatalf("Resolve(v1): %v", err)
	}
	if got.Digest != mdesc.Digest || got.Size != mdesc.Size || got.MediaType != mdesc.MediaType {
		t.Fatalf("Resolve(v1) = %+v, want %+v", got, mdesc)
	}
	got, err = r.Resolve(t.Context(), mdesc.Digest.String())
	if err != nil || got.Digest != mdesc.Digest || got.Size != mdesc.Size {
		t.Fatalf("Resolve(digest) = %+v, %v; want digest and size of %+v", got, err, mdesc)
	}
	_, err = r.Resolve(t.Context(), "sha256:tooshort")
	if !errors.Is(err, cas.ErrInvalid) && !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("Resolve(malformed digest): %v, want ErrInvalid or ErrNotFound", err)
	}
}

func testTagMissing(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/tagmissing")
	_, mdesc := Manifest(t, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("c"), Size: 1})
	wantErr(t, "Tag of absent content", r.Tag(t.Context(), mdesc, "v1"), cas.ErrNotFound)
	_, err := r.Resolve(t.Context(), "v1")
	wantErr(t, "Resolve after a failed Tag", err, cas.ErrNotFound)
}

func testRetag(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/retag")
	a, b := pushImage(t, r), pushImage(t, r)
	for _, d := range []ocispec.Descriptor{a, b, a} {
		if err := r.Tag(t.Context(), d, "latest"); err != nil {
			t.Fatalf("Tag: %v", err)
		}
		got, err := r.Resolve(t.Context(), "latest")
		if err != nil || got.Digest != d.Digest {
			t.Fatalf("Resolve after retag = %s, %v; want %s", got.Digest, err, d.Digest)
		}
	}
}

func testInvalidNames(t *testing.T, _ Config, s cas.Store) {
	for _, name := range []string{"", "UPPER", "../escape", "/abs", "a//b", "a/../b", "a/", "with space", "a\x00b"} {
		if _, err := s.Repository(t.Context(), name); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("Repository(%q): got %v, want ErrInvalid", name, err)
		}
	}
	r := repo(t, s, "test/names")
	mdesc := pushImage(t, r)
	for _, tag := range []string{"", "-dash", ".dot", "a/b", "a:b", string(make([]byte, 129)), "../x"} {
		if err := r.Tag(t.Context(), mdesc, tag); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("Tag(%q): got %v, want ErrInvalid", tag, err)
		}
	}
}

func testReopen(t *testing.T, cfg Config, s cas.Store) {
	if cfg.Reopen == nil {
		t.Skip("the store does not persist")
	}
	r := repo(t, s, "test/reopen")
	mdesc := pushImage(t, r)
	for i := range 50 {
		if err := r.Tag(t.Context(), mdesc, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s = cfg.Reopen(t, s)
	r = repo(t, s, "test/reopen")
	for i := range 50 {
		got, err := r.Resolve(t.Context(), fmt.Sprintf("v%d", i))
		if err != nil || got.Digest != mdesc.Digest {
			t.Fatalf("after reopen, Resolve(v%d) = %s, %v", i, got.Digest, err)
		}
	}
	if !exists(t, r, mdesc) {
		t.Fatal("after reopen, manifest absent")
	}
}

func testDelete(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/delete")
	d, ok := r.(cas.Deleter)
	if !ok {
		t.Skip("no cas.Deleter")
	}
	b, desc := Blob(t, 100)
	push(t, r, desc, b)
	if err := d.Delete(t.Context(), desc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if exists(t, r, desc) {
		t.Fatal("content exists after Delete")
	}
	wantErr(t, "second Delete", d.Delete(t.Context(), desc), cas.ErrNotFound)
	push(t, r, desc, b) // can be pushed again
}

func testUntag(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/untag")
	u, ok := r.(cas.Untagger)
	if !ok {
		t.Skip("no cas.Untagger")
	}
	mdesc := pushImage(t, r)
	if err := r.Tag(t.Context(), mdesc, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := u.Untag(t.Context(), "v1"); err != nil {
		t.Fatalf("Untag: %v", err)
	}
	_, err := r.Resolve(t.Context(), "v1")
	wantErr(t, "Resolve after Untag", err, cas.ErrNotFound)
	if !exists(t, r, mdesc) {
		t.Fatal("Untag removed the content")
	}
	wantErr(t, "Untag of absent tag", u.Untag(t.Context(), "v1"), cas.ErrNotFound)
}

func collect(t *testing.T, list func(context.Context, string, func([]string) error) error, last string) []string {
	t.Helper()
	var all []string
	if err := list(t.Context(), last, func(p []string) error { all = append(all, p...); return nil }); err != nil {
		t.Fatalf("list: %v", err)
	}
	return all
}

func testTagList(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/tags")
	l, ok := r.(cas.TagLister)
	if !ok {
		t.Skip("no cas.TagLister")
	}
	if got := collect(t, l.Tags, ""); len(got) != 0 {
		t.Fatalf("tags of an empty repository: %v", got)
	}
	mdesc := pushImage(t, r)
	want := []string{"a", "b", "c", "v1.0", "v1.1"}
	for _, tag := range []string{"v1.1", "a", "c", "v1.0", "b"} {
		if err := r.Tag(t.Context(), mdesc, tag); err != nil {
			t.Fatal(err)
		}
	}
	other := repo(t, s, "test/tags/other")
	if err := other.Tag(t.Context(), mdesc, "zzz"); err != nil && !errors.Is(err, cas.ErrNotFound) {
		t.Fatal(err)
	}
	if got := collect(t, l.Tags, ""); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Tags = %v, want %v", got, want)
	}
	if got := collect(t, l.Tags, "b"); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("Tags after b = %v, want %v", got, want[2:])
	}
}

func testRepositoryList(t *testing.T, _ Config, s cas.Store) {
	l, ok := s.(cas.RepositoryLister)
	if !ok {
		t.Skip("no cas.RepositoryLister")
	}
	names := []string{"x/b", "x/a", "y", "x/a/deep"}
	for _, n := range names {
		r := repo(t, s, n)
		if err := r.Tag(t.Context(), pushImage(t, r), "v1"); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, l.Repositories, "")
	want := []string{"x/a", "x/a/deep", "x/b", "y"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Repositories = %v, want %v", got, want)
	}
	if got := collect(t, l.Repositories, "x/a/deep"); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("Repositories after x/a/deep = %v, want %v", got, want[2:])
	}
}

func testFetchRange(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/range")
	rf, ok := r.(cas.RangeFetcher)
	if !ok {
		t.Skip("no cas.RangeFetcher")
	}
	b, desc := Blob(t, 10000)
	push(t, r, desc, b)
	for _, c := range []struct{ off, n int64 }{{0, 10}, {9990, 10}, {5000, -1}, {0, -1}, {9999, 100}, {10000, -1}} {
		rc, err := rf.FetchRange(t.Context(), desc, c.off, c.n)
		if err != nil {
			t.Fatalf("FetchRange(%d, %d): %v", c.off, c.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(b))
		if c.n >= 0 && c.off+c.n < end {
			end = c.off + c.n
		}
		if err != nil || !bytes.Equal(got, b[c.off:end]) {
			t.Fatalf("FetchRange(%d, %d) returned %d bytes, want %d (%v)", c.off, c.n, len(got), end-c.off, err)
		}
	}
	if _, err := rf.FetchRange(t.Context(), desc, 10001, 1); err == nil {
		t.Fatal("FetchRange past the end succeeded")
	}
}

func testMount(t *testing.T, _ Config, s cas.Store) {
	a, b := repo(t, s, "test/mount/a"), repo(t, s, "test/mount/b")
	m, ok := b.(cas.Mounter)
	if !ok {
		t.Skip("no cas.Mounter")
	}
	blob, desc := Blob(t, 100)
	push(t, a, desc, blob)
	if err := m.Mount(t.Context(), desc, "test/mount/a"); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if got := fetch(t, b, desc); !bytes.Equal(got, blob) {
		t.Fatal("mounted content differs")
	}
	_, absent := Blob(t, 10)
	wantErr(t, "Mount of absent content", m.Mount(t.Context(), absent, "test/mount/a"), cas.ErrNotFound)
}
