package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repo is one repository of a Store. Its methods are safe for concurrent
// use.
type Repo struct {
	s    *Store
	name string

	// seen is the link that Resolve of a digest read last, which Fetch,
	// FetchRange and BlobURL of the same digest take instead of reading it
	// again within seenFor: a registry resolves a blob and then fetches it
	// through one Repo, and the second read would cost a request to the
	// bucket for nothing. A Delete through this Repo forgets it.
	mu   sync.Mutex
	seen seenLink
}

// seenLink is a link read at a time.
type seenLink struct {
	d  digest.Digest
	l  link
	at time.Time
}

// seenFor is how long a link Resolve read stands in for a Fetch's own
// read: the time between the two calls of one registry request. A Delete
// through another replica in that time is missed as it would be between a
// Fetch's link read and its blob read.
const seenFor = time.Second

// linkForRead returns the link of d for a read of the bytes: the one
// Resolve saw just now, else a fresh one.
func (r *Repo) linkForRead(ctx context.Context, d digest.Digest) (link, error) {
	r.mu.Lock()
	seen := r.seen
	r.mu.Unlock()
	if seen.d == d && d != "" && time.Since(seen.at) < seenFor {
		return seen.l, nil
	}
	return r.getLink(ctx, d)
}

var (
	_ cas.Target        = (*Repo)(nil)
	_ cas.Deleter       = (*Repo)(nil)
	_ cas.Untagger      = (*Repo)(nil)
	_ cas.TagLister     = (*Repo)(nil)
	_ cas.RangeFetcher  = (*Repo)(nil)
	_ cas.Mounter       = (*Repo)(nil)
	_ cas.Ingester      = (*Repo)(nil)
	_ cas.ReferrerIndex = (*Repo)(nil)
	_ cas.BlobLocator   = (*Repo)(nil)

	_ cas.HolderLister = (*Store)(nil)
)

// link is the record that a repository holds a blob: the object
// repositories/<name>/_links/<alg>/<hex>. It is what garbage collection
// reads to tell which blobs are held, by whom and since when.
type link struct {
	// Since is when the repository took the blob (Unix seconds).
	Since int64 `json:"since"`
	// Size is the blob's size, so Resolve and Exists need no second request.
	Size int64 `json:"size"`
	// MediaType is the manifest media type the blob entered the repository
	// with, "" for a blob that entered through the blob API. Only content
	// that entered as a manifest is served as one.
	MediaType string `json:"mediaType,omitempty"`
}

// tagList is a repository's tags: the object repositories/<name>/_tags.json,
// changed only by compare-and-swap.
type tagList struct {
	Tags map[string]ocispec.Descriptor `json:"tags"`
}

// emptyTags is the encoding of a tag list with no tag: Repositories tells
// an empty list by its size.
const emptyTags = `{"tags":{}}`

// referrerList is the referrers of one subject in one repository, in the
// order they were added.
type referrerList struct {
	Referrers []ocispec.Descriptor `json:"referrers"`
}

// getLink returns the link of d in this repository, or an error wrapping
// cas.ErrNotFound.
func (r *Repo) getLink(ctx context.Context, d digest.Digest) (link, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return link{}, err
	}
	var l link
	if _, err := r.s.getJSON(ctx, r.s.linkKey(r.name, d), &l); err != nil {
		if errors.Is(err, cas.ErrNotFound) {
			return link{}, fmt.Errorf("%s: not in repository %s: %w", d, r.name, cas.ErrNotFound)
		}
		return link{}, fmt.Errorf("%s in %s: %w", d, r.name, err)
	}
	return l, nil
}

// addLink records that this repository holds d, as a manifest of type mt
// when mt is one. A link there already keeps its time and gains mt if it
// had none. It reports whether the repository held d before.
func (r *Repo) addLink(ctx context.Context, d digest.Digest, size int64, mt string) (held bool, err error) {
	if !oci.IsManifest(mt) {
		mt = ""
	}
	key := r.s.linkKey(r.name, d)
	err = update(ctx, r.s, key, func(l *link) (bool, error) {
		if l.Since == 0 {
			// The holder mark goes first, so every link has one (a
			// mark without a link is skipped by Holders).
			if _, err := r.s.putBytes(ctx, r.s.holderKey(d, r.name), nil, "-", "application/octet-stream"); err != nil {
				return false, err
			}
		} else {
			held = true
			if l.MediaType != "" || mt == "" {
				return false, nil
			}
			l.MediaType = mt
			return true, nil
		}
		*l = link{Since: time.Now().Unix(), Size: size, MediaType: mt}
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("link %s into %s: %w", d, r.name, err)
	}
	return held, nil
}

// Exists implements cas.Exister.
func (r *Repo) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	_, err := r.getLink(ctx, desc.Digest)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, cas.ErrNotFound), errors.Is(err, cas.ErrInvalid):
		return false, nil
	}
	return false, err
}

