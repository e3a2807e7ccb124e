// Package gcbench measures garbage collection on a 100,000-blob store:
// gantry's (in process, with requests served during the run) and
// Distribution 3's `registry garbage-collect` on a store of the same
// shape. Run it with bench/gc/run.sh; it is not part of CI.
package gcbench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// shape is the store both registries get: images spread over repos, each
// a manifest, a config, the repository's shared base layer and two layers
// of its own (small blobs: the cost measured is per blob, not per byte).
// Every other image was deleted (its manifest), two days ago.
type shape struct {
	repos, images int
}

// image is one image of the shape.
type image struct {
	repo, tag string
	deleted   bool
	manifest  []byte
	mdesc     ocispec.Descriptor
	blobs     map[digest.Digest][]byte // config and layers, base included
}

func (sh shape) build(seed uint64) ([]image, int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	bases := make([][]byte, sh.repos)
	for i := range bases {
		bases[i] = blob(512)
	}
	var out []image
	total := sh.repos
	for i := range sh.images {
		r := i % sh.repos
		img := image{repo: fmt.Sprintf("team%d/app", r), tag: fmt.Sprintf("v%d", i/sh.repos), deleted: i%2 == 1, blobs: map[digest.Digest][]byte{}}
		cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"n":"%d"}}}`, i)
		layers := [][]byte{bases[r], blob(200 + rng.IntN(300)), blob(200 + rng.IntN(300))}
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
		m.SchemaVersion = 2
		img.blobs[m.Config.Digest] = cfg
		for _, l := range layers {
			d := digest.FromBytes(l)
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(l))})
			img.blobs[d] = l
		}
		img.manifest, _ = json.Marshal(m)
		img.mdesc = ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(img.manifest), Size: int64(len(img.manifest))}
		out = append(out, img)
		total += 4
	}
	return out, total
}

func write(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o444)
}

// seedGantry writes the shape as a gantry store in dir, as gantry would
// have left it two days after the deletes: blobs, index.json with the
// tags of the images kept, and .gantry/repositories.json with the links
// (a deleted image's manifest let go of; its config and layers still in
// the repository, as a manifest delete leaves them).
func seedGantry(dir string, imgs []image) error {
	then := time.Now().Add(-48 * time.Hour).Unix()
	type link struct {
		Since     int64  `json:"since"`
		MediaType string `json:"mediaType,omitempty"`
	}
	repos := map[string]map[digest.Digest]link{}
	released := map[digest.Digest]int64{}
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	for _, img := range imgs {
		if repos[img.repo] == nil {
			repos[img.repo] = map[digest.Digest]link{}
		}
		if err := write(filepath.Join(dir, "blobs", "sha256", img.mdesc.Digest.Encoded()), img.manifest); err != nil {
			return err
		}
		for d, b := range img.blobs {
			if err := write(filepath.Join(dir, "blobs", "sha256", d.Encoded()), b); err != nil {
				return err
			}
			repos[img.repo][d] = link{Since: then}
		}
		if img.deleted {
			released[img.mdesc.Digest] = then
			continue
		}
		repos[img.repo][img.mdesc.Digest] = link{Since: then, MediaType: img.mdesc.MediaType}
		e := img.mdesc
		e.Annotations = map[string]string{ocispec.AnnotationRefName: img.repo + ":" + img.tag}
		idx.Manifests = append(idx.Manifests, e)
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "repositories": repos, "released": released})
	if err := write(filepath.Join(dir, ".gantry", "repositories.json"), b); err != nil {
		return err
	}
	b, _ = json.Marshal(idx)
	if err := write(filepath.Join(dir, "index.json"), b); err != nil {
		return err
	}
	return write(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
}

// seedDistribution writes the same shape in Distribution's filesystem
// layout under root (the storage driver's rootdirectory): blob data,
// each repository's layer links, and the revision and tag links of the
// images kept (a deleted manifest has neither).
func seedDistribution(root string, imgs []image) error {
	v2 := filepath.Join(root, "docker", "registry", "v2")
	blob := func(d digest.Digest, b []byte) error {
		return write(filepath.Join(v2, "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data"), b)
	}
	lnk := func(d digest.Digest, elem ...string) error {
		return write(filepath.Join(append([]string{v2, "repositories"}, elem...)...), []byte(d.String()))
	}
	for _, img := range imgs {
		if err := blob(img.mdesc.Digest, img.manifest); err != nil {
			return err
		}
		for d, b := range img.blobs {
			if err := blob(d, b); err != nil {
				return err
			}
			if err := lnk(d, img.repo, "_layers", "sha256", d.Encoded(), "link"); err != nil {
				return err
			}
		}
		if img.deleted {
			continue
		}
		m := img.mdesc.Digest
		for _, p := range [][]string{
			{img.repo, "_manifests", "revisions", "sha256", m.Encoded(), "link"},
			{img.repo, "_manifests", "tags", img.tag, "current", "link"},
			{img.repo, "_manifests", "tags", img.tag, "index", "sha256", m.Encoded(), "link"},
		} {
			if err := lnk(m, p...); err != nil {
				return err
			}
		}
	}
	return nil
}
