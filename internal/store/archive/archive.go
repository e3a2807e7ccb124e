package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Transport is the prefix of docker-archive references, as skopeo names it.
const Transport = "docker-archive"

// MediaTypeDockerLayerTar is the Docker schema 2 type of an uncompressed
// layer, the form docker save writes layers in.
const MediaTypeDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"

// maxMetadata bounds manifest.json and each config read into memory.
const maxMetadata = 16 << 20

// ParseReference splits "docker-archive:FILE[:REF]" into FILE and REF (""
// when absent), the way skopeo reads it: FILE ends at the first ":". ok is
// false when s does not start with "docker-archive:".
func ParseReference(s string) (file, ref string, ok bool, err error) {
	rest, found := strings.CutPrefix(s, Transport+":")
	if !found {
		return "", "", false, nil
	}
	file, ref, _ = strings.Cut(rest, ":")
	if file == "" {
		return "", "", true, fmt.Errorf("reference %q: no file (write docker-archive:FILE[:IMAGE]): %w", s, cas.ErrInvalid)
	}
	return file, ref, true, nil
}

// Image is one image of an archive.
type Image struct {
	// Names are the image's RepoTags, normalised to full references
	// ("docker.io/library/nginx:1.25"); empty for an image saved by ID.
	Names []string
	// Manifest is the manifest made for the image.
	Manifest ocispec.Descriptor
	// Config is the image's config blob.
	Config ocispec.Descriptor
	// Layers are its layers, in order.
	Layers []ocispec.Descriptor
}

// Store is a docker-archive tar opened read-only. It is safe for concurrent
// use; Close releases the file.
type Store struct {
	path   string
	f      *os.File
	images []Image
	blobs  map[digest.Digest]blob                   // configs and layers, in the tar
	mans   map[digest.Digest][]byte                 // manifests, made at Open
	tags   map[string]map[string]ocispec.Descriptor // repository -> tag -> manifest
	owned  map[string]map[digest.Digest]bool        // repository -> content its tags reach
}

// blob is a file of the tar.
type blob struct {
	desc   ocispec.Descriptor
	offset int64
}

// entry is a file of the tar, as indexed.
type entry struct {
	offset, size int64
	link         string // symlink or hard link target, resolved from the tar's root
}

// Open opens the tarball at path and indexes it: it reads the tar's
// headers (seeking over file data), manifest.json and the configs, but no
// layer data.
func Open(path string) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("docker archive: %w", err)
	}
	s := &Store{path: path, f: f, blobs: map[digest.Digest]blob{}, mans: map[digest.Digest][]byte{},
		tags: map[string]map[string]ocispec.Descriptor{}, owned: map[string]map[digest.Digest]bool{}}
	if err := s.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("docker archive %s: %w", path, err)
	}
	return s, nil
}

// Close closes the tarball.
func (s *Store) Close() error { return s.f.Close() }

// Path returns the file the store reads.
func (s *Store) Path() string { return s.path }

// Images returns the archive's images, in manifest.json's order.
func (s *Store) Images() []Image { return slices.Clone(s.images) }

// index reads every header of the tar and returns its files by cleaned name.
func (s *Store) index() (map[string]entry, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return nil, err
	}
	entries := map[string]entry{}
	tr := tar.NewReader(s.f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar (truncated or damaged?): %v: %w", err, cas.ErrInvalid)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
			if _, dup := entries[name]; dup {
				// Which copy counts is up to the reader: the last here,
				// the first for others, so a layer or config shadowed by
				// another of its name could be read one way and checked
				// or imported another.
				return nil, fmt.Errorf("the tar holds the entry %s twice: readers disagree on which copy counts, so the file is refused: save the image again: %w", name, cas.ErrInvalid)
			}
		}
		switch h.Typeflag {
		case tar.TypeReg:
			// tar.Reader reads no further than the header: the file's
			// position is where the data starts.
			off, err := s.f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			if off+h.Size > fi.Size() {
				return nil, fmt.Errorf("%s: the tar ends %d bytes into this %d-byte file (truncated): %w", name, fi.Size()-off, h.Size, cas.ErrSizeMismatch)
			}
			entries[name] = entry{offset: off, size: h.Size}
		case tar.TypeSymlink:
			entries[name] = entry{link: path.Clean(path.Join(path.Dir(name), h.Linkname))}
		case tar.TypeLink:
			entries[name] = entry{link: path.Clean(h.Linkname)}
		}
	}
	return entries, nil
}

