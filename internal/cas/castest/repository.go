package castest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repositories own their content: a repository serves what was pushed,
// mounted or committed into it, and a delete in one never changes what
// another serves. These are the cases of the suite that check it.

// testRepositoryScoping: content of one repository is invisible from
// another, existing or not, until that one is given the bytes.
func testRepositoryScoping(t *testing.T, _ Config, s cas.Store) {
	a, b := repo(t, s, "test/scope/a"), repo(t, s, "test/scope/b")
	blob, desc := Blob(t, 100)
	push(t, a, desc, blob)
	mdesc := pushImage(t, a)
	for _, name := range []string{"test/scope/b", "no/such/repository"} {
		r := repo(t, s, name)
		for _, d := range []ocispec.Descriptor{desc, mdesc} {
			if exists(t, r, d) {
				t.Fatalf("%s: Exists(%s) of content only test/scope/a holds = true", name, d.Digest)
			}
			_, err := r.Fetch(t.Context(), d)
			wantErr(t, name+": Fetch of another repository's content", err, cas.ErrNotFound)
			_, err = r.Resolve(t.Context(), d.Digest.String())
			wantErr(t, name+": Resolve of another repository's digest", err, cas.ErrNotFound)
			if rf, ok := r.(cas.RangeFetcher); ok {
				_, err := rf.FetchRange(t.Context(), d, 0, 1)
				wantErr(t, name+": FetchRange of another repository's content", err, cas.ErrNotFound)
			}
		}
	}
	wantErr(t, "Tag of another repository's manifest", b.Tag(t.Context(), mdesc, "v1"), cas.ErrNotFound)
	// The bytes make the content this repository's too.
	if err := b.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
		t.Fatalf("Push to test/scope/b of content test/scope/a holds: %v (want nil: this repository does not hold it)", err)
	}
	if got := fetch(t, b, desc); !bytes.Equal(got, blob) {
		t.Fatal("content pushed again to a second repository reads back wrong")
	}
	wantErr(t, "second Push to test/scope/b", b.Push(t.Context(), desc, bytes.NewReader(blob)), cas.ErrExists)
	// Wrong bytes for content the store already has must not link it.
	c := repo(t, s, "test/scope/c")
	bad := bytes.Repeat([]byte{'x'}, len(blob))
	if err := c.Push(t.Context(), desc, bytes.NewReader(bad)); !errors.Is(err, cas.ErrDigestMismatch) {
		t.Fatalf("Push of wrong bytes under a digest another repository holds: %v, want ErrDigestMismatch", err)
	}
	if exists(t, c, desc) {
		t.Fatal("a Push of wrong bytes made another repository's content visible")
	}
}

