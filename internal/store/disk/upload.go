package disk

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names inside .gantry/uploads/<id>/.
const (
	uploadsDir = "uploads"
	uploadData = "data"
	uploadInfo = "info.json"
)

var (
	_ cas.Ingester      = (*Repo)(nil)
	_ cas.UploadPurger  = (*Store)(nil)
	_ cas.UploadCounter = (*Store)(nil)
	_ io.ReaderFrom     = (*upload)(nil)
)

// A ReadFrom reads its first rampBytes through a firstRead buffer, written
// out as they come, and only then takes the megabyte buffers of its
// pipeline. A client that opens an upload and sends nothing holds these few
// bytes and no file descriptor; one that sends a little and stalls holds
// them and the data file; it takes rampBytes sent to hold a megabyte (and
// Options.MaxUploads of the registry bounds how many can).
const (
	firstRead = 16 << 10
	rampBytes = 256 << 10
)

// errUploadClosed is returned by an Upload value used after its Close.
var errUploadClosed = errors.New("upload value closed")

// sessionInfo is .gantry/uploads/<id>/info.json: what a session is, so it
// can be resumed after a restart.
type sessionInfo struct {
	Repository string    `json:"repository"`
	StartedAt  time.Time `json:"startedAt"`
}

// session is one upload, shared by every Upload value that names it. The
// Store keeps every live session in its uploads map (Open loads those a
// previous run left, NewUpload adds new ones, and a session leaves the map
// when it ends), so resuming one between two requests costs a map lookup,
// and an ID that is not in the map names no session: it is refused without
// a file system access or an allocation. A session loaded after a restart
// is re-hashed on first use.
//
// Lock order: session.mu, then Store.umu.
type session struct {
	id string

	mu      sync.Mutex
	loaded  bool // repo and started are set (immutable afterwards)
	ended   bool // committed, cancelled, purged or never valid
	repo    string
	started time.Time
	touched time.Time  // last write, for PurgeUploads
	size    int64      // bytes in the data file
	h       hash.Hash  // sha256 of the size bytes; nil: re-hash before use
	w       fileWriter // writes the data file; w.f open while handles > 0
	handles int
}

// newUploadID returns 128 random bits as 32 hex digits: unguessable,
// URL-safe, and a safe file name.
func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validUploadID reports whether id could have come from newUploadID. Only
// such ids ever reach the file system.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Store) uploadPath(id string, elem ...string) string {
	return s.path(append([]string{stateDir, uploadsDir, id}, elem...)...)
}

// spaceErr explains a full disk, naming the upload.
func (s *Store) spaceErr(id string, size int64, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("upload %s: store %s: no space left after %d bytes (the bytes written so far are kept; free space on that file system and resume, or cancel the upload): %w", id, s.dir, size, err)
	}
	return fmt.Errorf("upload %s: %w", id, err)
}

// NewUpload implements cas.Ingester. The session is a directory under
// .gantry/uploads holding the data file and info.json. Creating it syncs
// nothing: a session is cheap, and one a crash loses is one the client
// starts over.
func (r *Repo) NewUpload(ctx context.Context) (cas.Upload, error) {
	s := r.s
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.shut.Load() {
		return nil, fmt.Errorf("new upload in %s: store %s: %w", r.name, s.dir, errClosed)
	}
	now := time.Now()
	sess := &session{id: newUploadID(), loaded: true, repo: r.name, started: now, touched: now, h: sha256.New()}
	// In the map, locked, before its directory exists: PurgeUploads never
	// sees a half-made session as garbage.
	sess.mu.Lock()
	defer sess.mu.Unlock()
	s.track(sess)
	err := func() error {
		if err := os.Mkdir(s.uploadPath(sess.id), 0o755); err != nil {
			return err
		}
		info, _ := json.Marshal(sessionInfo{Repository: r.name, StartedAt: now})
		if err := os.WriteFile(s.uploadPath(sess.id, uploadInfo), info, 0o644); err != nil {
			return err
		}
		p := s.uploadPath(sess.id, uploadData)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		sess.w = fileWriter{path: p, f: f}
		return err
	}()
	if err != nil {
		s.endLocked(sess)
		return nil, fmt.Errorf("new upload in %s: %w", r.name, s.spaceErr(sess.id, 0, err))
	}
	sess.handles = 1
	return &upload{s: s, sess: sess}, nil
}

