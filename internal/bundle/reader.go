package bundle

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Reader reads a bundle in place: blobs are served straight from the tar
// files through io.SectionReader, never unpacked. It is safe for concurrent
// use. Open it with Open; Close releases the files.
//
// Every blob is checked against its digest before its last byte leaves
// Fetch (see checkedReader), and the verdict is kept: a blob found damaged
// is refused from then on, and one found sound is served without hashing
// again. Verify records its verdicts the same way.
type Reader struct {
	m       Manifest
	vols    []*openVolume // by number-1; nil when missing
	blobs   map[digest.Digest]BlobEntry
	leftOut map[digest.Digest]BlobEntry
	users   map[digest.Digest][]string        // blob -> images that need it
	owned   map[string]map[digest.Digest]bool // repository -> blobs its images need
	// tags and roots index the images, so that a request costs a map
	// look-up however many images the manifest lists.
	tags  map[string]map[string]ImageEntry // repository -> tag -> image
	roots map[digest.Digest]ImageEntry     // root digest -> first image with it
	repos []string                         // repositories, in the manifest's order
	// referrers indexes the referrer entries: repository -> subject ->
	// entries.
	referrers map[string]map[digest.Digest][]ImageEntry

	mu      sync.RWMutex
	checked map[digest.Digest]error // nil: verified; else why it is damaged
}

// blobState is what is known of a blob's bytes.
type blobState uint8

const (
	unverified blobState = iota // not read whole yet
	verified                    // read whole, and they match the digest
	damaged                     // they do not match; refused from then on
)

