package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
)

// Defaults of the Options that bound what clients may hold. They are sized
// for one server with a few GB of memory: a flowing upload into the disk
// store holds up to 4 MiB of buffers, so DefaultMaxUploads flowing at once
// is about 1 GiB, and a stalled one holds a few KiB until
// DefaultBodyIdleTimeout ends it.
const (
	// DefaultBodyIdleTimeout is how long a request body may go without a
	// byte before the request fails.
	DefaultBodyIdleTimeout = 30 * time.Second
	// DefaultMaxUploads bounds the upload requests (POST, PATCH, PUT of
	// /blobs/uploads/) served at once, over all repositories.
	DefaultMaxUploads = 256
	// DefaultMaxRepositoryUploads bounds the upload requests served at
	// once in one repository.
	DefaultMaxRepositoryUploads = 64
	// DefaultMaxSessions bounds the upload sessions open in the store.
	DefaultMaxSessions = 10000
	// DefaultMaxRepositorySessions bounds the upload sessions open in one
	// repository.
	DefaultMaxRepositorySessions = 1000
)

// retryAfterBusy is the Retry-After of a 429 for too many uploads in
// flight: requests finish in seconds, or their bodies stall and the idle
// timeout ends them. retryAfterSessions is the one for too many open
// sessions, which end when clients finish them or when they expire
// (minutes for those never written to).
const (
	retryAfterBusy     = 5 * time.Second
	retryAfterSessions = time.Minute
)

// drainSlack is how far past a body limit the server reads (and discards)
// a request body before it answers 413. A client that streams its body
// before reading the answer (most do) would otherwise meet a reset
// connection and report a broken pipe instead of the error; a body larger
// still is not worth reading, and its client gets the reset.
const drainSlack = 1 << 20

// bound returns the bound an Options field sets: def for 0, none (-1) for
// a negative value.
func bound(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// uploadLimiter counts the upload requests in flight, in total and per
// repository. A repository's entry is removed when its count drops to 0,
// so the map holds only the repositories being uploaded to.
type uploadLimiter struct {
	mu      sync.Mutex
	total   int
	perRepo map[string]int
}

// acquire counts one more upload request in repo unless that would pass a
// bound (-1: none), and returns its release.
func (l *uploadLimiter) acquire(repo string, maxTotal, maxRepo int) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (maxTotal >= 0 && l.total >= maxTotal) || (maxRepo >= 0 && l.perRepo[repo] >= maxRepo) {
		return nil, false
	}
	l.total++
	l.perRepo[repo]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if n := l.perRepo[repo] - 1; n > 0 {
			l.perRepo[repo] = n
		} else {
			delete(l.perRepo, repo)
		}
	}, true
}

// tooMany answers 429 TOOMANYREQUESTS with a Retry-After in seconds.
// The request's body, if any, is read up to drainSlack first, so that a
// client streaming a blob gets to read the answer.
func (rq *request) tooMany(retry time.Duration, format string, args ...any) {
	rq.drain(drainSlack)
	rq.w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	rq.fail(newError(CodeTooManyRequests, format, args...), kindUpload)
}

// admitUpload counts an upload request against Options.MaxUploads and
// MaxRepositoryUploads. It answers 429 itself and returns false when a
// bound is reached; the caller defers the release otherwise.
func (rq *request) admitUpload() (release func(), ok bool) {
	o := rq.reg.opts
	release, ok = rq.reg.uploads.acquire(rq.name, o.MaxUploads, o.MaxRepositoryUploads)
	if !ok {
		rq.tooMany(retryAfterBusy, "too many uploads in progress (at most %d in all, %d per repository); retry later", o.MaxUploads, o.MaxRepositoryUploads)
	}
	return release, ok
}

// sessionGate makes a session cap's check and the session's creation one
// step: the store counts a session only once NewUpload has made it, so
// the POSTs between a check and their NewUpload are counted here, and
// concurrent POSTs cannot all take the last slot.
type sessionGate struct {
	mu      sync.Mutex
	total   int
	perRepo map[string]int
}

