package castest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReadOnlyConfig describes a read-only store under test: one whose content
// is made elsewhere (a bundle, a docker-archive tarball) and can only be
// read, so the suite cannot push its fixture and asks the store's test to
// build a store holding it instead.
type ReadOnlyConfig struct {
	// New returns a store holding images, each tagged Image.Tag in
	// repository Image.Repository. The suite calls it once per subtest.
	New func(t *testing.T, images []Image) cas.ReadOnlyStore
	// MakesManifests says that the store serves manifests of its own making
	// rather than Image.Manifest (a docker-archive tarball holds no
	// manifest: the store writes one from the config and layers). The suite
	// then checks that the manifest a tag resolves to names the image's
	// config and layers, instead of comparing bytes.
	MakesManifests bool
}

// Image is one image of the fixture a read-only store is built from.
type Image struct {
	// Repository is the full name of the repository the image is tagged
	// in ("registry.example.com/team/a").
	Repository string
	// Tag is the image's tag in Repository.
	Tag string
	// Manifest is an OCI image manifest naming Config and Layers.
	Manifest Content
	// Config is an OCI image config whose rootfs.diff_ids are the layers'
	// digests, so that a store reading it (docker-archive) finds it
	// consistent: the layers are served as they are, uncompressed.
	Config Content
	// Layers are the image's layers, in order.
	Layers []Content
}

// Content is one blob or manifest: its bytes and its descriptor.
type Content struct {
	Desc ocispec.Descriptor
	Data []byte
}

// Repositories of the read-only fixture: a holds two images, b one that
// shares a layer with a's first.
const (
	roRepoA    = "registry.example.com/team/a"
	roRepoB    = "registry.example.com/team/b"
	roRepoNone = "registry.example.com/team/none"
)

// RunReadOnly runs the read-only part of the suite: Fetch, Exists and
// Resolve by tag and digest, the errors they wrap, repository scoping (a
// repository serves only what its own tags reach), and the optional read
// interfaces (TagLister, RangeFetcher; RepositoryLister on the store) when
// implemented.
func RunReadOnly(t *testing.T, cfg ReadOnlyConfig) {
	tests := []struct {
		name string
		fn   func(t *testing.T, cfg ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture)
	}{
		{"ResolveFetch", testROResolveFetch},
		{"NotFound", testRONotFound},
		{"InvalidNames", testROInvalidNames},
		{"RepositoryScoping", testROScoping},
		{"UnknownRepository", testROUnknownRepository},
		{"TagList", testROTagList},
		{"RepositoryList", testRORepositoryList},
		{"FetchRange", testROFetchRange},
		{"ConcurrentFetch", testROConcurrentFetch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newROFixture(t)
			s := cfg.New(t, fx.images)
			fx.resolveRoots(t, cfg, s)
			tc.fn(t, cfg, s, fx)
		})
	}
}

// roFixture is the content the read-only suite builds its stores from.
type roFixture struct {
	images []Image // a:v1, a:v2, b:v1
	shared Content // a layer of a:v1 and b:v1
	roots  []ocispec.Descriptor
}

// newROFixture makes three images in two repositories, b:v1 sharing one
// layer with a:v1.
func newROFixture(t *testing.T) roFixture {
	t.Helper()
	blob := func(n int) Content {
		b, d := Blob(t, n)
		return Content{Desc: d, Data: b}
	}
	shared := blob(3000)
	return roFixture{
		shared: shared,
		images: []Image{
			newROImage(t, roRepoA, "v1", shared, blob(2000)),
			newROImage(t, roRepoA, "v2", blob(1500)),
			newROImage(t, roRepoB, "v1", shared, blob(2500)),
		},
	}
}