// ResumeUpload implements cas.Ingester.
func (r *Repo) ResumeUpload(ctx context.Context, id string) (cas.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	notFound := fmt.Errorf("upload %s in %s: %w", id, r.name, cas.ErrNotFound)
	if !validUploadID(id) {
		return nil, notFound
	}
	if r.s.shut.Load() {
		return nil, fmt.Errorf("upload %s: store %s: %w", id, r.s.dir, errClosed)
	}
	sess := r.s.session(id)
	if sess == nil {
		return nil, notFound
	}
	defer sess.mu.Unlock()
	if sess.ended || sess.repo != r.name {
		return nil, notFound
	}
	sess.handles++
	return &upload{s: r.s, sess: sess}, nil
}

// session returns the live session called id, locked, or nil when there is
// none: every live session is in the map.
func (s *Store) session(id string) *session {
	s.umu.Lock()
	sess := s.uploads[id]
	s.umu.Unlock()
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	return sess
}

// track puts sess, loaded, in the map and counts it for its repository;
// sess.mu is held or sess is not shared yet.
func (s *Store) track(sess *session) {
	s.umu.Lock()
	s.uploads[sess.id] = sess
	s.perRepo[sess.repo]++
	s.umu.Unlock()
}

// loadUploads puts the sessions a previous run left in the map, at Open. A
// directory that is not a whole session is removed (loadSession); one that
// cannot be read is logged and left for PurgeUploads, which tries again and
// reports the error.
func (s *Store) loadUploads() {
	entries, err := os.ReadDir(s.path(stateDir, uploadsDir))
	if err != nil {
		s.opts.Logger.Warn("listing upload sessions", "store", s.dir, "err", err)
		return
	}
	for _, e := range entries {
		if !validUploadID(e.Name()) {
			continue
		}
		sess := &session{id: e.Name()}
		if err := s.loadSession(sess); err != nil {
			s.opts.Logger.Warn("cannot read an upload session; it is left in place", "store", s.dir, "upload", sess.id, "err", err)
			continue
		}
		if !sess.ended {
			s.track(sess)
		}
	}
}

// OpenUploads implements cas.UploadCounter from the map, without a file
// system access.
func (s *Store) OpenUploads(_ context.Context, repository string) (inRepository, total int, err error) {
	s.umu.Lock()
	defer s.umu.Unlock()
	return s.perRepo[repository], len(s.uploads), nil
}

// loadSession reads a session's directory; sess.mu is held. A directory
// that is not a whole session (a crash during NewUpload, or after Commit's
// rename) is removed and the session ended.
func (s *Store) loadSession(sess *session) error {
	dir := s.uploadPath(sess.id)
	b, err := os.ReadFile(filepath.Join(dir, uploadInfo))
	var info sessionInfo
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(filepath.Join(dir, uploadData))
	}
	if err != nil {
		if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
			sess.ended = true
			return nil
		}
		if errors.Is(err, os.ErrPermission) || (!errors.Is(err, os.ErrNotExist) && !isJSONError(err)) {
			return fmt.Errorf("upload %s: store %s: %w", sess.id, s.dir, err)
		}
		s.opts.Logger.Warn("removing an incomplete upload session", "store", s.dir, "upload", sess.id, "err", err)
		os.RemoveAll(dir)
		sess.ended = true
		return nil
	}
	if fi.Mode().Perm()&0o200 == 0 {
		// A crash between Commit's chmod and its rename: writable again.
		if err := os.Chmod(filepath.Join(dir, uploadData), 0o644); err != nil {
			return fmt.Errorf("upload %s: store %s: %w", sess.id, s.dir, err)
		}
	}
	sess.loaded = true
	sess.repo, sess.started = info.Repository, info.StartedAt
	sess.size, sess.w.synced = fi.Size(), fi.Size()
	sess.touched = fi.ModTime()
	return nil
}

func isJSONError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF)
}

// forget removes sess from the map and marks it ended; sess.mu is held.
func (s *Store) forget(sess *session) {
	sess.ended = true
	sess.closeFiles()
	sess.h = nil
	s.umu.Lock()
	if s.uploads[sess.id] == sess {
		delete(s.uploads, sess.id)
		if n := s.perRepo[sess.repo] - 1; n > 0 {
			s.perRepo[sess.repo] = n
		} else {
			delete(s.perRepo, sess.repo)
		}
	}
	s.umu.Unlock()
}

// endLocked ends sess and removes its directory; sess.mu is held.
func (s *Store) endLocked(sess *session) error {
	s.forget(sess)
	if err := os.RemoveAll(s.uploadPath(sess.id)); err != nil {
		return fmt.Errorf("upload %s: store %s: removing the session: %w", sess.id, s.dir, err)
	}
	return nil
}

