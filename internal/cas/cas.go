package cas

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Fetcher reads content.
type Fetcher interface {
	// Fetch returns a reader over the content described by desc. The caller
	// must close it. Implementations may return the raw stream; callers that
	// need a guarantee wrap it with VerifyReader (the copy engine does).
	// Fetch returns an error wrapping ErrNotFound when the content is absent.
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// Pusher writes content.
type Pusher interface {
	// Push stores content read from r, which must match expected in size and
	// digest. The content becomes visible only once it is complete and
	// verified: a push that fails, is cancelled or is interrupted by a crash
	// leaves nothing visible. A push of content that this repository
	// already holds returns an error wrapping ErrExists (after draining
	// nothing: callers that care check Exists first). Content the store
	// holds only for other repositories is read and verified like new
	// content (the bytes prove the writer has it) and then belongs to this
	// repository too. Concurrent pushes of the same digest are safe; all but
	// one may return ErrExists.
	Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error
}

// Exister reports presence.
type Exister interface {
	// Exists reports whether the content described by desc is present and
	// complete in this repository (content that only other repositories of
	// the store hold is absent here). It says nothing of what the content
	// points at: every gantry writer pushes children before parents, but a
	// child may have been deleted or quarantined (fsck --repair) since, and
	// an index may be sparse (a platform-filtered copy pushes it with only
	// some of its manifests). So a copy checks the children of a present
	// manifest rather than trusting it.
	Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
}

// Resolver turns a reference into a descriptor.
type Resolver interface {
	// Resolve returns the descriptor a tag points at, or, when reference is a
	// digest ("sha256:..."), the descriptor of that content: its digest and
	// size always, its media type when the store knows it. It returns an error
	// wrapping ErrNotFound when nothing matches.
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)
}

// Tagger points tags at content.
type Tagger interface {
	// Tag points tag at desc, replacing what it pointed at before. The
	// content must already exist in this repository; Tag returns
	// ErrNotFound otherwise, also when a Delete of the content races it.
	// Once Tag returns, the tag survives a crash.
	Tag(ctx context.Context, desc ocispec.Descriptor, tag string) error
}

// ReadOnlyStorage reads content.
type ReadOnlyStorage interface {
	Fetcher
	Exister
}

// Storage reads and writes content.
type Storage interface {
	ReadOnlyStorage
	Pusher
}

// ReadOnlyTarget is one repository that can be read: content and tags.
type ReadOnlyTarget interface {
	ReadOnlyStorage
	Resolver
}

// Target is one repository that can be read and written: the source and the
// destination of a copy.
type Target interface {
	Storage
	Resolver
	Tagger
}

// Store holds many repositories. Repositories own their content: each
// serves only what was pushed, mounted or committed into it (or, for a
// layout another tool wrote, what its tags reach), and a delete in one never
// changes what another serves. Stores that keep bytes in one place (disk,
// memory) still store a blob once whatever the number of repositories that
// hold it.
type Store interface {
	// Repository returns the repository called name. It validates the name
	// (ErrInvalid) but does not require the repository to exist yet: a push
	// creates it.
	Repository(ctx context.Context, name string) (Target, error)
}

// ReadOnlyStore holds many repositories that can only be read: a
// docker-archive tarball, a bundle. It is the read side of Store, so a
// read-only store has no Push or Tag to stub out; the copy engine takes it as
// a source like any other. A repository serves only the content reachable
// from its own tags (its manifests and their children): a digest of another
// repository's image is not found in it, whatever the store holds.
type ReadOnlyStore interface {
	// Repository returns the repository called name. It validates the name
	// (ErrInvalid). A name with no image is not an error: its target holds
	// nothing, as a repository of a Store that nothing was pushed to.
	Repository(ctx context.Context, name string) (ReadOnlyTarget, error)
}