// resolve follows links to a regular file.
func resolve(entries map[string]entry, name string) (entry, error) {
	name = path.Clean(name)
	for range 16 {
		e, ok := entries[name]
		if !ok {
			return entry{}, fmt.Errorf("%s is not in the tar: %w", name, cas.ErrNotFound)
		}
		if e.link == "" {
			return e, nil
		}
		name = e.link
	}
	return entry{}, fmt.Errorf("%s: too many links: %w", name, cas.ErrInvalid)
}

func (s *Store) readEntry(e entry) ([]byte, error) {
	if e.size > maxMetadata {
		return nil, fmt.Errorf("%d bytes is over the %d-byte limit for metadata: %w", e.size, maxMetadata, cas.ErrInvalid)
	}
	b := make([]byte, e.size)
	if _, err := s.f.ReadAt(b, e.offset); err != nil {
		return nil, err
	}
	return b, nil
}

// saveManifest is one entry of manifest.json.
type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) load() error {
	entries, err := s.index()
	if err != nil {
		return err
	}
	me, err := resolve(entries, "manifest.json")
	if err != nil {
		if _, legacy := entries["repositories"]; legacy {
			return fmt.Errorf("no manifest.json: saved by Docker before 1.10, whose format gantry does not read (save the image again with a newer docker, or skopeo copy docker-archive:FILE oci:DIR): %w", cas.ErrUnsupported)
		}
		return fmt.Errorf("no manifest.json: not a docker save tarball: %w", cas.ErrInvalid)
	}
	data, err := s.readEntry(me)
	if err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	var saved []saveManifest
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("manifest.json: not valid JSON: %v: %w", err, cas.ErrInvalid)
	}
	if len(saved) == 0 {
		return fmt.Errorf("manifest.json lists no image: %w", cas.ErrInvalid)
	}
	for i, sm := range saved {
		img, err := s.loadImage(entries, sm)
		if err != nil {
			return fmt.Errorf("image %d of manifest.json (%s): %w", i+1, strings.Join(sm.RepoTags, ", "), err)
		}
		s.images = append(s.images, img)
	}
	return nil
}