// PurgeUploads implements cas.UploadPurger. Sessions in use by a request
// at the moment are skipped: they are not idle. A directory that is not in
// the map (Open could not read it) is read again here, and removed if it is
// not a whole session.
func (s *Store) PurgeUploads(ctx context.Context, opts cas.PurgeOptions) (n int, bytes int64, err error) {
	entries, err := os.ReadDir(s.path(stateDir, uploadsDir))
	if err != nil {
		return 0, 0, fmt.Errorf("store %s: %w", s.dir, err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		if validUploadID(e.Name()) {
			ids[e.Name()] = true
		}
	}
	s.umu.Lock()
	for id := range s.uploads {
		ids[id] = true
	}
	s.umu.Unlock()
	expired := opts.Expired(time.Now())
	for id := range ids {
		if err := ctx.Err(); err != nil {
			return n, bytes, err
		}
		s.umu.Lock()
		sess, ok := s.uploads[id]
		s.umu.Unlock()
		if ok {
			if !sess.mu.TryLock() {
				continue // busy
			}
		} else {
			sess = &session{id: id}
			sess.mu.Lock() // new: nobody else can hold it
			if err := s.loadSession(sess); err != nil {
				sess.mu.Unlock()
				return n, bytes, err
			}
			if !sess.ended {
				s.track(sess)
			}
		}
		if !sess.ended && sess.loaded && expired(sess.size, sess.touched) {
			size := sess.size
			if err := s.endLocked(sess); err != nil {
				sess.mu.Unlock()
				return n, bytes, err
			}
			n++
			bytes += size
		}
		sess.mu.Unlock()
	}
	return n, bytes, nil
}

// closeUploads closes the data files of live sessions; Close calls it once
// shut is set, so no handle opens them again.
func (s *Store) closeUploads() {
	s.umu.Lock()
	all := make([]*session, 0, len(s.uploads))
	for _, sess := range s.uploads {
		all = append(all, sess)
	}
	s.umu.Unlock()
	for _, sess := range all {
		sess.mu.Lock()
		sess.closeFiles()
		sess.mu.Unlock()
	}
}

// upload is one handle on a session. Its methods lock the session, so two
// handles on one session (a client racing itself) stay consistent.
type upload struct {
	s      *Store
	sess   *session
	closed bool
}

// ID implements cas.Upload.
func (u *upload) ID() string { return u.sess.id }

// StartedAt implements cas.Upload.
func (u *upload) StartedAt() time.Time { return u.sess.started }

// Size implements cas.Upload.
func (u *upload) Size() int64 {
	u.sess.mu.Lock()
	defer u.sess.mu.Unlock()
	return u.sess.size
}

// use locks the session for a call and checks it can be used; on success
// the caller unlocks it.
func (u *upload) use() (*session, error) {
	sess := u.sess
	if u.closed {
		return nil, fmt.Errorf("upload %s: %w", sess.id, errUploadClosed)
	}
	sess.mu.Lock()
	switch {
	case sess.ended:
		sess.mu.Unlock()
		return nil, fmt.Errorf("upload %s: %w", sess.id, cas.ErrNotFound)
	case u.s.shut.Load():
		sess.mu.Unlock()
		return nil, fmt.Errorf("upload %s: store %s: %w", sess.id, u.s.dir, errClosed)
	}
	return sess, nil
}

// prepare opens the data file for appending and, if rehash is set,
// re-hashes it when the session has no running hash (resumed after a
// restart, or a failed write); sess.mu is held.
func (u *upload) prepare(ctx context.Context, rehash bool) error {
	sess := u.sess
	p := u.s.uploadPath(sess.id, uploadData)
	if sess.w.f == nil {
		f, err := u.s.openContent(p, os.O_WRONLY)
		if err != nil {
			return fmt.Errorf("upload %s: %w", sess.id, err)
		}
		sess.w.path, sess.w.f = p, f
	}
	if sess.h == nil && rehash {
		h, n, err := u.s.hashPath(ctx, p, digest.SHA256)
		if err != nil {
			return fmt.Errorf("upload %s: re-hashing the bytes written so far: %w", sess.id, err)
		}
		sess.h, sess.size = h, n
	}
	return nil
}

// hashPath hashes the file at p with alg.
func (s *Store) hashPath(ctx context.Context, p string, alg digest.Algorithm) (hash.Hash, int64, error) {
	f, err := s.openContent(p, os.O_RDONLY)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := alg.Hash()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		k, err := f.Read(*bp)
		h.Write((*bp)[:k])
		n += int64(k)
		if err == io.EOF {
			return h, n, nil
		}
		if err != nil {
			return nil, n, err
		}
	}
}