// testDeleteScoped: deleting content in one repository leaves every other
// repository that holds it serving it, tags included.
func testDeleteScoped(t *testing.T, _ Config, s cas.Store) {
	a, b := repo(t, s, "team-a/app"), repo(t, s, "team-b/app")
	d, ok := a.(cas.Deleter)
	if !ok {
		t.Skip("no cas.Deleter")
	}
	config, cdesc := Blob(t, 50)
	layer, ldesc := Blob(t, 200)
	mb, mdesc := Manifest(t, cdesc, ldesc)
	for _, r := range []cas.Target{a, b} {
		push(t, r, cdesc, config)
		push(t, r, ldesc, layer)
		push(t, r, mdesc, mb)
		if err := r.Tag(t.Context(), mdesc, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(t.Context(), mdesc); err != nil {
		t.Fatalf("Delete(manifest) in team-a/app: %v", err)
	}
	if err := d.Delete(t.Context(), ldesc); err != nil {
		t.Fatalf("Delete(layer) in team-a/app: %v", err)
	}
	if exists(t, a, mdesc) || exists(t, a, ldesc) {
		t.Fatal("team-a/app still serves what it deleted")
	}
	_, err := a.Resolve(t.Context(), "v1")
	wantErr(t, "team-a/app:v1 after deleting its manifest", err, cas.ErrNotFound)
	got, err := b.Resolve(t.Context(), "v1")
	if err != nil || got.Digest != mdesc.Digest {
		t.Fatalf("team-b/app:v1 after a delete in team-a/app = %s, %v; want %s", got.Digest, err, mdesc.Digest)
	}
	for _, c := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{mdesc, mb}, {ldesc, layer}, {cdesc, config}} {
		if got := fetch(t, b, c.desc); !bytes.Equal(got, c.data) {
			t.Fatalf("team-b/app: %s reads back wrong after a delete in team-a/app", c.desc.Digest)
		}
	}
	wantErr(t, "Delete in team-a/app of content it no longer holds", d.Delete(t.Context(), ldesc), cas.ErrNotFound)
	e := repo(t, s, "team-c/app").(cas.Deleter)
	wantErr(t, "Delete in a repository that never held the content", e.Delete(t.Context(), ldesc), cas.ErrNotFound)
}

// testDeleteUntags: deleting a manifest removes the tags of its repository
// that point at it, and only those.
func testDeleteUntags(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/delete/untags")
	d, ok := r.(cas.Deleter)
	if !ok {
		t.Skip("no cas.Deleter")
	}
	m1, m2 := pushImage(t, r), pushImage(t, r)
	for tag, m := range map[string]ocispec.Descriptor{"a": m1, "b": m1, "keep": m2} {
		if err := r.Tag(t.Context(), m, tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(t.Context(), m1); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"a", "b"} {
		_, err := r.Resolve(t.Context(), tag)
		wantErr(t, "Resolve("+tag+") after deleting its manifest", err, cas.ErrNotFound)
	}
	if got, err := r.Resolve(t.Context(), "keep"); err != nil || got.Digest != m2.Digest {
		t.Fatalf("Resolve(keep) = %s, %v; want %s", got.Digest, err, m2.Digest)
	}
}

// raceRounds is how many times each race is run: enough for the race
// detector and the scheduler to interleave the two sides both ways.
const raceRounds = 30

// testDeleteRacesTag: a manifest delete racing a tag move never removes
// the moved tag, and a tag racing the delete of its content never survives
// on absent content.
func testDeleteRacesTag(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/delete/race")
	d, ok := r.(cas.Deleter)
	if !ok {
		t.Skip("no cas.Deleter")
	}
	for i := range raceRounds {
		old, moved := pushImage(t, r), pushImage(t, r)
		tag := fmt.Sprintf("move%d", i)
		if err := r.Tag(t.Context(), old, tag); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var delErr, tagErr error
		wg.Go(func() { delErr = d.Delete(t.Context(), old) })
		wg.Go(func() { tagErr = r.Tag(t.Context(), moved, tag) })
		wg.Wait()
		if delErr != nil || tagErr != nil {
			t.Fatalf("round %d: Delete = %v, Tag = %v", i, delErr, tagErr)
		}
		if got, err := r.Resolve(t.Context(), tag); err != nil || got.Digest != moved.Digest {
			t.Fatalf("round %d: a Delete of the old manifest racing a Tag that moved %s away from it left it at %s, %v; want %s",
				i, tag, got.Digest, err, moved.Digest)
		}

		doomed := pushImage(t, r)
		tag = fmt.Sprintf("doomed%d", i)
		wg.Go(func() { delErr = d.Delete(t.Context(), doomed) })
		wg.Go(func() { tagErr = r.Tag(t.Context(), doomed, tag) })
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: Delete = %v", i, delErr)
		}
		if tagErr != nil && !errors.Is(tagErr, cas.ErrNotFound) {
			t.Fatalf("round %d: Tag racing the delete of its content = %v, want nil or ErrNotFound", i, tagErr)
		}
		if _, err := r.Resolve(t.Context(), tag); err == nil && !exists(t, r, doomed) {
			t.Fatalf("round %d: tag %s survived the delete of its content", i, tag)
		}
	}
}

// testMountScoped: a mount needs the source repository to hold the
// content, and the mounted content stays when the source deletes it.
func testMountScoped(t *testing.T, _ Config, s cas.Store) {
	a, b := repo(t, s, "test/mountscope/a"), repo(t, s, "test/mountscope/b")
	m, ok := b.(cas.Mounter)
	if !ok {
		t.Skip("no cas.Mounter")
	}
	blob, desc := Blob(t, 100)
	push(t, a, desc, blob)
	wantErr(t, "Mount from a repository that does not hold the content",
		m.Mount(t.Context(), desc, "test/mountscope/none"), cas.ErrNotFound)
	if exists(t, b, desc) {
		t.Fatal("a failed mount made the content visible")
	}
	if err := m.Mount(t.Context(), desc, "test/mountscope/a"); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if d, ok := a.(cas.Deleter); ok {
		if err := d.Delete(t.Context(), desc); err != nil {
			t.Fatal(err)
		}
		if got := fetch(t, b, desc); !bytes.Equal(got, blob) {
			t.Fatal("mounted content is gone after the source repository deleted it")
		}
	}
}

// testUploadScoped: an upload of content another repository holds makes it
// this repository's, and only this one's.
func testUploadScoped(t *testing.T, _ Config, s cas.Store) {
	a := repo(t, s, "test/uploadscope/a")
	b, in := ingester(t, s, "test/uploadscope/b")
	blob, desc := Blob(t, 1000)
	push(t, a, desc, blob)
	u := newUpload(t, in)
	write(t, u, blob)
	commit(t, u, desc)
	if got := fetch(t, b, desc); !bytes.Equal(got, blob) {
		t.Fatal("uploaded content reads back wrong")
	}
	if exists(t, repo(t, s, "test/uploadscope/c"), desc) {
		t.Fatal("an upload to one repository made the content visible in a third")
	}
}

// testManifestThroughBlobAPI: bytes that parse as a manifest but were
// pushed as a plain blob are not a manifest: they skipped every manifest
// check (children present, their sizes), so the store must not report a
// manifest media type for them, and tags them only if it checks them as
// a manifest then.
func testManifestThroughBlobAPI(t *testing.T, _ Config, s cas.Store) {
	r := repo(t, s, "test/blobmanifest")
	_, ldesc := Blob(t, 100) // never pushed: a manifest check would refuse
	cb, cdesc := Blob(t, 50)
	cdesc.MediaType = ocispec.MediaTypeImageConfig
	push(t, r, cdesc, cb)
	mb, mdesc := Manifest(t, cdesc, ldesc)
	asBlob := mdesc
	asBlob.MediaType = "application/octet-stream"
	push(t, r, asBlob, mb)
	got, err := r.Resolve(t.Context(), mdesc.Digest.String())
	if err != nil {
		t.Fatalf("Resolve of a blob: %v", err)
	}
	if got.MediaType == ocispec.MediaTypeImageManifest {
		t.Fatal("manifest bytes pushed as a blob resolve as a manifest")
	}
	if err := r.Tag(t.Context(), mdesc, "v1"); err == nil {
		if got, err := r.Resolve(t.Context(), "v1"); err != nil || got.MediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("tagged manifest bytes pushed as a blob: Resolve(v1) = %+v, %v", got, err)
		}
	}
}
