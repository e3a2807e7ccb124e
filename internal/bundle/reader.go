package bundle

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Reader reads a bundle in place: blobs are served straight from the tar
// files through io.SectionReader, never unpacked. It is safe for concurrent
// use. Open it with Open; Close releases the files.
type Reader struct {
	m       Manifest
	vols    []*openVolume // by number-1; nil when missing
	blobs   map[digest.Digest]BlobEntry
	leftOut map[digest.Digest]BlobEntry
	users   map[digest.Digest][]string        // blob -> images that need it
	owned   map[string]map[digest.Digest]bool // repository -> blobs its images need
}

// openVolume is one volume file given to Open.
type openVolume struct {
	path      string
	f         *os.File
	size      int64
	entries   map[string]tarEntry // by name in the tar
	truncated string              // why the volume is cut short, if it is
}

type tarEntry struct{ offset, size int64 }

// MissingVolume is a volume of the bundle that was not given to Open.
type MissingVolume struct {
	// Volume is the missing volume's entry (its number and file name).
	Volume VolumeEntry `json:"volume"`
	// Images names the images that need a blob it holds: they cannot be
	// read or pushed whole without it.
	Images []string `json:"images"`
}

// Open opens a bundle: one file, or the volumes of a split bundle in any
// order. Volumes not given are reported by Missing (naming the images they
// cost) and the rest stays readable; a file that is not a volume of the same
// bundle, or whose gantry-bundle.json is damaged, fails Open. Open reads the
// tar headers only; a volume cut short is opened and its lost blobs are
// reported by Verify.
func Open(paths ...string) (*Reader, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("bundle: no file given: %w", cas.ErrInvalid)
	}
	r := &Reader{}
	ok := false
	var opened []*openVolume
	defer func() {
		if !ok {
			for _, v := range opened {
				v.f.Close()
			}
		}
	}()
	for _, p := range paths {
		v, m, err := openVolumeFile(p)
		if err != nil {
			return nil, err
		}
		opened = append(opened, v)
		if r.vols == nil {
			r.m = *m
			r.vols = make([]*openVolume, len(m.Volumes))
		} else if m.ID != r.m.ID {
			return nil, fmt.Errorf("bundle %s: volume %d of bundle %s, but %s is from bundle %s: give the volumes of one bundle: %w",
				p, m.Volume, shortID(m.ID), opened[0].path, shortID(r.m.ID), cas.ErrInvalid)
		}
		if prev := r.vols[m.Volume-1]; prev != nil {
			return nil, fmt.Errorf("bundle %s: volume %d given twice (also %s): %w", p, m.Volume, prev.path, cas.ErrInvalid)
		}
		r.vols[m.Volume-1] = v
	}
	r.blobs = map[digest.Digest]BlobEntry{}
	for _, b := range r.m.Blobs {
		r.blobs[b.Digest] = b
	}
	r.leftOut = map[digest.Digest]BlobEntry{}
	if r.m.Base != nil {
		for _, b := range r.m.Base.LeftOut {
			r.leftOut[b.Digest] = b
		}
	}
	r.users = map[digest.Digest][]string{}
	r.owned = map[string]map[digest.Digest]bool{}
	for _, img := range r.m.Images {
		owned := r.owned[img.Repository()]
		if owned == nil {
			owned = map[digest.Digest]bool{}
			r.owned[img.Repository()] = owned
		}
		for _, d := range img.Blobs {
			r.users[d] = append(r.users[d], img.Name)
			owned[d] = true
		}
	}
	ok = true
	return r, nil
}

func shortID(d digest.Digest) string {
	if s := d.String(); len(s) > 19 {
		return s[:19]
	}
	return d.String()
}

// countingReader tracks the offset in the file as archive/tar reads it, so
// each entry's data offset is known without buffering.
type countingReader struct {
	f   *os.File
	off int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.f.ReadAt(p, c.off)
	c.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (c *countingReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		c.off += offset
	case io.SeekStart:
		c.off = offset
	default:
		return 0, errors.New("seek from end not supported")
	}
	return c.off, nil
}

// openVolumeFile indexes one volume's tar entries and reads its manifest.
func openVolumeFile(path string) (*openVolume, *Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: %w", err)
	}
	v, m, err := indexVolume(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return v, m, nil
}