// append writes b at the end of the data file (at sess.size: the file is
// not opened O_APPEND, since its whole blocks are written with O_DIRECT
// through a second descriptor); sess.mu is held and the session prepared.
// It does not hash.
func (sess *session) append(b []byte) (int, error) {
	sess.w.off = sess.size
	n, err := sess.w.write(b)
	sess.size = sess.w.off
	return n, err
}

// closeFiles closes the data file's descriptors; sess.mu is held.
func (sess *session) closeFiles() error {
	sess.w.closeDirect()
	if sess.w.f == nil {
		return nil
	}
	err := sess.w.f.Close()
	sess.w.f = nil
	return err
}

// Write implements cas.Upload: it appends p to the data file and to the
// running hash.
func (u *upload) Write(p []byte) (int, error) {
	sess, err := u.use()
	if err != nil {
		return 0, err
	}
	defer sess.mu.Unlock()
	if err := u.prepare(context.Background(), true); err != nil {
		return 0, err
	}
	sess.touched = time.Now()
	if len(p) <= 2*copyBuffer {
		n, err := sess.append(p)
		sess.h.Write(p[:n])
		if err != nil {
			return n, u.s.spaceErr(sess.id, sess.size, err)
		}
		return n, nil
	}
	// A large chunk: hash it here while another goroutine writes it, since
	// both only read p.
	var (
		n    int
		werr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		n, werr = sess.append(p)
	}()
	sess.h.Write(p)
	<-done
	if werr != nil {
		sess.h = nil // hashed past what was written: re-hash at next use
		return n, u.s.spaceErr(sess.id, sess.size, werr)
	}
	return n, nil
}

// ReadFrom appends what r yields until io.EOF, reading 1 MiB at a time past
// its first rampBytes, so the registry's io.Copy(upload, body) is one read,
// hash and write loop. Past the first big buffer the caller's goroutine
// reads while a second hashes and a third writes. It opens the data file
// only once bytes came.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	sess, err := u.use()
	if err != nil {
		return 0, err
	}
	defer sess.mu.Unlock()
	small := make([]byte, firstRead)
	k, rerr := readSome(r, small)
	if k == 0 {
		return 0, readFromErr(rerr)
	}
	if err := u.prepare(context.Background(), true); err != nil {
		return 0, err
	}
	defer func() { sess.touched = time.Now() }()
	start := sess.size
	for {
		w, werr := sess.append(small[:k])
		sess.h.Write(small[:w])
		if werr != nil {
			return sess.size - start, u.s.spaceErr(sess.id, sess.size, werr)
		}
		if rerr != nil {
			return sess.size - start, readFromErr(rerr)
		}
		if sess.size-start >= rampBytes {
			break
		}
		k, rerr = readSome(r, small)
	}

	bp := bufPool.Get().(*[]byte)
	n, rerr := io.ReadFull(r, *bp)
	if rerr != nil { // the rest of the body fits in one buffer (or failed)
		defer bufPool.Put(bp)
		k, werr := sess.append((*bp)[:n])
		sess.h.Write((*bp)[:k])
		if werr != nil {
			return sess.size - start, u.s.spaceErr(sess.id, sess.size, werr)
		}
		return sess.size - start, readFromErr(rerr)
	}

	type chunk struct {
		b *[]byte
		n int
	}
	free := make(chan *[]byte, pipelineDepth)
	full := make(chan chunk, pipelineDepth)
	for range pipelineDepth - 1 {
		free <- bufPool.Get().(*[]byte)
	}
	werr := make(chan error, 1)
	stop := make(chan struct{}) // closed when the writer fails
	// Three stages on their own goroutines: this one reads the body, the
	// next hashes, the last writes. Hashing is the slowest (about 2 GB/s
	// with SHA-NI); reading the socket beside it would slow it down.
	hashed := make(chan chunk, pipelineDepth)
	go func() {
		for c := range full {
			sess.h.Write((*c.b)[:c.n])
			hashed <- c
		}
		close(hashed)
	}()
	go func() {
		var err error
		for c := range hashed {
			if err == nil {
				if _, err = sess.append((*c.b)[:c.n]); err != nil {
					close(stop)
				}
			}
			free <- c.b
		}
		werr <- err
	}()
