package disk

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repo is one repository of a Store: its tags are the index.json entries
// named "<repository>:<tag>"; its content is the store's blobs, shared with
// every other repository.
type Repo struct {
	s    *Store
	name string
}

var (
	_ cas.Target           = (*Repo)(nil)
	_ cas.Deleter          = (*Repo)(nil)
	_ cas.Untagger         = (*Repo)(nil)
	_ cas.TagLister        = (*Repo)(nil)
	_ cas.RangeFetcher     = (*Repo)(nil)
	_ cas.Mounter          = (*Repo)(nil)
	_ cas.Store            = (*Store)(nil)
	_ cas.RepositoryLister = (*Store)(nil)
)

// Name returns the repository's name.
func (r *Repo) Name() string { return r.name }

// Fetch implements cas.Fetcher. The reader is the blob file itself; the
// copy engine verifies what it reads, and Fsck finds damage at rest.
func (r *Repo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return r.s.openBlob(desc.Digest)
}

// FetchRange implements cas.RangeFetcher.
func (r *Repo) FetchRange(_ context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	f, err := r.s.openBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", desc.Digest, err)
	}
	size := fi.Size()
	if offset < 0 || offset > size {
		f.Close()
		return nil, fmt.Errorf("%s: offset %d outside 0..%d: %w", desc.Digest, offset, size, cas.ErrInvalid)
	}
	n := size - offset
	if length >= 0 && length < n {
		n = length
	}
	return sectionReadCloser{io.NewSectionReader(f, offset, n), f}, nil
}

// Exists implements cas.Exister. Only complete blobs are ever in place, so
// presence of the file is enough.
func (r *Repo) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := cas.ValidateDigest(desc.Digest); err != nil {
		return false, err
	}
	_, err := r.s.statBlob(desc.Digest)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// Push implements cas.Pusher; see Store's package documentation for the
// durable commit. Cancelling ctx stops the copy within one buffer.
func (r *Repo) Push(ctx context.Context, expected ocispec.Descriptor, rd io.Reader) error {
	return r.s.push(ctx, expected, rd)
}

// Delete implements cas.Deleter. It removes the blob (unlink, directory
// fsync) and leaves tags alone: a tag of deleted content is damage that
// Fsck reports. The blob file is its own record, so Delete needs no
// journal entry, and a journaled delete replayed after a new push of the
// same digest would wrongly remove it.
func (r *Repo) Delete(_ context.Context, desc ocispec.Descriptor) error {
	return r.s.deleteBlob(desc.Digest)
}

// Mount implements cas.Mounter. Blobs are shared by the whole store, so a
// mount only checks that the content is there.
func (r *Repo) Mount(_ context.Context, desc ocispec.Descriptor, from string) error {
	if err := oci.ValidateLayoutRepository(from); err != nil {
		return err
	}
	if _, err := r.s.statBlob(desc.Digest); err != nil {
		return fmt.Errorf("mount from %s: %w", from, err)
	}
	return nil
}

// Resolve implements cas.Resolver. A digest resolves to the blob's size and,
// when the blob is a manifest, its media type.
func (r *Repo) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		size, err := r.s.statBlob(d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return ocispec.Descriptor{MediaType: r.s.mediaType(d, size), Digest: d, Size: size}, nil
	}
	r.s.mu.RLock()
	desc, ok := r.s.tags[r.name][reference]
	r.s.mu.RUnlock()
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r.name, reference, cas.ErrNotFound)
	}
	return plain(desc), nil
}

// plain returns the descriptor an index.json entry stands for, without the
// ref.name annotation that only names the entry.
func plain(d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := d.Annotations[ocispec.AnnotationRefName]; ok {
		a := make(map[string]string, len(d.Annotations))
		for k, v := range d.Annotations {
			if k != ocispec.AnnotationRefName {
				a[k] = v
			}
		}
		if len(a) == 0 {
			a = nil
		}
		d.Annotations = a
	}
	return d
}

// Tag implements cas.Tagger. The change is in the fsync'd journal when Tag
// returns; index.json follows at the next flush.
func (r *Repo) Tag(_ context.Context, desc ocispec.Descriptor, tag string) error {
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	size, err := r.s.statBlob(desc.Digest)
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	if size != desc.Size {
		return fmt.Errorf("tag %s:%s: %s is %d bytes, the descriptor says %d: %w", r.name, tag, desc.Digest, size, desc.Size, cas.ErrSizeMismatch)
	}
	entry := ocispec.Descriptor{
		MediaType:    desc.MediaType,
		Digest:       desc.Digest,
		Size:         desc.Size,
		ArtifactType: desc.ArtifactType,
		Platform:     desc.Platform,
		Annotations:  map[string]string{ocispec.AnnotationRefName: r.name + ":" + tag},
	}
	for k, v := range desc.Annotations {
		if k != ocispec.AnnotationRefName {
			entry.Annotations[k] = v
		}
	}
	if entry.MediaType == "" {
		entry.MediaType = r.s.mediaType(desc.Digest, size)
		if entry.MediaType == "" {
			return fmt.Errorf("tag %s:%s: %s has no media type and is not a manifest: %w", r.name, tag, desc.Digest, cas.ErrInvalid)
		}
	}
	return r.s.commit(record{Op: "tag", Repo: r.name, Tag: tag, Desc: &entry}, nil)
}

// Untag implements cas.Untagger, through the journal like Tag.
func (r *Repo) Untag(_ context.Context, tag string) error {
	return r.s.commit(record{Op: "untag", Repo: r.name, Tag: tag}, func() error {
		if _, ok := r.s.tags[r.name][tag]; !ok {
			return fmt.Errorf("%s:%s: %w", r.name, tag, cas.ErrNotFound)
		}
		return nil
	})
}

// Tags implements cas.TagLister.
func (r *Repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	r.s.mu.RLock()
	tags := make([]string, 0, len(r.s.tags[r.name]))
	for t := range r.s.tags[r.name] {
		tags = append(tags, t)
	}
	r.s.mu.RUnlock()
	return cas.ListPages(ctx, tags, last, fn)
}