// Fetch implements cas.Fetcher.
func (r *Repo) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if _, err := r.linkForRead(ctx, desc.Digest); err != nil {
		return nil, err
	}
	return r.s.open(ctx, desc.Digest, minio.GetObjectOptions{})
}

// open reads the blob d.
func (s *Store) open(ctx context.Context, d digest.Digest, opts minio.GetObjectOptions) (io.ReadCloser, error) {
	key := s.blobKey(d)
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, s.fail("get", key, err))
	}
	return rc, nil
}

// FetchRange implements cas.RangeFetcher.
func (r *Repo) FetchRange(ctx context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	l, err := r.linkForRead(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > l.Size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d: %w", desc.Digest, offset, l.Size, cas.ErrInvalid)
	}
	end := l.Size
	if length >= 0 && offset+length < l.Size {
		end = offset + length
	}
	if end == offset {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, end-1); err != nil {
		return nil, fmt.Errorf("%s: range %d-%d: %w", desc.Digest, offset, end-1, cas.ErrInvalid)
	}
	return r.s.open(ctx, desc.Digest, opts)
}

// BlobURL implements cas.BlobLocator when Options.Presign is set: a
// presigned GET of the blob's key.
func (r *Repo) BlobURL(ctx context.Context, desc ocispec.Descriptor) (string, error) {
	if r.s.presign <= 0 {
		return "", fmt.Errorf("%s: presigned URLs are off: %w", desc.Digest, cas.ErrUnsupported)
	}
	if _, err := r.linkForRead(ctx, desc.Digest); err != nil {
		return "", err
	}
	u, err := r.s.mc.PresignedGetObject(ctx, r.s.bucket, r.s.blobKey(desc.Digest), r.s.presign, nil)
	if err != nil {
		return "", fmt.Errorf("%s: presign: %w", desc.Digest, err)
	}
	return u.String(), nil
}

// smallPush is the size up to which Push reads content into memory, checks
// it and writes the blob in one request; larger content goes through a
// multipart upload like a registry upload session.
const smallPush = 4 << 20

// Push implements cas.Pusher. Content is verified before its blob key is
// written (see the package documentation); content another repository
// holds is read and verified like new content, then linked here.
func (r *Repo) Push(ctx context.Context, expected ocispec.Descriptor, rd io.Reader) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return err
	}
	d := expected.Digest
	if _, err := r.getLink(ctx, d); err == nil {
		if _, err := r.addLink(ctx, d, expected.Size, expected.MediaType); err != nil { // a manifest now, perhaps
			return err
		}
		return fmt.Errorf("%s: %w", d, cas.ErrExists)
	} else if !errors.Is(err, cas.ErrNotFound) {
		return err
	}
	size, there, err := r.s.stat(ctx, r.s.blobKey(d))
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", d, err)
	case there && size == expected.Size:
		// The bytes are in the bucket: the writer still proves it has them.
		if err := cas.VerifyReader(rd, expected).Verify(); err != nil {
			return err
		}
	case expected.Size <= smallPush:
		data, err := cas.ReadAll(rd, expected)
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.s.putBlob(ctx, d, data); err != nil {
			return err
		}
	default:
		u := r.s.newUpload(r.name, "", time.Now(), true)
		if _, err := u.readFrom(ctx, cas.VerifyReader(rd, expected)); err != nil {
			u.abort(ctx)
			return err
		}
		if err := u.commit(ctx, expected); err != nil {
			u.abort(ctx)
			return err
		}
	}
	held, err := r.addLink(ctx, d, expected.Size, expected.MediaType)
	if err != nil {
		return err
	}
	if held {
		return fmt.Errorf("%s: %w", d, cas.ErrExists)
	}
	return nil
}