func indexVolume(f *os.File, path string) (*openVolume, *Manifest, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	v := &openVolume{path: path, f: f, size: st.Size(), entries: map[string]tarEntry{}}
	cr := &countingReader{f: f}
	tr := tar.NewReader(cr)
	var m *Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			if !endMarker(f, cr.off, v.size) {
				v.truncated = fmt.Sprintf("the file ends at byte %d without the tar end-of-archive marker", v.size)
			}
			break
		}
		if err != nil {
			v.truncated = fmt.Sprintf("the tar breaks off after byte %d of %d (%v)", cr.off, v.size, err)
			break
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		e := tarEntry{offset: cr.off, size: h.Size}
		if e.offset+e.size > v.size {
			v.truncated = fmt.Sprintf("the file is %d bytes but its entry %s ends at byte %d", v.size, name, e.offset+e.size)
			break
		}
		v.entries[name] = e
		if name == ManifestName {
			if h.Size > MaxManifestSize {
				return nil, nil, fmt.Errorf("bundle %s: %s is %d bytes, over the %d-byte limit: the file is damaged or not a gantry bundle: %w", path, ManifestName, h.Size, MaxManifestSize, cas.ErrInvalid)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, fmt.Errorf("bundle %s: reading %s: %v: %w", path, ManifestName, err, cas.ErrInvalid)
			}
			if m, err = parseManifest(data); err != nil {
				return nil, nil, fmt.Errorf("bundle %s: %w (the file is damaged: copy it again from the original)", path, err)
			}
		}
	}
	if m == nil {
		if v.truncated != "" {
			return nil, nil, fmt.Errorf("bundle %s: no %s: %s; the file is truncated or not a bundle: copy it again: %w", path, ManifestName, v.truncated, cas.ErrInvalid)
		}
		return nil, nil, fmt.Errorf("bundle %s: no %s: not a gantry bundle (an OCI archive made by another tool? gantry copy reads OCI layouts): %w", path, ManifestName, cas.ErrInvalid)
	}
	return v, m, nil
}

// Manifest returns the bundle's manifest (Volume is that of the first file
// given to Open).
func (r *Reader) Manifest() Manifest { return r.m }

// Images returns the bundle's images.
func (r *Reader) Images() []ImageEntry { return r.m.Images }

// Missing lists the volumes of the bundle that were not given to Open, with
// the images each costs; nil when every volume is there.
func (r *Reader) Missing() []MissingVolume {
	var out []MissingVolume
	for i, v := range r.vols {
		if v != nil {
			continue
		}
		mv := MissingVolume{Volume: r.m.Volumes[i]}
		for _, img := range r.m.Images {
			for _, d := range img.Blobs {
				if b, ok := r.blobs[d]; ok && b.Volume == i+1 {
					mv.Images = append(mv.Images, img.Name)
					break
				}
			}
		}
		out = append(out, mv)
	}
	return out
}

// Close closes the files.
func (r *Reader) Close() error {
	var errs []error
	for _, v := range r.vols {
		if v != nil && v.f != nil {
			errs = append(errs, v.f.Close())
			v.f = nil
		}
	}
	return errors.Join(errs...)
}

// section returns the bytes of blob d, or an error naming why they are not
// there.
func (r *Reader) section(d digest.Digest) (*io.SectionReader, BlobEntry, error) {
	b, ok := r.blobs[d]
	if !ok {
		if _, lo := r.leftOut[d]; lo {
			return nil, b, fmt.Errorf("%s: left out of this incremental bundle (the target is expected to have it): %w", d, cas.ErrNotFound)
		}
		return nil, b, fmt.Errorf("%s: %w", d, cas.ErrNotFound)
	}
	v := r.vols[b.Volume-1]
	if v == nil {
		return nil, b, fmt.Errorf("%s: in volume %d (%s), which was not given: %w", d, b.Volume, r.m.Volumes[b.Volume-1].Name, cas.ErrNotFound)
	}
	e, ok := v.entries[blobPath(d)]
	if !ok {
		why := "which lacks it"
		if v.truncated != "" {
			why = "which is truncated: " + v.truncated
		}
		return nil, b, fmt.Errorf("%s: not in volume %s, %s: %w", d, v.path, why, cas.ErrNotFound)
	}
	if e.size != b.Size {
		return nil, b, fmt.Errorf("%s: %d bytes in volume %s, the manifest says %d: %w", d, e.size, v.path, b.Size, cas.ErrSizeMismatch)
	}
	return io.NewSectionReader(v.f, e.offset, e.size), b, nil
}

