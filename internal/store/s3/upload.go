package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// opTimeout bounds each S3 request of Write and ReadFrom, which have no
// context of their own: one part, or the tail and the state.
const opTimeout = 5 * time.Minute

// uploadState is the durable state of an upload session: the object
// uploads/<id>/state.json, replaced by compare-and-swap at the end of every
// write, so a session moves between replicas with the client's requests.
type uploadState struct {
	Repository string    `json:"repository"`
	Started    time.Time `json:"started"`
	Touched    time.Time `json:"touched"`
	// Size is the number of bytes written: the parts' and the tail's.
	Size int64 `json:"size"`
	// Multipart is the S3 upload ID of the parts at uploads/<id>/data,
	// "" until the first part is sent.
	Multipart string `json:"multipart,omitempty"`
	Parts     []part `json:"parts,omitempty"`
	// Tail is the number of bytes after the parts, too few for a part
	// yet, kept in the object uploads/<id>/tail-<Gen>-<TailTag>: the tag
	// is random, so a writer whose state write loses (another request on
	// the same session, through another replica) never overwrote the
	// winner's tail.
	Tail    int64  `json:"tail"`
	Gen     int    `json:"gen"`
	TailTag string `json:"tailTag,omitempty"`
	// Hash is the SHA-256 state over all Size bytes
	// (encoding.BinaryMarshaler), so a commit on any replica checks the
	// digest without reading the bytes back.
	Hash []byte `json:"hash"`
	// Completed is set once the parts were assembled into
	// uploads/<id>/data by a commit that then failed: a retry copies it.
	Completed bool `json:"completed,omitempty"`
}

// part is one part sent in a session's multipart upload.
type part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

// upload is a handle on a session. Push uses one that is ephemeral: it
// never writes a state and cannot be resumed.
type upload struct {
	s         *Store
	id        string
	st        uploadState
	etag      string // of the state object; "" before it exists
	h         hash.Hash
	buf       []byte // the tail
	ephemeral bool
	closed    bool
	ended     bool
	broken    error // a failed write: the durable state is behind this handle

	// Parts in flight (sendPart, wait).
	sem        chan struct{}
	sending    sync.WaitGroup
	dispatched int // parts sent since the last wait
	smu        sync.Mutex
	pending    []part   // sent since the last wait
	free       [][]byte // buffers back from sent parts
	sendErr    error
}

// errClosed is returned by an Upload value used after its Close.
var errClosed = errors.New("upload value closed")

// newID returns 128 random bits as 32 hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// validID reports whether id has the form newID gives, so nothing else is
// ever made into a key.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// newUpload returns a handle on a new session, not yet written anywhere.
func (s *Store) newUpload(repo, id string, now time.Time, ephemeral bool) *upload {
	if id == "" {
		id = newID()
	}
	return &upload{
		s: s, id: id, h: sha256.New(), ephemeral: ephemeral,
		st: uploadState{Repository: repo, Started: now, Touched: now},
	}
}

// NewUpload implements cas.Ingester: the session's state object is written
// before NewUpload returns, so any replica can resume it.
func (r *Repo) NewUpload(ctx context.Context) (cas.Upload, error) {
	u := r.s.newUpload(r.name, "", time.Now().UTC(), false)
	u.st.Hash = marshalHash(u.h)
	etag, err := r.s.putJSON(ctx, u.key("state.json"), &u.st, "")
	if err != nil {
		return nil, fmt.Errorf("new upload in %s: %w", r.name, err)
	}
	u.etag = etag
	r.s.mu.Lock()
	r.s.sessions[u.id] = openSession{repo: r.name, began: u.st.Started}
	r.s.mu.Unlock()
	return u, nil
}

