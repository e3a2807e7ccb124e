package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repo is one repository of a Store: its tags are the index.json entries
// named "<repository>:<tag>"; its content is the blobs linked to it. The
// bytes are the store's, kept once whatever the number of repositories
// that hold them, but a repository serves only what it holds.
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

// notHere is the error for content this repository does not hold, whether
// or not another repository does: which is none of its clients' business.
func (r *Repo) notHere(d digest.Digest) error {
	return fmt.Errorf("%s: not in repository %s: %w", d, r.name, cas.ErrNotFound)
}

// openBlob opens a blob this repository holds.
func (r *Repo) openBlob(d digest.Digest) (*os.File, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return nil, err
	}
	if !r.s.isLinked(r.name, d) {
		return nil, r.notHere(d)
	}
	return r.s.openBlob(d)
}

// statBlob returns the size of a blob this repository holds.
func (r *Repo) statBlob(d digest.Digest) (int64, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return 0, err
	}
	if !r.s.isLinked(r.name, d) {
		return 0, r.notHere(d)
	}
	return r.s.statBlob(d)
}

// Fetch implements cas.Fetcher. The reader is the blob file itself; the
// copy engine verifies what it reads, and Fsck finds damage at rest.
func (r *Repo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return r.openBlob(desc.Digest)
}

// FetchRange implements cas.RangeFetcher.
func (r *Repo) FetchRange(_ context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	f, err := r.openBlob(desc.Digest)
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

// Exists implements cas.Exister: the repository holds the blob and its
// file is in place (fsck may have quarantined it since).
func (r *Repo) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, err := r.statBlob(desc.Digest)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// Push implements cas.Pusher; see Store's package documentation for the
// durable commit. Content the store already holds for another repository
// is read and verified like new content (the bytes prove the client has
// it) and then linked here; its file is not written again. Cancelling ctx
// stops the copy within one buffer.
func (r *Repo) Push(ctx context.Context, expected ocispec.Descriptor, rd io.Reader) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return err
	}
	d := expected.Digest
	defer r.s.pin(d)() // the file found below stays until it is linked
	if ok, err := r.Exists(ctx, expected); err != nil {
		return err
	} else if ok {
		// Held already, perhaps as a plain blob: a push as a manifest
		// (the registry checked it first) makes it one.
		if err := r.s.link(r.name, d, expected.MediaType); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", d, cas.ErrExists)
	}
	if size, err := r.s.statBlob(d); err == nil && size == expected.Size {
		if err := cas.VerifyReader(rd, expected).Verify(); err != nil {
			return err
		}
	} else if err := r.s.push(ctx, expected, rd); err != nil && !errors.Is(err, cas.ErrExists) {
		return err
	}
	return r.s.link(r.name, d, expected.MediaType)
}

// Delete implements cas.Deleter: the content leaves this repository, with
// the tags that point at it, in one journal record; other repositories
// that hold it keep it, and the bytes stay for garbage collection.
func (r *Repo) Delete(_ context.Context, desc ocispec.Descriptor) error {
	d := desc.Digest
	if err := cas.ValidateDigest(d); err != nil {
		return err
	}
	return r.s.commit(record{Op: "unlink", Repo: r.name, Digest: d, Time: time.Now().Unix()}, func() error {
		if !r.s.linked(r.name, d) {
			return r.notHere(d)
		}
		return nil
	})
}

// Mount implements cas.Mounter: content that repository from holds is
// linked here, without moving its bytes.
func (r *Repo) Mount(_ context.Context, desc ocispec.Descriptor, from string) error {
	if err := oci.ValidateLayoutRepository(from); err != nil {
		return err
	}
	src := &Repo{s: r.s, name: from}
	if err := cas.ValidateDigest(desc.Digest); err != nil {
		return err
	}
	defer r.s.pin(desc.Digest)()
	if _, err := src.statBlob(desc.Digest); err != nil {
		return fmt.Errorf("mount from %s: %w", from, err)
	}
	return r.s.link(r.name, desc.Digest, "") // through the blob API: a blob
}

// Resolve implements cas.Resolver. A digest resolves to the blob's size and,
// when it entered this repository as a manifest, its media type: bytes
// that parse as a manifest but came through the blob API are not one.
func (r *Repo) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		size, err := r.statBlob(d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		r.s.mu.RLock()
		mt := r.s.manifestType(r.name, d)
		r.s.mu.RUnlock()
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
	}
	r.s.mu.RLock()
	desc, ok := r.s.tags.get(r.name, reference)
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
	size, err := r.statBlob(desc.Digest)
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	if size != desc.Size {
		return fmt.Errorf("tag %s:%s: %s is %d bytes, the descriptor says %d: %w", r.name, tag, desc.Digest, size, desc.Size, cas.ErrSizeMismatch)
	}
	entry := ocispec.Descriptor{
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
	// The entry's media type is the one the manifest entered with; content
	// that entered as a blob is not tagged.
	r.s.mu.RLock()
	held := r.s.linked(r.name, desc.Digest)
	entry.MediaType = r.s.manifestType(r.name, desc.Digest)
	r.s.mu.RUnlock()
	if !held {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, r.notHere(desc.Digest))
	}
	if entry.MediaType == "" {
		return fmt.Errorf("tag %s:%s: %s is in %s as a blob, not as a manifest: push it as a manifest first: %w", r.name, tag, desc.Digest, r.name, cas.ErrInvalid)
	}
	// The repository must still hold the content when the record is
	// written: a Delete racing this Tag either runs first (and the tag is
	// refused) or after (and removes the tag with the content).
	return r.s.commit(record{Op: "tag", Repo: r.name, Tag: tag, Desc: &entry}, func() error {
		if !r.s.linked(r.name, desc.Digest) {
			return fmt.Errorf("tag %s:%s: %w", r.name, tag, r.notHere(desc.Digest))
		}
		return nil
	})
}

// Untag implements cas.Untagger, through the journal like Tag.
func (r *Repo) Untag(_ context.Context, tag string) error {
	return r.s.commit(record{Op: "untag", Repo: r.name, Tag: tag}, func() error {
		if _, ok := r.s.tags.get(r.name, tag); !ok {
			return fmt.Errorf("%s:%s: %w", r.name, tag, cas.ErrNotFound)
		}
		return nil
	})
}

// Tags implements cas.TagLister. A page costs its size, not the number of
// tags.
func (r *Repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	return r.s.pages(ctx, last, fn, func(last string, page []string) []string {
		r.s.tags.repoTags(r.name, last, func(e *tagEntry) bool {
			page = append(page, e.tag)
			return len(page) < listPage
		})
		return page
	})
}