// Repository returns a read-only target over the repository name (an image
// name without tag or digest, e.g. "registry.example.com/team/app"): its
// tags are those of the bundle's images in that repository, and it serves
// the blobs those images need and nothing else, as the registry the images
// came from would. An unknown name is not an error: its target holds
// nothing.
func (r *Reader) Repository(_ context.Context, name string) (cas.ReadOnlyTarget, error) {
	if err := oci.ValidateLayoutRepository(name); err != nil {
		return nil, err
	}
	return &repo{r: r, name: name, owned: r.owned[name]}, nil
}

// Repositories implements cas.RepositoryLister over the bundle's images.
func (r *Reader) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	var names []string
	for _, img := range r.m.Images {
		if n := img.Repository(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return cas.ListPages(ctx, names, last, fn)
}

// repo is one repository of a bundle.
type repo struct {
	r     *Reader
	name  string
	owned map[digest.Digest]bool // what its images need; nil for an unknown name
}

var (
	_ cas.ReadOnlyStore    = (*Reader)(nil)
	_ cas.ReadOnlyTarget   = (*repo)(nil)
	_ cas.TagLister        = (*repo)(nil)
	_ cas.RangeFetcher     = (*repo)(nil)
	_ cas.RepositoryLister = (*Reader)(nil)
)

// section returns the bytes of d when this repository's images need it.
func (t *repo) section(d digest.Digest) (*io.SectionReader, BlobEntry, error) {
	if !t.owned[d] {
		return nil, BlobEntry{}, fmt.Errorf("%s: no image of %s in this bundle needs it: %w", d, t.name, cas.ErrNotFound)
	}
	return t.r.section(d)
}

// Fetch implements cas.Fetcher: the raw bytes from the tar, which the
// caller verifies (the copy engine does).
func (t *repo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	s, _, err := t.section(desc.Digest)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(s), nil
}

// FetchRange implements cas.RangeFetcher.
func (t *repo) FetchRange(_ context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	s, b, err := t.section(desc.Digest)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > b.Size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d: %w", desc.Digest, offset, b.Size, cas.ErrInvalid)
	}
	if length < 0 || offset+length > b.Size {
		length = b.Size - offset
	}
	return io.NopCloser(io.NewSectionReader(s, offset, length)), nil
}

// Exists implements cas.Exister: present when an image of this repository
// needs the blob and the bundle holds it in a volume given to Open.
func (t *repo) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, _, err := t.section(desc.Digest)
	return err == nil, nil
}

// Resolve implements cas.Resolver: a tag of this repository's images, or
// the digest of a blob they need.
func (t *repo) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		if err := cas.ValidateDigest(d); err != nil {
			return ocispec.Descriptor{}, err
		}
		if !t.owned[d] {
			return ocispec.Descriptor{}, fmt.Errorf("%s@%s: %w", t.name, d, cas.ErrNotFound)
		}
		for _, img := range t.r.m.Images {
			if img.Digest == d {
				return ocispec.Descriptor{MediaType: img.MediaType, Digest: d, Size: img.Size}, nil
			}
		}
		b, ok := t.r.blobs[d]
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%s@%s: left out of this bundle: %w", t.name, d, cas.ErrNotFound)
		}
		return b.desc(), nil
	}
	for _, img := range t.r.m.Images {
		if img.Repository() == t.name && img.Tag() == reference {
			return ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", t.name, reference, cas.ErrNotFound)
}

// Tags implements cas.TagLister.
func (t *repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	var tags []string
	for _, img := range t.r.m.Images {
		if img.Repository() == t.name && img.Tag() != "" {
			tags = append(tags, img.Tag())
		}
	}
	return cas.ListPages(ctx, tags, last, fn)
}

// endMarker reports whether the tar that archive/tar read to io.EOF at off
// ended with its two zero blocks, rather than with the file.
func endMarker(f *os.File, off, size int64) bool {
	if off > size || off < 1024 {
		return false
	}
	var blk [1024]byte
	if _, err := f.ReadAt(blk[:], off-1024); err != nil {
		return false
	}
	return blk == [1024]byte{}
}