// admitSession checks Options.MaxSessions and MaxRepositorySessions before
// a new session, from the store's own count (cas.UploadCounter; a store
// that cannot count is not bounded here) and the sessions being created.
// It answers 429 itself and returns false when a bound is reached;
// otherwise the caller calls done once NewUpload has returned. A POST that
// races with a session being made may count that session twice (the store
// counts it before done is called) and be refused: the bound is never
// passed, and the client retries after Retry-After.
func (rq *request) admitSession() (done func(), ok bool) {
	c, ok := rq.reg.store.(cas.UploadCounter)
	o := rq.reg.opts
	if !ok || (o.MaxSessions < 0 && o.MaxRepositorySessions < 0) {
		return func() {}, true
	}
	g := &rq.reg.creating
	g.mu.Lock()
	defer g.mu.Unlock()
	inRepo, total, err := c.OpenUploads(rq.r.Context(), rq.name)
	if err != nil {
		rq.fail(err, kindUpload)
		return nil, false
	}
	inRepo += g.perRepo[rq.name]
	total += g.total
	if (o.MaxRepositorySessions >= 0 && inRepo >= o.MaxRepositorySessions) || (o.MaxSessions >= 0 && total >= o.MaxSessions) {
		rq.tooMany(retryAfterSessions, "too many upload sessions open (%d in this repository, at most %d; %d in all, at most %d): finish or cancel some, or wait for idle ones to expire", inRepo, o.MaxRepositorySessions, total, o.MaxSessions)
		return nil, false
	}
	g.total++
	g.perRepo[rq.name]++
	name := rq.name
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.total--
		if n := g.perRepo[name] - 1; n > 0 {
			g.perRepo[name] = n
		} else {
			delete(g.perRepo, name)
		}
	}, true
}

// bodyReader reads a request body. A read that makes no progress for idle
// fails (through a read deadline on the connection, renewed as bytes
// arrive), so a client that stalls gives its connection back. Its read
// errors are marked as the client's (a dropped connection, a truncated
// chunked body, a stall), so they answer 4xx and are not logged as server
// faults.
type bodyReader struct {
	r    io.Reader
	rc   *http.ResponseController // nil: no idle timeout
	idle time.Duration
	set  time.Time // when the deadline was last moved
}

// newBodyReader reads r, the body of rq or a reader over it.
func (rq *request) newBodyReader(r io.Reader) *bodyReader {
	b := &bodyReader{r: r, idle: rq.reg.opts.BodyIdleTimeout}
	if b.idle > 0 {
		b.rc = http.NewResponseController(rq.w)
	}
	return b
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.rc != nil {
		// Moving the deadline costs a timer update; once per eighth of
		// the timeout is enough to fail a stall between 7/8 and all of
		// it after the last byte.
		if now := time.Now(); now.Sub(b.set) > b.idle/8 {
			if err := b.rc.SetReadDeadline(now.Add(b.idle)); err != nil {
				b.rc = nil // a ResponseWriter that cannot: no timeout
			}
			b.set = now
		}
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		// net/http reads the connection in the background once the body
		// is done (to notice a client that goes away); a deadline left
		// set would cancel the request if the handler works on past it.
		b.clearDeadline()
	case err != nil:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = bodyIdleError{b.idle}
		}
		err = clientReadError{err}
	}
	return n, err
}

// clearDeadline removes the idle deadline, once the body is read.
func (b *bodyReader) clearDeadline() {
	if b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
		b.rc = nil
	}
}

// bodyIdleError is a request body that stalled.
type bodyIdleError struct{ idle time.Duration }

func (e bodyIdleError) Error() string {
	return fmt.Sprintf("no bytes of the request body for %s", e.idle)
}

// drain reads and discards up to n bytes of the request body, so a client
// that sends its whole body before reading the answer gets to read it.
func (rq *request) drain(n int64) {
	_, _ = io.CopyN(io.Discard, rq.newBodyReader(rq.r.Body), n)
}
