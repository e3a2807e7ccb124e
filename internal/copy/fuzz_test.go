package copy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// rootMediaTypes are what FuzzCopyDescriptors's root may claim to be.
var rootMediaTypes = []string{"", ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageLayerGzip, oci.MediaTypeDockerManifest}

// FuzzCopyDescriptors feeds the engine descriptors that lie: a root, a
// config, layers and index entries whose sizes, digests and media types
// are arbitrary (negative, 2^63-1, another blob's digest, a malformed
// one), over content that is real. Whatever they say, the copy must not
// panic, and a copy that reports success must have put at the destination
// content matching every descriptor of the graph. Seeds are in
// testdata/fuzz/FuzzCopyDescriptors.
//
// The root's size and the index entry's are the true ones plus rootSize
// and entrySize, unless shape says they are absolute. shape's bits: 1 adds
// a second entry for the layer with its true size (one digest, two sizes);
// 2 wraps the image in an index; 4 points the layer entry at the config's
// digest; 8 marks the layer non-distributable; 16 makes rootSize absolute;
// 32 makes entrySize absolute.
func FuzzCopyDescriptors(f *testing.F) {
	f.Add(int64(0), int64(0), int64(64), int64(1000), ocispec.MediaTypeImageLayerGzip, "", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, rootSize, rootMT, configSize, layerSize int64, layerMT, layerDigest string, entrySize, shape int64) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		store := memory.New()
		src, err := store.Repository(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		put := func(b []byte) ocispec.Descriptor {
			d := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
			if err := src.Push(ctx, d, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
				t.Fatal(err)
			}
			return d
		}
		configBytes := make([]byte, 64)
		layerBytes := make([]byte, 1000)
		for i := range layerBytes {
			layerBytes[i] = byte(i)
		}
		cfg := put(configBytes)
		layer := put(layerBytes)

		config := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg.Digest, Size: configSize}
		entry := ocispec.Descriptor{MediaType: layerMT, Digest: layer.Digest, Size: layerSize}
		if layerDigest != "" {
			entry.Digest = digest.Digest(layerDigest)
		}
		if shape&4 != 0 {
			entry.Digest = cfg.Digest
		}
		if shape&8 != 0 {
			entry.MediaType = oci.MediaTypeDockerForeignLayer
		}
		layers := []ocispec.Descriptor{entry}
		if shape&1 != 0 {
			layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layer.Digest, Size: layer.Size})
		}
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: layers}
		m.SchemaVersion = 2
		mb, err := json.Marshal(m)
		if err != nil {
			t.Skip() // a media type JSON cannot carry
		}
		root := put(mb)
		root.MediaType = ocispec.MediaTypeImageManifest
		if shape&2 != 0 {
			size := root.Size + entrySize
			if shape&32 != 0 {
				size = entrySize
			}
			idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
				MediaType: ocispec.MediaTypeImageManifest, Digest: root.Digest, Size: size,
				Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"},
			}}}
			idx.SchemaVersion = 2
			ib, err := json.Marshal(idx)
			if err != nil {
				t.Fatal(err)
			}
			root = put(ib)
			root.MediaType = ocispec.MediaTypeImageIndex
		}
		claimed := root
		claimed.Size = root.Size + rootSize
		if shape&16 != 0 {
			claimed.Size = rootSize
		}
		claimed.MediaType = rootMediaTypes[uint64(rootMT)%uint64(len(rootMediaTypes))]

		dst, err := memory.New().Repository(ctx, "dst")
		if err != nil {
			t.Fatal(err)
		}
		err = copy.CopyGraph(ctx, src, dst, claimed, copy.Options{Retries: -1})
		if err != nil {
			var ce *copy.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *copy.Error", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the copy hung until the test's deadline: %v", err)
			}
			return
		}
		// Success: every descriptor of the graph, as the graph states it,
		// names content the destination holds with that size and digest.
		checkGraph(t, ctx, dst, claimed)
	})
}

// checkGraph fails t unless dst holds desc and everything under it, each
// matching its descriptor.
func checkGraph(t *testing.T, ctx context.Context, dst cas.ReadOnlyStorage, desc ocispec.Descriptor) {
	t.Helper()
	data, err := cas.FetchAll(ctx, dst, desc, oci.MaxManifestSize)
	if err != nil {
		t.Fatalf("the copy succeeded but the destination's %s does not match its descriptor (size %d): %v", desc.Digest, desc.Size, err)
	}
	if !oci.IsManifest(desc.MediaType) && desc.MediaType != "" {
		return
	}
	m, err := oci.ParseManifest(desc, data)
	if err != nil {
		t.Fatalf("the copy succeeded with a root that does not parse: %v", err)
	}
	children, err := oci.Children(desc, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if oci.IsManifest(c.MediaType) {
			checkGraph(t, ctx, dst, c)
			continue
		}
		// Blobs are checked whole, whatever size they claim: FetchAll
		// does not reserve it.
		if _, err := cas.FetchAll(ctx, dst, c, 0); err != nil {
			t.Fatalf("the copy succeeded but the destination's %s does not match its descriptor (size %d): %v", c.Digest, c.Size, err)
		}
	}
}
