package s3

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/gc"
	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// replica opens a Store on the test server's bucket, as one replica.
func replica(t *testing.T, loc string) *Store {
	t.Helper()
	o, err := ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	o.AccessKey, o.SecretKey = s3test.AccessKey, s3test.SecretKey
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func repoOf(t *testing.T, s *Store, name string) *Repo {
	t.Helper()
	r, err := s.Repository(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Repo)
}

func blobOf(s string) ([]byte, ocispec.Descriptor) {
	b := []byte(s)
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// orphan pushes content into a repository and deletes it there: a blob
// no repository holds.
func orphan(t *testing.T, s *Store, content string) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b, desc := blobOf(content)
	r := repoOf(t, s, "gone/app")
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(t.Context(), desc); err != nil {
		t.Fatal(err)
	}
	return b, desc
}

func blobThere(t *testing.T, s *Store, d digest.Digest) bool {
	t.Helper()
	_, there, err := s.stat(t.Context(), s.blobKey(d))
	if err != nil {
		t.Fatal(err)
	}
	return there
}

func fetch(t *testing.T, r *Repo, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := r.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatalf("fetch %s from %s: %v", desc.Digest, r.name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("fetch %s from %s: %v", desc.Digest, r.name, err)
	}
	return b
}

// onStage sets gcStage for the test.
func onStage(t *testing.T, fn func(d digest.Digest, stage string)) {
	gcStage = fn
	t.Cleanup(func() { gcStage = nil })
}

func TestCollectBlobs(t *testing.T) {
	srv := s3test.Start(t)
	s := replica(t, srv.URL())
	r := repoOf(t, s, "kept/app")
	m := untaggedManifest(t, r) // kept: untagged manifests stay by default
	kept, keptDesc := blobOf("a layer of kept/app")
	_, gone := orphan(t, s, "held by nobody")

	rep, err := s.Collect(t.Context(), GCOptions{})
	if err != nil || rep.BlobsReclaimed != 0 {
		t.Fatalf("Collect with the default grace: %+v, %v; want nothing reclaimed", rep, err)
	}
	rep, err = s.Collect(t.Context(), GCOptions{Grace: NoGrace, DryRun: true})
	if err != nil || rep.BlobsReclaimed != 1 || rep.Blobs[0].Digest != gone.Digest || rep.BytesReclaimed != gone.Size {
		t.Fatalf("dry run: %+v, %v; want %s", rep, err, gone.Digest)
	}
	if !blobThere(t, s, gone.Digest) {
		t.Fatal("the dry run removed the blob")
	}
	rep, err = s.Collect(t.Context(), GCOptions{Grace: NoGrace})
	if err != nil || rep.BlobsReclaimed != 1 || rep.Blobs[0].Digest != gone.Digest {
		t.Fatalf("Collect: %+v, %v; want %s reclaimed", rep, err, gone.Digest)
	}
	if blobThere(t, s, gone.Digest) {
		t.Error("the unheld blob is still there")
	}
	if got := fetch(t, r, keptDesc); !bytes.Equal(got, kept) {
		t.Error("the held blob changed")
	}
	fetch(t, r, m)
	if keys := srv.Keys(t, s.prefix+"gc/"); len(keys) != 0 {
		t.Errorf("left behind: %v", keys)
	}
}

// TestTombstoneWriterFirst: a push through another replica puts its
// holder mark after the collection chose the blob but before it lists the
// marks: the collection spares the blob, and the push links it.
func TestTombstoneWriterFirst(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := replica(t, loc), replica(t, loc)
	content, desc := orphan(t, a, "taken again while collected")
	rb := repoOf(t, b, "again/app")
	pushed := make(chan error, 1)
	onStage(t, func(d digest.Digest, stage string) {
		if stage != "tombstone" {
			return
		}
		go func() { pushed <- rb.Push(t.Context(), desc, bytes.NewReader(content)) }()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, there, _ := b.stat(t.Context(), b.holderKey(d, rb.name)); there {
				return
			}
		}
		t.Error("the push never put its holder mark")
	})
	rep, err := a.Collect(t.Context(), GCOptions{Grace: NoGrace})
	if err != nil || rep.BlobsReclaimed != 0 || rep.Spared != 1 {
		t.Fatalf("Collect: %+v, %v; want the blob spared", rep, err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := fetch(t, repoOf(t, a, "again/app"), desc); !bytes.Equal(got, content) {
		t.Error("wrong bytes")
	}
}

// TestTombstoneCollectorFirst: a push through another replica puts its
// holder mark after the collection checked the marks: it waits for the
// tombstone to go, finds the bytes gone and writes them again.
func TestTombstoneCollectorFirst(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := replica(t, loc), replica(t, loc)
	content, desc := orphan(t, a, "taken again just too late")
	rb := repoOf(t, b, "again/app")
	pushed := make(chan error, 1)
	onStage(t, func(d digest.Digest, stage string) {
		if stage != "checked" {
			return
		}
		go func() { pushed <- rb.Push(t.Context(), desc, bytes.NewReader(content)) }()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, there, _ := b.stat(t.Context(), b.holderKey(d, rb.name)); there {
				break
			}
		}
		select {
		case err := <-pushed:
			t.Errorf("the push ended (%v) while the tombstone stood", err)
			pushed <- err
		case <-time.After(300 * time.Millisecond):
		}
	})
	rep, err := a.Collect(t.Context(), GCOptions{Grace: NoGrace})
	if err != nil || rep.BlobsReclaimed != 1 {
		t.Fatalf("Collect: %+v, %v; want the blob reclaimed", rep, err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := fetch(t, repoOf(t, a, "again/app"), desc); !bytes.Equal(got, content) {
		t.Error("wrong bytes")
	}
	if !blobThere(t, a, desc.Digest) {
		t.Error("the bytes were not written again")
	}
}

// TestReleasedJustNow: a blob whose last holder let go of it within the
// grace period stays, however old its bytes.
func TestReleasedJustNow(t *testing.T) {
	srv := s3test.Start(t)
	s := replica(t, srv.URL())
	_, desc := orphan(t, s, "let go of just now")
	rep, err := s.Collect(t.Context(), GCOptions{Grace: time.Hour})
	if err != nil || rep.BlobsReclaimed != 0 {
		t.Fatalf("Collect: %+v, %v; want nothing reclaimed", rep, err)
	}
	if !blobThere(t, s, desc.Digest) {
		t.Error("removed")
	}
	// A failed push takes its mark back the same way.
	b, d2 := blobOf("a push that fails")
	bad := d2
	bad.Size++
	if err := repoOf(t, s, "fail/app").Push(t.Context(), bad, bytes.NewReader(b)); err == nil {
		t.Fatal("a push of the wrong size succeeded")
	}
	if keys := srv.Keys(t, s.prefix+"holders/"+string(d2.Digest.Algorithm())+"/"+d2.Digest.Encoded()+"/"); len(keys) != 0 {
		t.Errorf("a failed push left its mark: %v", keys)
	}
}

// untaggedManifest pushes a config, a layer and a manifest of them into
// repo, untagged.
func untaggedManifest(t *testing.T, r *Repo) ocispec.Descriptor {
	t.Helper()
	cb, cdesc := blobOf(`{"architecture":"amd64","os":"linux"}`)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	lb, ldesc := blobOf("a layer of " + r.name)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: []ocispec.Descriptor{ldesc}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
		if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
			t.Fatal(err)
		}
	}
	return mdesc
}

// TestEpochTagFirst: a tag written through another replica after the
// collection marked the repository running but before it read the tags
// is seen: the manifest stays.
func TestEpochTagFirst(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := replica(t, loc), replica(t, loc)
	m := untaggedManifest(t, repoOf(t, a, "epoch/app"))
	tagged := make(chan error, 1)
	onStage(t, func(_ digest.Digest, stage string) {
		if stage == "repository" {
			tagged <- repoOf(t, b, "epoch/app").Tag(t.Context(), m, "v1")
		}
	})
	rep, err := a.Collect(t.Context(), GCOptions{Grace: NoGrace, Retention: gc.Retention{RemoveUntagged: true}})
	if err != nil || len(rep.Unlinked) != 0 {
		t.Fatalf("Collect: %+v, %v; want nothing unlinked", rep, err)
	}
	if err := <-tagged; err != nil {
		t.Fatalf("tag: %v", err)
	}
	if _, err := repoOf(t, b, "epoch/app").Resolve(t.Context(), "v1"); err != nil {
		t.Fatal(err)
	}
}

// TestEpochCollectorFirst: a tag written through another replica after
// the collection read the tags waits for the run to end, finds the
// manifest unlinked and takes itself back: no tag names missing content.
func TestEpochCollectorFirst(t *testing.T) {
	srv := s3test.Start(t)
	loc := srv.URL()
	a, b := replica(t, loc), replica(t, loc)
	m := untaggedManifest(t, repoOf(t, a, "epoch/app"))
	tagged := make(chan error, 1)
	onStage(t, func(_ digest.Digest, stage string) {
		if stage != "planned" {
			return
		}
		go func() { tagged <- repoOf(t, b, "epoch/app").Tag(t.Context(), m, "v1") }()
		select {
		case err := <-tagged:
			t.Errorf("the tag returned (%v) while the run was going", err)
			tagged <- err
		case <-time.After(300 * time.Millisecond):
		}
	})
	rep, err := a.Collect(t.Context(), GCOptions{Grace: NoGrace, Retention: gc.Retention{RemoveUntagged: true}})
	if err != nil || len(rep.Unlinked) != 3 {
		t.Fatalf("Collect: %+v, %v; want 3 unlinked", rep, err)
	}
	if err := <-tagged; !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("tag: %v; want not found", err)
	}
	if _, err := repoOf(t, b, "epoch/app").Resolve(t.Context(), "v1"); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("the tag stayed: %v", err)
	}
}