// OpenUploads implements cas.UploadCounter for this replica: the sessions
// it began and has not seen end. A session begun here and ended through
// another replica is counted until this replica's next PurgeUploads, which
// lists the bucket; so with several replicas the registry's caps on open
// sessions hold per replica, not for the bucket.
func (s *Store) OpenUploads(_ context.Context, repository string) (inRepository, total int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.sessions {
		if o.repo == repository {
			inRepository++
		}
	}
	return inRepository, len(s.sessions), nil
}

// forget drops id from the sessions this replica counts.
func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// ResumeUpload implements cas.Ingester.
func (r *Repo) ResumeUpload(ctx context.Context, id string) (cas.Upload, error) {
	if !validID(id) {
		return nil, fmt.Errorf("upload %q in %s: %w", id, r.name, cas.ErrNotFound)
	}
	u, err := r.s.loadUpload(ctx, id)
	if err == nil && u.st.Repository != r.name {
		err = fmt.Errorf("upload %s in %s: %w", id, r.name, cas.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if u.st.Tail > 0 {
		if err := u.loadTail(ctx); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// loadUpload reads the state of session id (not its tail).
func (s *Store) loadUpload(ctx context.Context, id string) (*upload, error) {
	u := &upload{s: s, id: id, h: sha256.New()}
	etag, err := s.getJSON(ctx, u.key("state.json"), &u.st)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	u.etag = etag
	if err := u.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.st.Hash); err != nil {
		return nil, fmt.Errorf("upload %s: damaged hash state: %v: %w", id, err, cas.ErrInvalid)
	}
	return u, nil
}

// loadTail reads the tail object of the session into the buffer.
func (u *upload) loadTail(ctx context.Context) error {
	key := u.tailKey(u.st)
	rc, _, _, err := u.s.core.GetObject(ctx, u.s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.id, u.s.fail("get", key, err))
	}
	defer rc.Close()
	u.buf = make([]byte, 0, u.s.part)
	b := bytes.NewBuffer(u.buf)
	if _, err := b.ReadFrom(io.LimitReader(rc, u.s.part)); err != nil {
		return fmt.Errorf("upload %s: %w", u.id, u.s.fail("read", key, err))
	}
	u.buf = b.Bytes()
	if int64(len(u.buf)) != u.st.Tail {
		return fmt.Errorf("upload %s: tail holds %d bytes, the state says %d: %w", u.id, len(u.buf), u.st.Tail, cas.ErrInvalid)
	}
	return nil
}

func (u *upload) key(name string) string { return u.s.uploadKey(u.id) + name }

// tailKey is the tail object of state st.
func (u *upload) tailKey(st uploadState) string {
	return u.key("tail-" + strconv.Itoa(st.Gen) + "-" + st.TailTag)
}

func marshalHash(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary() // sha256 never fails
	return b
}

func (u *upload) ID() string           { return u.id }
func (u *upload) Size() int64          { return u.st.Size }
func (u *upload) StartedAt() time.Time { return u.st.Started }

// usable checks that the handle may still write.
func (u *upload) usable() error {
	switch {
	case u.closed:
		return fmt.Errorf("upload %s: %w", u.id, errClosed)
	case u.ended:
		return fmt.Errorf("upload %s: %w", u.id, cas.ErrNotFound)
	case u.broken != nil:
		return fmt.Errorf("upload %s: an earlier write failed (resume the session to go on from what was kept): %w", u.id, u.broken)
	}
	return nil
}

// Write appends p; the bytes are durable when Write returns.
func (u *upload) Write(p []byte) (int, error) {
	n, err := u.ReadFrom(bytes.NewReader(p))
	return int(n), err
}

// ReadFrom appends what r yields up to its end (io.Copy calls it): whole
// parts go to the multipart upload as they fill, and the rest and the
// session's state are written before ReadFrom returns, also when r fails,
// so the bytes that came are kept for a resume.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	if err := u.usable(); err != nil {
		return 0, err
	}
	// No deadline for the stream, which takes as long as the client;
	// each request to S3 has its own (opTimeout).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := u.readFrom(ctx, r)
	if n > 0 {
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		if perr := u.persist(pctx); perr != nil && err == nil {
			err = perr
		}
	}
	return n, err
}