// newROImage returns an image of layers tagged tag in repository, with a
// config whose diff IDs are the layers' digests and an OCI manifest.
func newROImage(t testing.TB, repository, tag string, layers ...Content) Image {
	t.Helper()
	diffIDs := make([]digest.Digest, 0, len(layers))
	descs := make([]ocispec.Descriptor, 0, len(layers))
	for _, l := range layers {
		diffIDs = append(diffIDs, l.Desc.Digest)
		descs = append(descs, l.Desc)
	}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	cb := mustJSON(cfg)
	config := Content{Data: cb, Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}}
	mb, md := Manifest(t, config.Desc, descs...)
	return Image{Repository: repository, Tag: tag, Manifest: Content{Desc: md, Data: mb}, Config: config, Layers: layers}
}

// resolveRoots resolves every image's tag in its repository and checks the
// manifest it gets: the fixture's own, or, for a store that makes its
// manifests, one naming the image's config and layers.
func (fx *roFixture) resolveRoots(t *testing.T, cfg ReadOnlyConfig, s cas.ReadOnlyStore) {
	t.Helper()
	fx.roots = nil
	for _, img := range fx.images {
		r := roTarget(t, s, img.Repository)
		root, err := r.Resolve(t.Context(), img.Tag)
		if err != nil {
			t.Fatalf("Resolve(%s:%s): %v", img.Repository, img.Tag, err)
		}
		data := fetch(t, r, root)
		if int64(len(data)) != root.Size || digest.FromBytes(data) != root.Digest {
			t.Fatalf("%s:%s resolves to %s (%d bytes) but fetching it gives %d bytes hashing to %s",
				img.Repository, img.Tag, root.Digest, root.Size, len(data), digest.FromBytes(data))
		}
		if !cfg.MakesManifests {
			if root.Digest != img.Manifest.Desc.Digest || root.MediaType != img.Manifest.Desc.MediaType {
				t.Fatalf("%s:%s resolves to %s %s, want %s %s", img.Repository, img.Tag,
					root.MediaType, root.Digest, img.Manifest.Desc.MediaType, img.Manifest.Desc.Digest)
			}
		} else {
			var m ocispec.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("%s:%s: the manifest made is not JSON: %v", img.Repository, img.Tag, err)
			}
			got := []digest.Digest{m.Config.Digest}
			want := []digest.Digest{img.Config.Desc.Digest}
			for i := range max(len(m.Layers), len(img.Layers)) {
				if i < len(m.Layers) {
					got = append(got, m.Layers[i].Digest)
				}
				if i < len(img.Layers) {
					want = append(want, img.Layers[i].Desc.Digest)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s:%s: the manifest made names %v, want config and layers %v", img.Repository, img.Tag, got, want)
			}
		}
		fx.roots = append(fx.roots, root)
	}
}

// content returns every blob of image i, its root first.
func (fx roFixture) content(i int) []Content {
	img := fx.images[i]
	return append([]Content{{Desc: fx.roots[i]}, img.Config}, img.Layers...)
}

func roTarget(t *testing.T, s cas.ReadOnlyStore, name string) cas.ReadOnlyTarget {
	t.Helper()
	r, err := s.Repository(t.Context(), name)
	if err != nil {
		t.Fatalf("Repository(%q): %v", name, err)
	}
	return r
}

func roWantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

// roAbsent checks that r serves nothing of desc, through every read it has.
func roAbsent(t *testing.T, where string, r cas.ReadOnlyTarget, desc ocispec.Descriptor) {
	t.Helper()
	ctx := t.Context()
	if ok, err := r.Exists(ctx, desc); ok || err != nil {
		t.Errorf("%s: Exists(%s) = %v, %v; want false, nil", where, desc.Digest, ok, err)
	}
	rc, err := r.Fetch(ctx, desc)
	if err == nil {
		rc.Close()
	}
	roWantErr(t, fmt.Sprintf("%s: Fetch(%s)", where, desc.Digest), err, cas.ErrNotFound)
	_, err = r.Resolve(ctx, desc.Digest.String())
	roWantErr(t, fmt.Sprintf("%s: Resolve(%s)", where, desc.Digest), err, cas.ErrNotFound)
	if rf, ok := r.(cas.RangeFetcher); ok {
		rc, err := rf.FetchRange(ctx, desc, 0, 1)
		if err == nil {
			rc.Close()
		}
		roWantErr(t, fmt.Sprintf("%s: FetchRange(%s)", where, desc.Digest), err, cas.ErrNotFound)
	}
}

