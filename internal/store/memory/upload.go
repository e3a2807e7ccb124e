package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	_ cas.Ingester      = (*Repo)(nil)
	_ cas.ReferrerIndex = (*Repo)(nil)
	_ cas.UploadPurger  = (*Store)(nil)
	_ cas.UploadCounter = (*Store)(nil)
)

// errClosed is returned by an Upload value used after its Close.
var errClosed = errors.New("upload value closed")

// session is the state of one upload, shared by every Upload value that
// names it. Lock order: session.mu, then Store.mu.
type session struct {
	id      string
	repo    string
	started time.Time

	mu      sync.Mutex
	data    []byte
	touched time.Time // last write, for PurgeUploads
	ended   bool      // committed, cancelled or purged
}

// newID returns 128 random bits as 32 hex digits: unguessable, URL-safe and
// usable as a file name.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// NewUpload implements cas.Ingester.
func (r *Repo) NewUpload(ctx context.Context) (cas.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	sess := &session{id: newID(), repo: r.name, started: now, touched: now}
	r.s.mu.Lock()
	r.s.uploads[sess.id] = sess
	r.s.perRepo[sess.repo]++
	r.s.mu.Unlock()
	return &upload{s: r.s, sess: sess}, nil
}

// ResumeUpload implements cas.Ingester.
func (r *Repo) ResumeUpload(ctx context.Context, id string) (cas.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.s.mu.RLock()
	sess, ok := r.s.uploads[id]
	r.s.mu.RUnlock()
	if !ok || sess.repo != r.name {
		return nil, fmt.Errorf("upload %s in %s: %w", id, r.name, cas.ErrNotFound)
	}
	return &upload{s: r.s, sess: sess}, nil
}

// OpenUploads implements cas.UploadCounter.
func (s *Store) OpenUploads(_ context.Context, repository string) (inRepository, total int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.perRepo[repository], len(s.uploads), nil
}

// PurgeUploads implements cas.UploadPurger.
func (s *Store) PurgeUploads(ctx context.Context, opts cas.PurgeOptions) (n int, bytes int64, err error) {
	s.mu.RLock()
	all := make([]*session, 0, len(s.uploads))
	for _, sess := range s.uploads {
		all = append(all, sess)
	}
	s.mu.RUnlock()
	expired := opts.Expired(time.Now())
	for _, sess := range all {
		if err := ctx.Err(); err != nil {
			return n, bytes, err
		}
		sess.mu.Lock()
		if !sess.ended && expired(int64(len(sess.data)), sess.touched) {
			n++
			bytes += int64(len(sess.data))
			s.end(sess)
		}
		sess.mu.Unlock()
	}
	return n, bytes, nil
}

// end forgets sess; its lock is held.
func (s *Store) end(sess *session) {
	sess.ended = true
	sess.data = nil
	s.mu.Lock()
	if s.uploads[sess.id] == sess {
		delete(s.uploads, sess.id)
		if n := s.perRepo[sess.repo] - 1; n > 0 {
			s.perRepo[sess.repo] = n
		} else {
			delete(s.perRepo, sess.repo)
		}
	}
	s.mu.Unlock()
}

// upload is one handle on a session.
type upload struct {
	s      *Store
	sess   *session
	closed bool
}

func (u *upload) ID() string           { return u.sess.id }
func (u *upload) StartedAt() time.Time { return u.sess.started }

func (u *upload) Size() int64 {
	u.sess.mu.Lock()
	defer u.sess.mu.Unlock()
	return int64(len(u.sess.data))
}

// lock locks the session and checks that it can still be used.
func (u *upload) lock() error {
	if u.closed {
		return fmt.Errorf("upload %s: %w", u.sess.id, errClosed)
	}
	u.sess.mu.Lock()
	if u.sess.ended {
		u.sess.mu.Unlock()
		return fmt.Errorf("upload %s: %w", u.sess.id, cas.ErrNotFound)
	}
	return nil
}

func (u *upload) Write(p []byte) (int, error) {
	if err := u.lock(); err != nil {
		return 0, err
	}
	defer u.sess.mu.Unlock()
	u.sess.data = append(u.sess.data, p...)
	u.sess.touched = time.Now()
	return len(p), nil
}

func (u *upload) Commit(ctx context.Context, expected ocispec.Descriptor) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return fmt.Errorf("upload %s: %w", u.sess.id, err)
	}
	if err := u.lock(); err != nil {
		return err
	}
	defer u.sess.mu.Unlock()
	data := u.sess.data
	if int64(len(data)) != expected.Size {
		return fmt.Errorf("upload %s: %s: got %d bytes, expected %d: %w", u.sess.id, expected.Digest, len(data), expected.Size, cas.ErrSizeMismatch)
	}
	if got := expected.Digest.Algorithm().FromBytes(data); got != expected.Digest {
		return fmt.Errorf("upload %s: %s: content hashes to %s: %w", u.sess.id, expected.Digest, got, cas.ErrDigestMismatch)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	u.s.mu.Lock()
	if _, ok := u.s.blobs[expected.Digest]; !ok {
		u.s.blobs[expected.Digest] = blob{data: data[:len(data):len(data)], mediaType: expected.MediaType}
	}
	u.s.link(u.sess.repo, expected.Digest, "") // through the blob API: a blob
	u.s.mu.Unlock()
	u.s.end(u.sess)
	return nil
}

func (u *upload) Cancel(context.Context) error {
	if err := u.lock(); err != nil {
		return err
	}
	defer u.sess.mu.Unlock()
	u.s.end(u.sess)
	return nil
}

func (u *upload) Close() error {
	u.closed = true
	return nil
}

// AddReferrer implements cas.ReferrerIndex.
func (r *Repo) AddReferrer(_ context.Context, subject digest.Digest, desc ocispec.Descriptor) error {
	if err := cas.ValidateDigest(subject); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	subjects := r.s.referrers[r.name]
	if subjects == nil {
		subjects = map[digest.Digest][]ocispec.Descriptor{}
		r.s.referrers[r.name] = subjects
	}
	list := subjects[subject]
	if slices.ContainsFunc(list, func(d ocispec.Descriptor) bool { return d.Digest == desc.Digest }) {
		return nil
	}
	subjects[subject] = append(list, desc)
	return nil
}

// RemoveReferrer implements cas.ReferrerIndex.
func (r *Repo) RemoveReferrer(_ context.Context, subject, desc digest.Digest) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	subjects := r.s.referrers[r.name]
	list := slices.DeleteFunc(subjects[subject], func(d ocispec.Descriptor) bool { return d.Digest == desc })
	if len(list) == 0 {
		delete(subjects, subject)
	} else {
		subjects[subject] = list
	}
	return nil
}

// Referrers implements cas.ReferrerIndex.
func (r *Repo) Referrers(_ context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return append([]ocispec.Descriptor{}, r.s.referrers[r.name][subject]...), nil
}