// putBlob writes verified bytes at d's key, unless they are there already.
func (s *Store) putBlob(ctx context.Context, d digest.Digest, data []byte) error {
	_, err := s.putBytes(ctx, s.blobKey(d), data, "", "application/octet-stream")
	if errors.Is(err, errPrecondition) { // written by another push meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	return nil
}

// Resolve implements cas.Resolver. A digest's media type is the manifest
// type it entered this repository with, "" for a blob.
func (r *Repo) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if d, err := digest.Parse(reference); err == nil {
		start := time.Now()
		l, err := r.getLink(ctx, d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		r.mu.Lock()
		r.seen = seenLink{d: d, l: l, at: start}
		r.mu.Unlock()
		return ocispec.Descriptor{MediaType: l.MediaType, Digest: d, Size: l.Size}, nil
	} else if strings.Contains(reference, ":") {
		return ocispec.Descriptor{}, cas.ValidateDigest(digest.Digest(reference))
	}
	if err := oci.ValidateTag(reference); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r.name, reference, cas.ErrNotFound)
	}
	var tl tagList
	if _, err := r.s.getJSON(ctx, r.s.tagsKey(r.name), &tl); err != nil && !errors.Is(err, cas.ErrNotFound) {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r.name, reference, err)
	}
	desc, ok := tl.Tags[reference]
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r.name, reference, cas.ErrNotFound)
	}
	return desc, nil
}

// changeTags changes the tag list by compare-and-swap; fn returns false to
// write nothing.
func (r *Repo) changeTags(ctx context.Context, fn func(tags map[string]ocispec.Descriptor) (bool, error)) error {
	return update(ctx, r.s, r.s.tagsKey(r.name), func(tl *tagList) (bool, error) {
		if tl.Tags == nil {
			tl.Tags = map[string]ocispec.Descriptor{}
		}
		return fn(tl.Tags)
	})
}

