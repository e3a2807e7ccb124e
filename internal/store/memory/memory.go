// Package memory is a cas.Store held in memory: for tests, caches and as the
// reference implementation of the cas contract. The bytes of a blob are
// kept once, but a repository serves only the blobs pushed, mounted or
// committed into it; tags, upload sessions and referrers are per
// repository. Everything lives only as long as the Store.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is an in-memory cas.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	blobs map[digest.Digest]blob
	tags  map[string]map[string]ocispec.Descriptor // repository -> tag -> desc
	// links: repository -> the blobs it holds -> the manifest media type
	// each entered with ("" for a blob that came through the blob API:
	// only what entered as a manifest is served as one).
	links map[string]map[digest.Digest]string

	uploads   map[string]*session                               // id -> session
	perRepo   map[string]int                                    // repository -> sessions in uploads
	referrers map[string]map[digest.Digest][]ocispec.Descriptor // repository -> subject -> referrers
}

type blob struct {
	data      []byte
	mediaType string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		blobs:     map[digest.Digest]blob{},
		tags:      map[string]map[string]ocispec.Descriptor{},
		links:     map[string]map[digest.Digest]string{},
		uploads:   map[string]*session{},
		perRepo:   map[string]int{},
		referrers: map[string]map[digest.Digest][]ocispec.Descriptor{},
	}
}

// Repository implements cas.Store.
func (s *Store) Repository(_ context.Context, name string) (cas.Target, error) {
	if err := oci.ValidateRepository(name); err != nil {
		return nil, err
	}
	return &Repo{s: s, name: name}, nil
}

// Repositories implements cas.RepositoryLister: the repositories with at
// least one tag.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	s.mu.RLock()
	names := make([]string, 0, len(s.tags))
	for n, tags := range s.tags {
		if len(tags) > 0 {
			names = append(names, n)
		}
	}
	s.mu.RUnlock()
	return cas.ListPages(ctx, names, last, fn)
}

// Holders implements cas.HolderLister.
func (s *Store) Holders(_ context.Context, d digest.Digest) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	for repo, set := range s.links {
		if _, ok := set[d]; ok {
			out = append(out, repo)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Repo is one repository of a Store.
type Repo struct {
	s    *Store
	name string
}

var (
	_ cas.Target       = (*Repo)(nil)
	_ cas.Deleter      = (*Repo)(nil)
	_ cas.Untagger     = (*Repo)(nil)
	_ cas.TagLister    = (*Repo)(nil)
	_ cas.RangeFetcher = (*Repo)(nil)
	_ cas.Mounter      = (*Repo)(nil)
)

// Fetch implements cas.Fetcher.
func (r *Repo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, err := r.get(desc.Digest)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b.data)), nil
}

// FetchRange implements cas.RangeFetcher.
func (r *Repo) FetchRange(_ context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	b, err := r.get(desc.Digest)
	if err != nil {
		return nil, err
	}
	size := int64(len(b.data))
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d: %w", desc.Digest, offset, size, cas.ErrInvalid)
	}
	end := size
	if length >= 0 && offset+length < size {
		end = offset + length
	}
	return io.NopCloser(bytes.NewReader(b.data[offset:end])), nil
}

// get returns a blob this repository holds.
func (r *Repo) get(d digest.Digest) (blob, error) {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return r.getLocked(d)
}

// getLocked is get with mu held.
func (r *Repo) getLocked(d digest.Digest) (blob, error) {
	b, ok := r.s.blobs[d]
	if _, held := r.s.links[r.name][d]; !ok || !held {
		return blob{}, fmt.Errorf("%s: not in repository %s: %w", d, r.name, cas.ErrNotFound)
	}
	return b, nil
}

// link makes d part of repository repo, as a manifest of type mt when mt
// is a manifest media type; a blob held already keeps its type or gains
// mt. mu is held.
func (s *Store) link(repo string, d digest.Digest, mt string) {
	if !oci.IsManifest(mt) {
		mt = ""
	}
	if s.links[repo] == nil {
		s.links[repo] = map[digest.Digest]string{}
	}
	if cur, ok := s.links[repo][d]; ok && (cur != "" || mt == "") {
		return
	}
	s.links[repo][d] = mt
}