loop:
	for {
		full <- chunk{bp, n}
		if rerr != nil {
			break
		}
		select {
		case bp = <-free:
			if stopped(stop) {
				free <- bp
				break loop
			}
		case <-stop:
			break loop
		}
		n, rerr = io.ReadFull(r, *bp)
		if n == 0 && rerr != nil {
			free <- bp
			break
		}
	}
	close(full)
	err = <-werr
	for range pipelineDepth {
		bufPool.Put(<-free)
	}
	if err != nil {
		// The hash ran ahead of the file: cut the file back to what was
		// written and re-hash it at the next use.
		sess.h = nil
		if terr := sess.w.f.Truncate(sess.size); terr != nil {
			sess.closeFiles()
		}
		return sess.size - start, u.s.spaceErr(sess.id, sess.size, err)
	}
	return sess.size - start, readFromErr(rerr)
}

// readSome reads into b until at least one byte or an error comes.
func readSome(r io.Reader, b []byte) (int, error) {
	for {
		n, err := r.Read(b)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func stopped(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// readFromErr turns the end of a body into ReadFrom's nil.
func readFromErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// Commit implements cas.Upload: verify against the running hash (or a
// re-hash for another algorithm), fsync, make read-only, rename the data
// file into blobs/ (the bytes are never copied) and fsync the directory.
func (u *upload) Commit(ctx context.Context, expected ocispec.Descriptor) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return fmt.Errorf("upload %s: %w", u.sess.id, err)
	}
	sess, err := u.use()
	if err != nil {
		return err
	}
	defer sess.mu.Unlock()
	d := expected.Digest
	if err := u.prepare(ctx, d.Algorithm() == digest.SHA256); err != nil {
		return err
	}
	if sess.size != expected.Size {
		return fmt.Errorf("upload %s: %s: got %d bytes, expected %d: %w", sess.id, d, sess.size, expected.Size, cas.ErrSizeMismatch)
	}
	src := u.s.uploadPath(sess.id, uploadData)
	var got digest.Digest
	if d.Algorithm() == digest.SHA256 {
		got = digest.NewDigestFromBytes(digest.SHA256, sess.h.Sum(nil))
	} else {
		h, _, err := u.s.hashPath(ctx, src, d.Algorithm())
		if err != nil {
			return fmt.Errorf("upload %s: hashing with %s: %w", sess.id, d.Algorithm(), err)
		}
		got = digest.NewDigestFromBytes(d.Algorithm(), h.Sum(nil))
	}
	if got != d {
		return fmt.Errorf("upload %s: %s: content hashes to %s: %w", sess.id, d, got, cas.ErrDigestMismatch)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upload %s: %w", sess.id, err)
	}
	dst := u.s.blobPath(d)
	defer u.s.pin(d)() // what the stat finds, or the rename puts, stays until linked
	if _, err := statContent(dst); err == nil {
		// Another repository's bytes, or this one's: the client proved
		// it has them, so the repository holds them now.
		if err := u.s.link(sess.repo, d, ""); err != nil {
			return fmt.Errorf("upload %s: %w", sess.id, err)
		}
		return u.s.endLocked(sess)
	}
	if err := sess.w.f.Sync(); err != nil {
		return u.s.spaceErr(sess.id, sess.size, fmt.Errorf("syncing: %w", err))
	}
	if err := sess.w.f.Chmod(0o444); err != nil {
		return fmt.Errorf("upload %s: %w", sess.id, err)
	}
	if err := u.s.ensureAlgDir(d.Algorithm()); err != nil {
		return fmt.Errorf("upload %s: %s: %w", sess.id, d, err)
	}
	if err := os.Rename(src, dst); err != nil {
		sess.w.f.Chmod(0o644)
		return fmt.Errorf("upload %s: %s: %w", sess.id, d, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		// The blob is in place; only its durability is in doubt. The
		// session is over either way.
		u.s.endLocked(sess)
		return fmt.Errorf("upload %s: %s: syncing %s: %w", sess.id, d, filepath.Dir(dst), err)
	}
	if err := u.s.link(sess.repo, d, ""); err != nil {
		// The bytes are durable but belong to no repository: the client
		// sees a failed commit and uploads again, which links them.
		u.s.endLocked(sess)
		return fmt.Errorf("upload %s: %w", sess.id, err)
	}
	return u.s.endLocked(sess)
}

// Cancel implements cas.Upload.
func (u *upload) Cancel(context.Context) error {
	sess, err := u.use()
	if err != nil {
		return err
	}
	defer sess.mu.Unlock()
	return u.s.endLocked(sess)
}

// Close implements cas.Upload. The last handle of a session closes its
// data file, so idle sessions hold no file descriptor.
func (u *upload) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	sess := u.sess
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.handles--
	if sess.handles <= 0 {
		if err := sess.closeFiles(); err != nil {
			return fmt.Errorf("upload %s: %w", sess.id, err)
		}
	}
	return nil
}