// Tag implements cas.Tagger. The tag is written by compare-and-swap on the
// repository's tag list, so tags written at once through different
// replicas are all kept. A Delete of the content racing it is caught by
// reading the link again after the write: the Delete removes the link
// before it removes tags, so either it sees this tag or this Tag sees the
// link gone and takes the tag back.
func (r *Repo) Tag(ctx context.Context, desc ocispec.Descriptor, tag string) error {
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	l, err := r.getLink(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	if l.MediaType == "" {
		return fmt.Errorf("tag %s:%s: %s is in %s as a blob, not as a manifest: push it as a manifest first: %w", r.name, tag, desc.Digest, r.name, cas.ErrInvalid)
	}
	desc.MediaType, desc.Size = l.MediaType, l.Size
	err = r.changeTags(ctx, func(tags map[string]ocispec.Descriptor) (bool, error) {
		tags[tag] = desc
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	if _, err := r.getLink(ctx, desc.Digest); errors.Is(err, cas.ErrNotFound) {
		undo := r.changeTags(ctx, func(tags map[string]ocispec.Descriptor) (bool, error) {
			if tags[tag].Digest != desc.Digest {
				return false, nil
			}
			delete(tags, tag)
			return true, nil
		})
		if undo != nil {
			return fmt.Errorf("tag %s:%s: its content was deleted meanwhile, and removing the tag failed: %w", r.name, tag, undo)
		}
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	} else if err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	return nil
}

// Untag implements cas.Untagger.
func (r *Repo) Untag(ctx context.Context, tag string) error {
	err := r.changeTags(ctx, func(tags map[string]ocispec.Descriptor) (bool, error) {
		if _, ok := tags[tag]; !ok {
			return false, fmt.Errorf("%s:%s: %w", r.name, tag, cas.ErrNotFound)
		}
		delete(tags, tag)
		return true, nil
	})
	if err != nil && !errors.Is(err, cas.ErrNotFound) {
		return fmt.Errorf("untag %s:%s: %w", r.name, tag, err)
	}
	return err
}

// Delete implements cas.Deleter: the link goes first, then the tags that
// point at the content (see Tag for why this order). The bytes stay for
// garbage collection; other repositories keep theirs.
func (r *Repo) Delete(ctx context.Context, desc ocispec.Descriptor) error {
	d := desc.Digest
	if _, err := r.getLink(ctx, d); err != nil {
		return err
	}
	r.mu.Lock()
	r.seen = seenLink{}
	r.mu.Unlock()
	if err := r.s.remove(ctx, r.s.linkKey(r.name, d)); err != nil {
		return fmt.Errorf("delete %s from %s: %w", d, r.name, err)
	}
	if err := r.s.remove(ctx, r.s.holderKey(d, r.name)); err != nil {
		return fmt.Errorf("delete %s from %s: %w", d, r.name, err)
	}
	err := r.changeTags(ctx, func(tags map[string]ocispec.Descriptor) (bool, error) {
		n := len(tags)
		for tag, t := range tags {
			if t.Digest == d {
				delete(tags, tag)
			}
		}
		return len(tags) != n, nil
	})
	if err != nil {
		return fmt.Errorf("delete %s from %s: untag: %w", d, r.name, err)
	}
	return nil
}

// Tags implements cas.TagLister.
func (r *Repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	var tl tagList
	if _, err := r.s.getJSON(ctx, r.s.tagsKey(r.name), &tl); err != nil && !errors.Is(err, cas.ErrNotFound) {
		return fmt.Errorf("tags of %s: %w", r.name, err)
	}
	tags := make([]string, 0, len(tl.Tags))
	for t := range tl.Tags {
		tags = append(tags, t)
	}
	return cas.ListPages(ctx, tags, last, fn)
}

// Mount implements cas.Mounter: content that repository from holds is
// linked here, as a blob.
func (r *Repo) Mount(ctx context.Context, desc ocispec.Descriptor, from string) error {
	if err := oci.ValidateRepository(from); err != nil {
		return err
	}
	src := &Repo{s: r.s, name: from}
	l, err := src.getLink(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("mount from %s: %w", from, err)
	}
	_, err = r.addLink(ctx, desc.Digest, l.Size, "")
	return err
}

// AddReferrer implements cas.ReferrerIndex.
func (r *Repo) AddReferrer(ctx context.Context, subject digest.Digest, desc ocispec.Descriptor) error {
	if err := cas.ValidateDigest(subject); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	err := update(ctx, r.s, r.s.referrersKey(r.name, subject), func(rl *referrerList) (bool, error) {
		if slices.ContainsFunc(rl.Referrers, func(d ocispec.Descriptor) bool { return d.Digest == desc.Digest }) {
			return false, nil
		}
		rl.Referrers = append(rl.Referrers, desc)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("referrer %s of %s in %s: %w", desc.Digest, subject, r.name, err)
	}
	return nil
}

// RemoveReferrer implements cas.ReferrerIndex.
func (r *Repo) RemoveReferrer(ctx context.Context, subject, desc digest.Digest) error {
	if cas.ValidateDigest(subject) != nil {
		return nil // never added
	}
	err := update(ctx, r.s, r.s.referrersKey(r.name, subject), func(rl *referrerList) (bool, error) {
		n := len(rl.Referrers)
		rl.Referrers = slices.DeleteFunc(rl.Referrers, func(d ocispec.Descriptor) bool { return d.Digest == desc })
		return len(rl.Referrers) != n, nil
	})
	if err != nil {
		return fmt.Errorf("remove referrer %s of %s in %s: %w", desc, subject, r.name, err)
	}
	return nil
}

// Referrers implements cas.ReferrerIndex.
func (r *Repo) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	if err := cas.ValidateDigest(subject); err != nil {
		return nil, err
	}
	var rl referrerList
	if _, err := r.s.getJSON(ctx, r.s.referrersKey(r.name, subject), &rl); err != nil && !errors.Is(err, cas.ErrNotFound) {
		return nil, fmt.Errorf("referrers of %s in %s: %w", subject, r.name, err)
	}
	return append([]ocispec.Descriptor{}, rl.Referrers...), nil
}

// Holders implements cas.HolderLister from the holder marks of d (one
// empty object per repository that holds it, beside its link), checking
// each repository's link.
func (s *Store) Holders(ctx context.Context, d digest.Digest) ([]string, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return nil, err
	}
	dir := s.holderKey(d, "")
	out := []string{}
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("holders of %s: %w", d, s.fail("list", dir, obj.Err))
		}
		name := strings.TrimPrefix(obj.Key, dir)
		if oci.ValidateRepository(name) != nil {
			continue
		}
		if _, err := (&Repo{s: s, name: name}).getLink(ctx, d); err == nil {
			out = append(out, name)
		} else if !errors.Is(err, cas.ErrNotFound) {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}