func (s blobState) String() string {
	return [...]string{"unverified", "verified", "damaged"}[s]
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
	r.tags = map[string]map[string]ImageEntry{}
	r.roots = map[digest.Digest]ImageEntry{}
	r.checked = map[digest.Digest]error{}
	for _, img := range r.m.Images {
		repo := img.Repository()
		owned := r.owned[repo]
		if owned == nil {
			owned = map[digest.Digest]bool{}
			r.owned[repo] = owned
			r.tags[repo] = map[string]ImageEntry{}
			r.repos = append(r.repos, repo)
		}
		for _, d := range img.Blobs {
			r.users[d] = append(r.users[d], img.Name)
			owned[d] = true
		}
		if tag := img.Tag(); tag != "" {
			if _, dup := r.tags[repo][tag]; !dup {
				r.tags[repo][tag] = img
			}
		}
		if _, dup := r.roots[img.Digest]; !dup {
			r.roots[img.Digest] = img
		}
		if img.IsReferrer() {
			if r.referrers == nil {
				r.referrers = map[string]map[digest.Digest][]ImageEntry{}
			}
			if r.referrers[repo] == nil {
				r.referrers[repo] = map[digest.Digest][]ImageEntry{}
			}
			r.referrers[repo][img.Subject] = append(r.referrers[repo][img.Subject], img)
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

func indexVolume(f *os.File, file string) (*openVolume, *Manifest, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", file, err)
	}
	v := &openVolume{path: file, f: f, size: st.Size(), entries: map[string]tarEntry{}}
	// others holds the names of entries that are neither regular files nor
	// directories (links, devices): they are not indexed, but a second
	// entry of their name is still a duplicate.
	others := map[string]bool{}
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
		if h.Typeflag == tar.TypeDir {
			continue
		}
		// The name as extracting the tar would create it: "./a", "a" and
		// "b/../a" are one file.
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if _, dup := v.entries[name]; dup || others[name] {
			// Which copy counts is up to the reader (archive/tar keeps
			// reading, tar -x overwrites, others stop at the first), so
			// a corrupt copy shadowed by a good one, or the reverse, would
			// check out here and be used elsewhere.
			return nil, nil, fmt.Errorf("bundle %s: the tar holds the entry %s twice: readers disagree on which copy counts, so the file is refused: copy it again from the original, or make the bundle again: %w", file, name, cas.ErrInvalid)
		}
		if h.Typeflag != tar.TypeReg {
			others[name] = true
			continue
		}
		e := tarEntry{offset: cr.off, size: h.Size}
		if e.offset+e.size > v.size {
			v.truncated = fmt.Sprintf("the file is %d bytes but its entry %s ends at byte %d", v.size, name, e.offset+e.size)
			break
		}
		v.entries[name] = e
		if name == ManifestName {
			if h.Size > MaxManifestSize {
				return nil, nil, fmt.Errorf("bundle %s: %s is %d bytes, over the %d-byte limit: the file is damaged or not a gantry bundle: %w", file, ManifestName, h.Size, MaxManifestSize, cas.ErrInvalid)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, fmt.Errorf("bundle %s: reading %s: %v: %w", file, ManifestName, err, cas.ErrInvalid)
			}
			if m, err = parseManifest(data); err != nil {
				return nil, nil, fmt.Errorf("bundle %s: %w (the file is damaged: copy it again from the original)", file, err)
			}
		}
	}
	if m == nil {
		if v.truncated != "" {
			return nil, nil, fmt.Errorf("bundle %s: no %s: %s; the file is truncated or not a bundle: copy it again: %w", file, ManifestName, v.truncated, cas.ErrInvalid)
		}
		return nil, nil, fmt.Errorf("bundle %s: no %s: not a gantry bundle (an OCI archive made by another tool? gantry copy reads OCI layouts): %w", file, ManifestName, cas.ErrInvalid)
	}
	return v, m, nil
}

// Manifest returns the bundle's manifest (Volume is that of the first file
// given to Open).
func (r *Reader) Manifest() Manifest { return r.m }

// Files returns, by volume number-1, the path each volume was opened from,
// "" for a volume not given.
func (r *Reader) Files() []string {
	out := make([]string, len(r.vols))
	for i, v := range r.vols {
		if v != nil {
			out[i] = v.path
		}
	}
	return out
}

// Images returns the bundle's images.
func (r *Reader) Images() []ImageEntry { return r.m.Images }

// Missing lists the volumes of the bundle that were not given to Open, with
// the images each costs; nil when every volume is there.
func (r *Reader) Missing() []MissingVolume {
	// One pass over what the images need, not one per missing volume: a
	// manifest may list tens of thousands of volumes.
	costs := map[int][]string{} // missing volume number -> images
	for _, img := range r.m.Images {
		for _, d := range img.Blobs {
			b, ok := r.blobs[d]
			if !ok || r.vols[b.Volume-1] != nil {
				continue
			}
			// Each image once per volume: it is the last one added when
			// it was added already.
			if imgs := costs[b.Volume]; len(imgs) == 0 || imgs[len(imgs)-1] != img.Name {
				costs[b.Volume] = append(imgs, img.Name)
			}
		}
	}
	var out []MissingVolume
	for i, v := range r.vols {
		if v == nil {
			out = append(out, MissingVolume{Volume: r.m.Volumes[i], Images: costs[i+1]})
		}
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
// there or that they were found damaged.
func (r *Reader) section(d digest.Digest) (*io.SectionReader, BlobEntry, error) {
	if err := r.damage(d); err != nil {
		return nil, BlobEntry{}, err
	}
	return r.rawSection(d)
}

// rawSection is section without the verdict: what Verify re-hashes.
func (r *Reader) rawSection(d digest.Digest) (*io.SectionReader, BlobEntry, error) {
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
	return cas.ListPages(ctx, r.repos, last, fn)
}

// HasRepository reports whether name is the repository of one of the
// bundle's images.
func (r *Reader) HasRepository(name string) bool {
	_, ok := r.tags[name]
	return ok
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
	_ cas.ReferrerLister   = (*repo)(nil)
)

// Referrers implements cas.ReferrerLister: the referrers the bundle
// carries in this repository whose manifest names subject as its subject
// (cosign's tag-scheme signatures have none: they are found by their tag),
// so that gantry serve --bundle answers the referrers API as the source
// did. A referrer whose manifest is damaged is not listed.
func (t *repo) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	seen := map[digest.Digest]bool{}
	for _, e := range t.r.referrers[t.name][subject] {
		if seen[e.Digest] || !t.owned[e.Digest] {
			continue
		}
		seen[e.Digest] = true
		data, err := t.r.readBlob(ctx, e.Digest, oci.MaxManifestSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		desc := ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}
		m, err := oci.ParseManifest(desc, data)
		if err != nil || m.Subject == nil || m.Subject.Digest != subject {
			continue
		}
		desc.MediaType = m.MediaType
		out = append(out, oci.ReferrerDescriptor(desc, m))
	}
	return out, nil
}

// section returns the bytes of d when this repository's images need it.
func (t *repo) section(d digest.Digest) (*io.SectionReader, BlobEntry, error) {
	if !t.owned[d] {
		return nil, BlobEntry{}, fmt.Errorf("%s: no image of %s in this bundle needs it: %w", d, t.name, cas.ErrNotFound)
	}
	return t.r.section(d)
}

// Fetch implements cas.Fetcher: the bytes from the tar. A blob not yet
// verified is hashed as it is read, and the read that would return its
// last byte fails instead when the hash does not match (checkedReader): a
// server that streams Fetch to a client never completes a wrong blob. A
// verified blob is read straight from the tar.
func (t *repo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	s, b, err := t.section(desc.Digest)
	if err != nil {
		return nil, err
	}
	if t.r.verdict(b.Digest) == verified {
		return io.NopCloser(s), nil
	}
	return &checkedReader{r: t.r, b: b, s: s, h: b.Digest.Algorithm().Hash()}, nil
}

// FetchRange implements cas.RangeFetcher. A range of a blob not yet
// verified is served only once the whole blob has been hashed: a range
// may end at the last byte, and none is sent before the digest checks
// out. Once verified, ranges cost only their own bytes.
func (t *repo) FetchRange(ctx context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	s, b, err := t.section(desc.Digest)
	if err != nil {
		return nil, err
	}
	if t.r.verdict(b.Digest) != verified {
		c := &checkedReader{r: t.r, b: b, s: io.NewSectionReader(s, 0, b.Size), h: b.Digest.Algorithm().Hash()}
		if _, err := io.Copy(io.Discard, &ctxReader{ctx: ctx, r: c}); err != nil {
			return nil, err
		}
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
		if err := t.r.damage(d); err != nil {
			return ocispec.Descriptor{}, err
		}
		if img, ok := t.r.roots[d]; ok {
			return ocispec.Descriptor{MediaType: img.MediaType, Digest: d, Size: img.Size}, nil
		}
		b, ok := t.r.blobs[d]
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%s@%s: left out of this bundle: %w", t.name, d, cas.ErrNotFound)
		}
		return b.desc(), nil
	}
	if img, ok := t.r.tags[t.name][reference]; ok {
		return ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", t.name, reference, cas.ErrNotFound)
}

// Tags implements cas.TagLister.
func (t *repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	tags := make([]string, 0, len(t.r.tags[t.name]))
	for tag := range t.r.tags[t.name] {
		tags = append(tags, tag)
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

// verdict returns what is known of d's bytes.
func (r *Reader) verdict(d digest.Digest) blobState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	err, ok := r.checked[d]
	switch {
	case !ok:
		return unverified
	case err != nil:
		return damaged
	}
	return verified
}

// damage returns why d was found damaged, or nil.
func (r *Reader) damage(d digest.Digest) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.checked[d]
}

// record keeps the verdict on d: nil for bytes that matched, else why they
// did not. Damage is never forgotten: bytes that once failed their digest
// are not trusted again because another read happened to match.
func (r *Reader) record(d digest.Digest, damage error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.checked[d]; ok && prev != nil {
		return
	}
	r.checked[d] = damage
}

// checkedReader reads a blob not yet verified, hashing it as it goes. The
// read that reaches the blob's last byte returns it only when the whole
// blob matches its digest; otherwise it returns no bytes and an error
// wrapping cas.ErrDigestMismatch, and the blob is recorded as damaged. So
// whoever streams it (the registry's blob GET) never sends a wrong blob
// whole: the client sees the body break off. cas.VerifyReader cannot do
// this: it reports a mismatch after the last byte, at io.EOF.
type checkedReader struct {
	r   *Reader
	b   BlobEntry
	s   *io.SectionReader
	h   hash.Hash
	n   int64
	err error // sticky; io.EOF once verified
}

// Read implements io.Reader.
func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if rest := c.b.Size - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.s.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n == c.b.Size {
		if got := digest.NewDigestFromBytes(c.b.Digest.Algorithm(), c.h.Sum(nil)); got != c.b.Digest {
			c.err = fmt.Errorf("%s: the bundle's copy hashes to %s: the bundle is damaged: copy it again from the original: %w", c.b.Digest, got, cas.ErrDigestMismatch)
			c.r.record(c.b.Digest, c.err)
			return 0, c.err
		}
		c.r.record(c.b.Digest, nil)
		c.err = io.EOF
		return n, nil
	}
	if err == io.EOF {
		// rawSection checked the entry's size, so the section is cut
		// short only when the file shrank under the reader.
		c.err = fmt.Errorf("%s: the bundle's copy ends after %d of %d bytes: the file changed while served: %w", c.b.Digest, c.n, c.b.Size, cas.ErrSizeMismatch)
		c.r.record(c.b.Digest, c.err)
		return 0, c.err
	}
	return n, err
}

// Close implements io.Closer; the volume file stays open for other reads.
func (c *checkedReader) Close() error { return nil }

// SiteRepositories maps the repository of each of the bundle's images to
// its repository at a site, by oci.SiteRepository: the one rule bundle
// load, bundle push and gantry serve --bundle follow. Two repositories
// that would meet in one site repository ("a.example.com/team/app" and
// "b.example.com/team/app" without keepHost) are an error naming both,
// since their tags would overwrite each other; keepHost keeps them apart.
// Errors wrap cas.ErrInvalid.
func (r *Reader) SiteRepositories(keepHost bool) (map[string]string, error) {
	site := make(map[string]string, len(r.repos))
	from := make(map[string]string, len(r.repos))
	for _, repo := range r.repos {
		s, err := oci.SiteRepository(repo, keepHost)
		if err != nil {
			return nil, err
		}
		if prev, ok := from[s]; ok {
			hint := "use --keep-registry-host to keep the registry hosts in the names"
			if keepHost {
				hint = "bundle them separately"
			}
			return nil, fmt.Errorf("repositories %s and %s would both be %s at the site (%s): %w", prev, repo, s, hint, cas.ErrInvalid)
		}
		from[s] = repo
		site[repo] = s
	}
	return site, nil
}