// Deleter removes content from a repository.
type Deleter interface {
	// Delete removes desc from this repository, together with the
	// repository's tags that point at it, in one step: a tag that a
	// concurrent Tag moved to other content is kept, and a concurrent Tag
	// of desc either fails with ErrNotFound or is removed with it. Other
	// repositories that hold the same content keep it (stores that share
	// bytes reclaim them by garbage collection, not here). Deleting content
	// that a parent manifest still points at is allowed; fsck reports the
	// damage. It returns ErrNotFound when this repository does not hold
	// desc.
	Delete(ctx context.Context, desc ocispec.Descriptor) error
}

// Untagger removes a tag without touching content.
type Untagger interface {
	Untag(ctx context.Context, tag string) error
}

// TagLister lists the tags of a repository in lexical order, starting after
// last ("" for the beginning). fn is called with pages of tags; returning an
// error from fn stops the listing and is returned.
type TagLister interface {
	Tags(ctx context.Context, last string, fn func(tags []string) error) error
}

// RepositoryLister lists the repositories of a store in lexical order,
// starting after last, in pages, like TagLister.
type RepositoryLister interface {
	Repositories(ctx context.Context, last string, fn func(repos []string) error) error
}

// RangeFetcher reads part of a blob.
type RangeFetcher interface {
	// FetchRange returns a reader over length bytes of the content starting
	// at offset; length < 0 means up to the end. The bytes are not verified:
	// a range cannot be checked against a whole-content digest.
	FetchRange(ctx context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error)
}

// Mounter makes content of another repository of the same store part of
// this one without moving its bytes.
type Mounter interface {
	// Mount makes desc, held by repository from, held here too. It returns
	// an error wrapping ErrNotFound when from does not hold the content, and
	// ErrUnsupported when the store cannot mount (the caller copies instead).
	Mount(ctx context.Context, desc ocispec.Descriptor, from string) error
}

// BlobLocator is a repository whose blobs clients may read straight from
// where they are kept (an object store's presigned URL), so a registry
// redirects a blob GET there instead of sending the bytes itself.
type BlobLocator interface {
	// BlobURL returns a URL that serves the content described by desc
	// (GET, with Range) to whoever holds it, for a limited time. It
	// returns an error wrapping ErrNotFound when this repository does not
	// hold the content, and ErrUnsupported when the store was not set up
	// to hand out URLs (the registry then sends the bytes).
	BlobURL(ctx context.Context, desc ocispec.Descriptor) (string, error)
}

// HolderLister is a store that can say which of its repositories hold
// some content. The registry's anonymous mount (distribution-spec v1.1:
// a mount without "from") looks for a source repository there, and will
// keep only those the caller may pull once access control exists.
type HolderLister interface {
	// Holders returns the repositories that hold d, in lexical order; none
	// is an empty list, not an error.
	Holders(ctx context.Context, d digest.Digest) ([]string, error)
}

// Guarder is a store that collects garbage while it serves. A writer
// about to make content of a repository refer to other content the
// repository holds (a manifest PUT checking that its children are there,
// then storing and tagging the manifest) calls Guard first and release when
// done: in between, garbage collection unlinks nothing from that
// repository, so the children checked stay held.
type Guarder interface {
	// Guard holds the repository's content in place until release is
	// called. It does not block and cannot fail.
	Guard() (release func())
}

// Ingester accepts content in several writes, as registry uploads arrive:
// over many requests, before the digest is known. A repository's target
// implements it; sessions belong to the repository that began them.
type Ingester interface {
	// NewUpload begins an upload session.
	NewUpload(ctx context.Context) (Upload, error)
	// ResumeUpload returns the session called id, begun in this
	// repository. It returns an error wrapping ErrNotFound when there is no
	// such session here: never begun, begun in another repository,
	// committed, cancelled or expired.
	ResumeUpload(ctx context.Context, id string) (Upload, error)
}

// UploadPurger is a store whose abandoned upload sessions can be expired.
type UploadPurger interface {
	// PurgeUploads cancels the sessions of every repository that opts
	// says have expired, and returns how many it removed and the bytes it
	// reclaimed. Sessions in use at the moment are kept.
	PurgeUploads(ctx context.Context, opts PurgeOptions) (n int, bytes int64, err error)
}