// Exists implements cas.Exister.
func (r *Repo) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, err := r.get(desc.Digest)
	return err == nil, nil
}

// Push implements cas.Pusher. Content another repository holds is read and
// verified like new content, then linked here.
func (r *Repo) Push(ctx context.Context, expected ocispec.Descriptor, rd io.Reader) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return err
	}
	if ok, _ := r.Exists(ctx, expected); ok {
		r.s.mu.Lock()
		r.s.link(r.name, expected.Digest, expected.MediaType) // a manifest now, perhaps
		r.s.mu.Unlock()
		return fmt.Errorf("%s: %w", expected.Digest, cas.ErrExists)
	}
	// cas.ReadAll, not make([]byte, expected.Size): a descriptor may claim
	// any size, and memory is committed only as the bytes arrive.
	data, err := cas.ReadAll(rd, expected)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	_, held := r.s.links[r.name][expected.Digest]
	if _, ok := r.s.blobs[expected.Digest]; !ok {
		r.s.blobs[expected.Digest] = blob{data: data, mediaType: expected.MediaType}
	}
	r.s.link(r.name, expected.Digest, expected.MediaType)
	if held {
		return fmt.Errorf("%s: %w", expected.Digest, cas.ErrExists)
	}
	return nil
}

// Resolve implements cas.Resolver. A digest's media type is the manifest
// type it entered this repository with, "" for a blob.
func (r *Repo) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if d, err := digest.Parse(reference); err == nil {
		r.s.mu.RLock()
		defer r.s.mu.RUnlock()
		b, err := r.getLocked(d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return ocispec.Descriptor{MediaType: r.s.links[r.name][d], Digest: d, Size: int64(len(b.data))}, nil
	} else if strings.Contains(reference, ":") {
		return ocispec.Descriptor{}, cas.ValidateDigest(digest.Digest(reference))
	}
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	desc, ok := r.s.tags[r.name][reference]
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r.name, reference, cas.ErrNotFound)
	}
	return desc, nil
}

// Tag implements cas.Tagger.
func (r *Repo) Tag(_ context.Context, desc ocispec.Descriptor, tag string) error {
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if _, err := r.getLocked(desc.Digest); err != nil {
		return fmt.Errorf("tag %s:%s: %w", r.name, tag, err)
	}
	mt := r.s.links[r.name][desc.Digest]
	if mt == "" {
		return fmt.Errorf("tag %s:%s: %s is in %s as a blob, not as a manifest: push it as a manifest first: %w", r.name, tag, desc.Digest, r.name, cas.ErrInvalid)
	}
	desc.MediaType = mt
	if r.s.tags[r.name] == nil {
		r.s.tags[r.name] = map[string]ocispec.Descriptor{}
	}
	r.s.tags[r.name][tag] = desc
	return nil
}

// Untag implements cas.Untagger.
func (r *Repo) Untag(_ context.Context, tag string) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if _, ok := r.s.tags[r.name][tag]; !ok {
		return fmt.Errorf("%s:%s: %w", r.name, tag, cas.ErrNotFound)
	}
	delete(r.s.tags[r.name], tag)
	return nil
}

// Delete implements cas.Deleter: the content leaves this repository with
// the tags that point at it, in one step; the bytes go once no repository
// holds them.
func (r *Repo) Delete(_ context.Context, desc ocispec.Descriptor) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	d := desc.Digest
	if _, err := r.getLocked(d); err != nil {
		return err
	}
	delete(r.s.links[r.name], d)
	for tag, t := range r.s.tags[r.name] {
		if t.Digest == d {
			delete(r.s.tags[r.name], tag)
		}
	}
	for _, set := range r.s.links {
		if _, ok := set[d]; ok {
			return nil
		}
	}
	delete(r.s.blobs, d)
	return nil
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

// Mount implements cas.Mounter: content that repository from holds is
// linked here.
func (r *Repo) Mount(_ context.Context, desc ocispec.Descriptor, from string) error {
	if err := oci.ValidateRepository(from); err != nil {
		return err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	src := &Repo{s: r.s, name: from}
	if _, err := src.getLocked(desc.Digest); err != nil {
		return fmt.Errorf("mount from %s: %w", from, err)
	}
	r.s.link(r.name, desc.Digest, "") // through the blob API: a blob
	return nil
}