// readFrom reads r into parts; it does not write the state.
func (u *upload) readFrom(ctx context.Context, r io.Reader) (int64, error) {
	if u.buf == nil {
		u.buf = make([]byte, 0, u.s.part)
	}
	var total int64
	for {
		n, err := r.Read(u.buf[len(u.buf):cap(u.buf)])
		if n > 0 {
			u.h.Write(u.buf[len(u.buf) : len(u.buf)+n])
			u.buf = u.buf[:len(u.buf)+n]
			u.st.Size += int64(n)
			total += int64(n)
			if len(u.buf) == cap(u.buf) {
				if perr := u.sendPart(ctx); perr != nil {
					return total, perr
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// partsInFlight is how many parts of one upload are sent at once while
// the next fills: S3 servers write parts in parallel, and a part sent one
// at a time leaves the client waiting on each. An upload holds up to
// partsInFlight+1 buffers of Options.PartSize while it streams.
const partsInFlight = 3

// sendPart sends the buffer as the next part of the multipart upload, in
// the background (at most partsInFlight at once); wait collects them.
func (u *upload) sendPart(ctx context.Context) error {
	data := u.key("data")
	if u.st.Multipart == "" {
		id, err := u.s.core.NewMultipartUpload(ctx, u.s.bucket, data, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			u.broken = u.s.fail("begin multipart upload", data, err)
			return u.broken
		}
		u.st.Multipart = id
	}
	n := len(u.st.Parts) + u.dispatched + 1
	if n > 10000 {
		u.broken = fmt.Errorf("upload %s: over 10,000 parts of %d bytes, S3's limit: use a larger part size: %w", u.id, u.s.part, cas.ErrUnsupported)
		return u.broken
	}
	if u.sem == nil {
		u.sem = make(chan struct{}, partsInFlight)
	}
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	buf := u.buf
	u.smu.Lock()
	if k := len(u.free); k > 0 {
		u.buf, u.free = u.free[k-1], u.free[:k-1]
	} else {
		u.buf = make([]byte, 0, u.s.part)
	}
	err := u.sendErr
	u.smu.Unlock()
	u.dispatched++
	u.sending.Add(1)
	go func() {
		defer u.sending.Done()
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		p, err := u.s.core.PutObjectPart(ctx, u.s.bucket, data, u.st.Multipart, n, bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{DisableContentSha256: true})
		u.smu.Lock()
		if err != nil {
			if u.sendErr == nil {
				u.sendErr = u.s.fail("put part "+strconv.Itoa(n), data, err)
			}
		} else {
			u.pending = append(u.pending, part{Number: n, ETag: p.ETag, Size: int64(len(buf))})
		}
		u.free = append(u.free, buf[:0])
		u.smu.Unlock()
		<-u.sem
	}()
	if err != nil { // an earlier part failed: stop reading
		u.broken = err
		return err
	}
	return nil
}

// wait waits for the parts being sent and adds them to the state, in
// order. After a failed part the handle is broken: the state that persist
// wrote last is what a resume continues from (its parts' numbers are sent
// again).
func (u *upload) wait() error {
	u.sending.Wait()
	u.dispatched = 0
	slices.SortFunc(u.pending, func(a, b part) int { return a.Number - b.Number })
	u.st.Parts = append(u.st.Parts, u.pending...)
	u.pending = u.pending[:0]
	if u.sendErr != nil {
		u.broken = u.sendErr
	}
	return u.broken
}

// persist writes the tail under a new generation and then the state, by
// compare-and-swap: a session changed meanwhile through another handle
// (another replica, a purge) makes this one fail rather than overwrite it.
func (u *upload) persist(ctx context.Context) error {
	if err := u.wait(); err != nil || u.ephemeral {
		return err
	}
	st := u.st
	st.Gen++
	st.TailTag = newID()[:8]
	st.Tail = int64(len(u.buf))
	st.Touched = time.Now().UTC()
	st.Hash = marshalHash(u.h)
	tail := u.tailKey(st)
	if st.Tail > 0 {
		if _, err := u.s.putBytes(ctx, tail, u.buf, "-", "application/octet-stream"); err != nil {
			u.broken = err
			return fmt.Errorf("upload %s: %w", u.id, err)
		}
	}
	etag, err := u.s.putJSON(ctx, u.key("state.json"), &st, u.etag)
	if err != nil {
		if st.Tail > 0 {
			_ = u.s.remove(ctx, tail)
		}
		if errors.Is(err, errPrecondition) || errors.Is(err, cas.ErrNotFound) {
			err = fmt.Errorf("upload %s: ended or changed by another request: %w", u.id, cas.ErrNotFound)
		}
		u.broken = err
		return err
	}
	if u.st.Tail > 0 {
		if err := u.s.remove(ctx, u.tailKey(u.st)); err != nil {
			u.s.log.Warn("s3 store: removing an upload's old tail", "upload", u.id, "err", err)
		}
	}
	u.st, u.etag = st, etag
	return nil
}

// Commit implements cas.Upload. The digest is checked against the running
// SHA-256 before anything becomes visible; then the bytes are written to
// their blob key (one PUT for a session within one part, else the parts are
// assembled at uploads/<id>/data and copied to the blob key inside the
// bucket), and only then linked into the repository.
func (u *upload) Commit(ctx context.Context, expected ocispec.Descriptor) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return fmt.Errorf("upload %s: %w", u.id, err)
	}
	if err := u.usable(); err != nil {
		return err
	}
	if err := u.commit(ctx, expected); err != nil {
		return err
	}
	r := &Repo{s: u.s, name: u.st.Repository}
	if _, err := r.addLink(ctx, expected.Digest, expected.Size, ""); err != nil { // through the blob API: a blob
		return fmt.Errorf("upload %s: %w", u.id, err)
	}
	u.end(ctx)
	return nil
}

// commit checks the bytes against expected and writes them at the blob key.
func (u *upload) commit(ctx context.Context, expected ocispec.Descriptor) error {
	d := expected.Digest
	if err := u.wait(); err != nil {
		return err
	}
	if u.st.Size != expected.Size {
		return fmt.Errorf("upload %s: %s: got %d bytes, expected %d: %w", u.id, d, u.st.Size, expected.Size, cas.ErrSizeMismatch)
	}
	var got digest.Digest
	switch {
	case d.Algorithm() == digest.SHA256:
		got = digest.NewDigestFromBytes(digest.SHA256, u.h.Sum(nil))
	case len(u.st.Parts) == 0:
		got = d.Algorithm().FromBytes(u.buf)
	default:
		return fmt.Errorf("upload %s: %s: only sha256 is checked for content over one part (%d bytes): %w", u.id, d, u.s.part, cas.ErrUnsupported)
	}
	if got != d {
		return fmt.Errorf("upload %s: %s: content hashes to %s: %w", u.id, d, got, cas.ErrDigestMismatch)
	}
	if len(u.st.Parts) == 0 {
		return u.s.putBlob(ctx, d, u.buf)
	}
	data := u.key("data")
	if !u.st.Completed {
		if len(u.buf) > 0 {
			err := u.sendPart(ctx)
			if err == nil {
				err = u.wait()
			}
			if err != nil {
				return fmt.Errorf("upload %s: %w", u.id, err)
			}
		}
		parts := make([]minio.CompletePart, len(u.st.Parts))
		for i, p := range u.st.Parts {
			parts[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
		}
		if _, err := u.s.core.CompleteMultipartUpload(ctx, u.s.bucket, data, u.st.Multipart, parts, minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("upload %s: %w", u.id, u.s.fail("complete multipart upload", data, err))
		}
		u.st.Completed = true
	}
	if _, there, err := u.s.stat(ctx, u.s.blobKey(d)); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	} else if !there {
		_, err := u.s.mc.ComposeObject(ctx,
			minio.CopyDestOptions{Bucket: u.s.bucket, Object: u.s.blobKey(d)},
			minio.CopySrcOptions{Bucket: u.s.bucket, Object: data})
		if err != nil {
			return fmt.Errorf("upload %s: %w", u.id, u.s.fail("copy to blob "+d.String(), data, err))
		}
	}
	return nil
}

// end removes the session's objects: the handle is done with.
func (u *upload) end(ctx context.Context) {
	u.ended = true
	u.abort(ctx)
	u.s.forget(u.id)
}

// abort removes what the session holds in the bucket, logging what it
// cannot: an object left behind costs space, not correctness.
func (u *upload) abort(ctx context.Context) {
	_ = u.wait() // no part may land after the abort
	if u.st.Multipart != "" && !u.st.Completed {
		if err := u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key("data"), u.st.Multipart); err != nil {
			if err = u.s.fail("abort multipart upload", u.key("data"), err); !errors.Is(err, cas.ErrNotFound) {
				u.s.log.Warn("s3 store: aborting an upload", "upload", u.id, "err", err)
			}
		}
	}
	keys := []string{u.key("data")}
	if !u.ephemeral {
		keys = append(keys, u.tailKey(u.st), u.key("state.json"))
	}
	for _, k := range keys {
		if err := u.s.remove(ctx, k); err != nil {
			u.s.log.Warn("s3 store: removing an upload's object", "key", k, "err", err)
		}
	}
}

// Cancel implements cas.Upload.
func (u *upload) Cancel(ctx context.Context) error {
	if u.closed {
		return fmt.Errorf("upload %s: %w", u.id, errClosed)
	}
	if u.ended {
		return fmt.Errorf("upload %s: %w", u.id, cas.ErrNotFound)
	}
	u.end(ctx)
	return nil
}

// Close implements cas.Upload: every write is durable already, so there is
// nothing to flush.
func (u *upload) Close() error {
	u.closed = true
	u.buf = nil
	return nil
}

// PurgeUploads implements cas.UploadPurger, for every replica's sessions:
// it reads the state of each session in the bucket and removes those idle
// for too long (by the time of their last write, whichever replica took
// it).
func (s *Store) PurgeUploads(ctx context.Context, opts cas.PurgeOptions) (n int, bytes int64, err error) {
	listed := time.Now()
	expired := opts.Expired(listed)
	root := s.prefix + "uploads/"
	var ids []string
	seen := map[string]bool{}
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root}) {
		if obj.Err != nil {
			return 0, 0, s.fail("list", root, obj.Err)
		}
		if id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, root), "/"); validID(id) {
			ids = append(ids, id)
			seen[id] = true
		}
	}
	// Sessions this replica counts that another ended: gone from the
	// bucket, and begun before the listing (a newer one may be missing
	// from it).
	s.mu.Lock()
	for id, o := range s.sessions {
		if !seen[id] && o.began.Before(listed.Add(-time.Second)) {
			delete(s.sessions, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, bytes, err
		}
		u, err := s.loadUpload(ctx, id)
		if errors.Is(err, cas.ErrNotFound) {
			continue // ended meanwhile, or a state never written
		}
		if err != nil {
			return n, bytes, err
		}
		if !expired(u.st.Size, u.st.Touched) {
			continue
		}
		// Take the session by compare-and-swap, so a write that came
		// since the read keeps it.
		dead := u.st
		dead.Touched = time.Time{}
		if _, err := s.putJSON(ctx, u.key("state.json"), &dead, u.etag); err != nil {
			if errors.Is(err, errPrecondition) {
				continue
			}
			return n, bytes, err
		}
		u.end(ctx)
		n++
		bytes += u.st.Size
	}
	return n, bytes, nil
}