// roPresent checks that r serves c: Exists, Fetch and Resolve by digest.
func roPresent(t *testing.T, where string, r cas.ReadOnlyTarget, c Content) {
	t.Helper()
	if ok, err := r.Exists(t.Context(), c.Desc); !ok || err != nil {
		t.Fatalf("%s: Exists(%s) = %v, %v; want true", where, c.Desc.Digest, ok, err)
	}
	if got := fetch(t, r, c.Desc); c.Data != nil && !bytes.Equal(got, c.Data) {
		t.Fatalf("%s: Fetch(%s) returned other bytes", where, c.Desc.Digest)
	}
	d, err := r.Resolve(t.Context(), c.Desc.Digest.String())
	if err != nil || d.Digest != c.Desc.Digest || d.Size != c.Desc.Size {
		t.Fatalf("%s: Resolve(%s) = %s %d, %v; want %d bytes", where, c.Desc.Digest, d.Digest, d.Size, err, c.Desc.Size)
	}
}

func testROResolveFetch(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture) {
	for i, img := range fx.images {
		r := roTarget(t, s, img.Repository)
		for _, c := range fx.content(i) {
			roPresent(t, img.Repository, r, c)
		}
	}
}

func testRONotFound(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, _ roFixture) {
	r := roTarget(t, s, roRepoA)
	_, missing := Blob(t, 10)
	roAbsent(t, roRepoA, r, missing)
	_, err := r.Resolve(t.Context(), "no-such-tag")
	roWantErr(t, "Resolve(no-such-tag)", err, cas.ErrNotFound)
}

func testROInvalidNames(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, _ roFixture) {
	for _, name := range []string{"", "UPPER/case", "a//b", "-a", "a/b/"} {
		_, err := s.Repository(t.Context(), name)
		roWantErr(t, fmt.Sprintf("Repository(%q)", name), err, cas.ErrInvalid)
	}
	r := roTarget(t, s, roRepoA)
	for _, ref := range []string{"sha256:zz", "sha256:" + string(bytes.Repeat([]byte("0"), 63))} {
		_, err := r.Resolve(t.Context(), ref)
		roWantErr(t, fmt.Sprintf("Resolve(%q)", ref), err, cas.ErrInvalid)
	}
}

// testROScoping checks that a repository serves only what its own tags
// reach: b shares one layer with a and nothing else.
func testROScoping(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture) {
	a, b := roTarget(t, s, roRepoA), roTarget(t, s, roRepoB)
	for i := range 2 { // a's images
		for _, c := range fx.content(i) {
			if c.Desc.Digest == fx.shared.Desc.Digest {
				continue
			}
			roAbsent(t, roRepoB, b, c.Desc)
		}
	}
	for _, c := range fx.content(2) { // b's image
		if c.Desc.Digest == fx.shared.Desc.Digest {
			continue
		}
		roAbsent(t, roRepoA, a, c.Desc)
	}
	roPresent(t, roRepoA, a, fx.shared)
	roPresent(t, roRepoB, b, fx.shared)
	_, err := b.Resolve(t.Context(), "v2") // a's tag
	roWantErr(t, roRepoB+": Resolve(v2), a tag of "+roRepoA, err, cas.ErrNotFound)
}