func (s *Store) loadImage(entries map[string]entry, sm saveManifest) (Image, error) {
	ce, err := resolve(entries, sm.Config)
	if err != nil {
		return Image{}, fmt.Errorf("config: %w", err)
	}
	cfgData, err := s.readEntry(ce)
	if err != nil {
		return Image{}, fmt.Errorf("config %s: %w", sm.Config, err)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return Image{}, fmt.Errorf("config %s: not valid JSON: %v: %w", sm.Config, err, cas.ErrInvalid)
	}
	if len(cfg.RootFS.DiffIDs) != len(sm.Layers) {
		return Image{}, fmt.Errorf("config %s lists %d diff IDs for %d layers: %w", sm.Config, len(cfg.RootFS.DiffIDs), len(sm.Layers), cas.ErrInvalid)
	}
	img := Image{Config: ocispec.Descriptor{Digest: digest.FromBytes(cfgData), Size: int64(len(cfgData))}}
	ociTypes := false
	for i, name := range sm.Layers {
		le, err := resolve(entries, name)
		if err != nil {
			return Image{}, fmt.Errorf("layer %d: %w", i+1, err)
		}
		kind, err := s.sniff(le)
		if err != nil {
			return Image{}, fmt.Errorf("layer %s: %w", name, err)
		}
		desc := ocispec.Descriptor{Size: le.size}
		switch kind {
		case "tar":
			// An uncompressed layer's digest is its diff ID; the copy
			// engine verifies it as it reads.
			desc.Digest = cfg.RootFS.DiffIDs[i]
		default:
			if desc.Digest, err = s.digestOf(name, le); err != nil {
				return Image{}, fmt.Errorf("layer %s: %w", name, err)
			}
			ociTypes = ociTypes || kind == "zstd"
		}
		if err := cas.ValidateDescriptor(desc); err != nil {
			return Image{}, fmt.Errorf("layer %s: %w", name, err)
		}
		desc.MediaType = kind // replaced below, once the manifest's flavour is known
		img.Layers = append(img.Layers, desc)
		s.blobs[desc.Digest] = blob{desc: desc, offset: le.offset}
	}
	manType := oci.MediaTypeDockerManifest
	img.Config.MediaType = oci.MediaTypeDockerConfig
	if ociTypes {
		manType = ocispec.MediaTypeImageManifest
		img.Config.MediaType = ocispec.MediaTypeImageConfig
	}
	for i := range img.Layers {
		img.Layers[i].MediaType = layerType(img.Layers[i].MediaType, ociTypes)
		b := s.blobs[img.Layers[i].Digest]
		b.desc.MediaType = img.Layers[i].MediaType
		s.blobs[img.Layers[i].Digest] = b
	}
	s.blobs[img.Config.Digest] = blob{desc: img.Config, offset: ce.offset}

	man := ocispec.Manifest{MediaType: manType, Config: img.Config, Layers: img.Layers}
	man.SchemaVersion = 2
	if man.Layers == nil {
		man.Layers = []ocispec.Descriptor{}
	}
	mb, err := json.Marshal(man)
	if err != nil {
		return Image{}, err
	}
	img.Manifest = ocispec.Descriptor{MediaType: manType, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	s.mans[img.Manifest.Digest] = mb

	for _, rt := range sm.RepoTags {
		ref, err := oci.ParseRegistryRef(rt)
		if err != nil {
			return Image{}, fmt.Errorf("RepoTag: %w", err)
		}
		full := ref.String()
		repo := ref.Registry + "/" + ref.Repository
		if s.tags[repo] == nil {
			s.tags[repo] = map[string]ocispec.Descriptor{}
		}
		s.tags[repo][ref.Tag] = img.Manifest
		if s.owned[repo] == nil {
			s.owned[repo] = map[digest.Digest]bool{}
		}
		maps.Copy(s.owned[repo], img.content())
		img.Names = append(img.Names, full)
	}
	return img, nil
}

// sniff tells an uncompressed tar from gzip and zstd by the first bytes.
func (s *Store) sniff(e entry) (string, error) {
	var magic [4]byte
	n, err := s.f.ReadAt(magic[:], e.offset)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == e.size) {
		return "", err
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return "gzip", nil
	case n >= 4 && bytes.Equal(magic[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd", nil
	}
	return "tar", nil
}

// digestOf returns a compressed layer's digest: its name when the tar is
// an OCI layout (the copy engine checks it when reading), else its hash.
func (s *Store) digestOf(name string, e entry) (digest.Digest, error) {
	if alg, hex, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && strings.HasPrefix(name, "blobs/") {
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if cas.ValidateDigest(d) == nil {
			return d, nil
		}
	}
	return digest.SHA256.FromReader(io.NewSectionReader(s.f, e.offset, e.size))
}

func layerType(kind string, ociTypes bool) string {
	switch {
	case ociTypes && kind == "gzip":
		return ocispec.MediaTypeImageLayerGzip
	case ociTypes && kind == "zstd":
		return ocispec.MediaTypeImageLayerZstd
	case ociTypes:
		return ocispec.MediaTypeImageLayer
	case kind == "gzip":
		return oci.MediaTypeDockerLayer
	}
	return MediaTypeDockerLayerTar
}

// Repository returns the repository name: a full repository name
// ("docker.io/library/nginx") or its short form ("nginx"). It serves the
// images tagged in that repository and nothing else: their manifests,
// configs and layers, by tag or digest. A valid name with no image serves
// nothing; an invalid one is an error wrapping cas.ErrInvalid.
func (s *Store) Repository(_ context.Context, name string) (cas.ReadOnlyTarget, error) {
	if err := oci.ValidateLayoutRepository(name); err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", s.path, err)
	}
	repo := name
	if _, ok := s.tags[name]; !ok {
		if ref, err := oci.ParseRegistryRef(name); err == nil {
			repo = ref.Registry + "/" + ref.Repository
		}
	}
	return &target{s: s, repo: repo, tags: s.tags[repo], owned: s.owned[repo]}, nil
}

// Target returns a target over img alone, tagged or not: its manifest,
// config and layers, by digest; the empty reference resolves to its
// manifest. It is how an image saved by ID, which is in no repository, is
// read.
func (s *Store) Target(img Image) cas.ReadOnlyTarget {
	return &target{s: s, owned: img.content(), root: &img.Manifest}
}

// content returns the digests img is made of.
func (img Image) content() map[digest.Digest]bool {
	owned := map[digest.Digest]bool{img.Manifest.Digest: true, img.Config.Digest: true}
	for _, l := range img.Layers {
		owned[l.Digest] = true
	}
	return owned
}

// Repositories implements cas.RepositoryLister.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	names := make([]string, 0, len(s.tags))
	for r := range s.tags {
		names = append(names, r)
	}
	return cas.ListPages(ctx, names, last, fn)
}