// PurgeOptions says which upload sessions PurgeUploads removes.
type PurgeOptions struct {
	// Idle is how long a session may go without a write. Zero removes
	// every session not in use.
	Idle time.Duration
	// IdleEmpty, when positive and shorter than Idle, is how long a
	// session that holds no bytes may live. Such sessions have nothing to
	// resume, and a client that begins uploads it never writes to (or a
	// flood of POSTs) would otherwise keep them for the whole of Idle.
	// Default: Idle.
	IdleEmpty time.Duration
}

// Expired returns the rule PurgeUploads applies at now, for a session
// holding size bytes that was last written to (or begun) at touched. Every
// store applies this one rule.
func (o PurgeOptions) Expired(now time.Time) func(size int64, touched time.Time) bool {
	cutoff := now.Add(-o.Idle)
	emptyCutoff := cutoff
	if o.IdleEmpty > 0 && o.IdleEmpty < o.Idle {
		emptyCutoff = now.Add(-o.IdleEmpty)
	}
	return func(size int64, touched time.Time) bool {
		if size == 0 {
			return touched.Before(emptyCutoff)
		}
		return touched.Before(cutoff)
	}
}

// UploadCounter is a store that counts its open upload sessions cheaply
// (no listing), so a server can cap them.
type UploadCounter interface {
	// OpenUploads returns the number of sessions begun in repository and
	// not yet committed, cancelled or purged, and the number in the whole
	// store.
	OpenUploads(ctx context.Context, repository string) (inRepository, total int, err error)
}

// Upload is one upload session. It is not safe for concurrent use: the
// caller serialises the calls of one session (the registry locks it). Bytes
// written are kept across calls and ResumeUpload; they become content only
// when Commit returns nil. After Commit or Cancel the session is gone, and
// Close releases what the value holds without ending the session.
type Upload interface {
	// ID is the session's name: unguessable and URL-safe.
	ID() string
	// Size is the number of bytes written so far.
	Size() int64
	// StartedAt is when the session began.
	StartedAt() time.Time
	// Write appends p.
	Write(p []byte) (int, error)
	// Commit checks that the bytes written match expected in size and
	// digest (ErrSizeMismatch, ErrDigestMismatch; the session stays as it
	// was) and makes them content. Content that already exists is not an
	// error: the session ends either way.
	Commit(ctx context.Context, expected ocispec.Descriptor) error
	// Cancel ends the session and removes its bytes.
	Cancel(ctx context.Context) error
	// Close releases the value; the session stays for ResumeUpload.
	Close() error
}

// ReferrerLister lists the manifests of a repository that refer to a
// subject (distribution-spec v1.1 referrers API): signatures, SBOMs and
// attestations of an image. Bundles ask a source for them to carry an
// image's referrers along with it.
type ReferrerLister interface {
	// Referrers lists the referrers of subject, with their artifactType
	// and annotations; none is an empty list, not an error.
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// ReferrerIndex records which manifests of a repository refer to a subject
// (distribution-spec v1.1 referrers API). The registry adds an entry when it
// accepts a manifest with a subject and removes it when the manifest is
// deleted; entries survive restarts. The copy engine adds an entry when it
// copies a manifest with a subject into a repository that keeps an index.
type ReferrerIndex interface {
	// AddReferrer records desc (a manifest with its artifactType and
	// annotations filled) as referring to subject. Adding an entry twice
	// keeps one.
	AddReferrer(ctx context.Context, subject digest.Digest, desc ocispec.Descriptor) error
	// RemoveReferrer forgets desc as a referrer of subject; absent entries
	// are not an error.
	RemoveReferrer(ctx context.Context, subject digest.Digest, desc digest.Digest) error
	// Referrers lists the referrers of subject, in the order they were
	// added; none is an empty list, not an error.
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}