// testROUnknownRepository checks that a repository with no image serves
// nothing: Repository may refuse it (ErrNotFound) or return an empty one.
func testROUnknownRepository(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture) {
	r, err := s.Repository(t.Context(), roRepoNone)
	if errors.Is(err, cas.ErrNotFound) {
		return
	}
	if err != nil {
		t.Fatalf("Repository(%q): %v; want a target or an error wrapping ErrNotFound", roRepoNone, err)
	}
	for i := range fx.images {
		for _, c := range fx.content(i) {
			roAbsent(t, roRepoNone, r, c.Desc)
		}
	}
	_, err = r.Resolve(t.Context(), "v1")
	roWantErr(t, roRepoNone+": Resolve(v1)", err, cas.ErrNotFound)
	if tl, ok := r.(cas.TagLister); ok {
		if got := collect(t, tl.Tags, ""); len(got) != 0 {
			t.Errorf("%s lists tags %v", roRepoNone, got)
		}
	}
}

func testROTagList(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, _ roFixture) {
	tests := []struct {
		repo, last string
		want       []string
	}{
		{roRepoA, "", []string{"v1", "v2"}},
		{roRepoA, "v1", []string{"v2"}},
		{roRepoA, "v2", nil},
		{roRepoB, "", []string{"v1"}},
	}
	for _, tc := range tests {
		t.Run(tc.repo+"/after-"+tc.last, func(t *testing.T) {
			tl, ok := roTarget(t, s, tc.repo).(cas.TagLister)
			if !ok {
				t.Skip("targets are not cas.TagListers")
			}
			if got := collect(t, tl.Tags, tc.last); !slices.Equal(got, tc.want) {
				t.Errorf("tags of %s after %q = %v, want %v", tc.repo, tc.last, got, tc.want)
			}
		})
	}
}

func testRORepositoryList(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, _ roFixture) {
	rl, ok := s.(cas.RepositoryLister)
	if !ok {
		t.Skip("the store is not a cas.RepositoryLister")
	}
	tests := []struct {
		last string
		want []string
	}{
		{"", []string{roRepoA, roRepoB}},
		{roRepoA, []string{roRepoB}},
		{roRepoB, nil},
	}
	for _, tc := range tests {
		if got := collect(t, rl.Repositories, tc.last); !slices.Equal(got, tc.want) {
			t.Errorf("repositories after %q = %v, want %v", tc.last, got, tc.want)
		}
	}
}

func testROFetchRange(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture) {
	rf, ok := roTarget(t, s, roRepoA).(cas.RangeFetcher)
	if !ok {
		t.Skip("targets are not cas.RangeFetchers")
	}
	l := fx.images[0].Layers[1]
	tests := []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"middle", 10, 20, l.Data[10:30]},
		{"to the end", 100, -1, l.Data[100:]},
		{"past the end", 100, 1 << 20, l.Data[100:]},
		{"empty at the end", l.Desc.Size, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := rf.FetchRange(t.Context(), l.Desc, tc.offset, tc.length)
			if err != nil {
				t.Fatalf("FetchRange(%d, %d): %v", tc.offset, tc.length, err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("FetchRange(%d, %d): %d bytes, %v; want %d bytes", tc.offset, tc.length, len(got), err, len(tc.want))
			}
		})
	}
}

// testROConcurrentFetch reads every blob of every image at once: a
// read-only store serves many readers (gantry serve --bundle).
func testROConcurrentFetch(t *testing.T, _ ReadOnlyConfig, s cas.ReadOnlyStore, fx roFixture) {
	var wg sync.WaitGroup
	for i, img := range fx.images {
		r := roTarget(t, s, img.Repository)
		for _, c := range fx.content(i) {
			wg.Go(func() {
				rc, err := r.Fetch(t.Context(), c.Desc)
				if err != nil {
					t.Errorf("Fetch(%s): %v", c.Desc.Digest, err)
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil || int64(len(got)) != c.Desc.Size || digest.FromBytes(got) != c.Desc.Digest {
					t.Errorf("Fetch(%s): %d bytes, %v", c.Desc.Digest, len(got), err)
				}
			})
		}
	}
	wg.Wait()
}