// target is one repository of the archive, or one image of it (Target).
// It serves only the content in owned: a tarball holding several
// repositories' images keeps them apart as a registry would.
type target struct {
	s     *Store
	repo  string                        // "" for Target
	tags  map[string]ocispec.Descriptor // nil for Target
	owned map[digest.Digest]bool
	root  *ocispec.Descriptor // what "" resolves to, for Target
}

// where names the target in errors.
func (t *target) where() string {
	if t.repo == "" {
		return t.s.path
	}
	return t.repo + " in " + t.s.path
}

func (t *target) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if !t.owned[desc.Digest] {
		return nil, fmt.Errorf("%s: not in %s: %w", desc.Digest, t.where(), cas.ErrNotFound)
	}
	if m, ok := t.s.mans[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(m)), nil
	}
	b := t.s.blobs[desc.Digest]
	return io.NopCloser(io.NewSectionReader(t.s.f, b.offset, b.desc.Size)), nil
}

func (t *target) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	return t.owned[desc.Digest], nil
}

func (t *target) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if reference == "" && t.root != nil {
		return *t.root, nil
	}
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		if err := cas.ValidateDigest(d); err != nil {
			return ocispec.Descriptor{}, err
		}
		if !t.owned[d] {
			return ocispec.Descriptor{}, fmt.Errorf("%s: not in %s: %w", d, t.where(), cas.ErrNotFound)
		}
		if m, ok := t.s.mans[d]; ok {
			return ocispec.Descriptor{MediaType: manifestType(m), Digest: d, Size: int64(len(m))}, nil
		}
		return t.s.blobs[d].desc, nil
	}
	if desc, ok := t.tags[reference]; ok {
		return desc, nil
	}
	if t.repo == "" {
		return ocispec.Descriptor{}, fmt.Errorf("tag %s: an image saved by ID has no tags: %w", reference, cas.ErrNotFound)
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s:%s: not in %s (it holds %s): %w", t.repo, reference, t.s.path, t.s.names(), cas.ErrNotFound)
}

// names lists the archive's images for error messages.
func (s *Store) names() string {
	var out []string
	for _, img := range s.images {
		out = append(out, img.Names...)
	}
	if len(out) == 0 {
		return "only untagged images"
	}
	return strings.Join(out, ", ")
}

func manifestType(m []byte) string {
	var v struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(m, &v)
	return v.MediaType
}

// Tags implements cas.TagLister.
func (t *target) Tags(ctx context.Context, last string, fn func([]string) error) error {
	names := make([]string, 0, len(t.tags))
	for tag := range t.tags {
		names = append(names, tag)
	}
	return cas.ListPages(ctx, names, last, fn)
}

// Interfaces the store and its targets implement.
var (
	_ cas.ReadOnlyStore    = (*Store)(nil)
	_ cas.RepositoryLister = (*Store)(nil)
	_ cas.ReadOnlyTarget   = (*target)(nil)
	_ cas.TagLister        = (*target)(nil)
)
