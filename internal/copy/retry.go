package copy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultRetries is the number of retries of a failing transfer when
// Options.Retries is not set: enough to ride out a registry restart or a
// dropped connection, few enough that a copy that cannot succeed says so
// within seconds.
const DefaultRetries = 3

// maxRetryAfter bounds how long a store's own demand to wait (a registry's
// Retry-After) holds a transfer: a copy that would sleep for an hour is
// better reported as failed.
const maxRetryAfter = time.Minute

// DefaultBackoff is the wait before retry n (1 for the first) when
// Options.Backoff is not set: 500 ms doubling at each retry up to 10 s,
// each wait drawn at random within ±20 % so that the transfers of a copy,
// and copies of many machines, that failed at once do not retry at once.
func DefaultBackoff(retry int) time.Duration {
	d := 500 * time.Millisecond << min(max(retry-1, 0), 5)
	d = min(d, 10*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryAfter is what a store's error says of when to try again (remote's
// errors for a Retry-After header have it). cas.ErrTransient documents it.
type retryAfter interface{ RetryAfter() time.Duration }

// gaveUp is a transient error that exhausted the retries: no longer worth
// retrying, however many layers see it.
type gaveUp struct {
	tries int
	err   error
}

func (e *gaveUp) Error() string {
	if e.tries == 1 {
		return fmt.Sprintf("gave up after 1 attempt (retries are off): %v", e.err)
	}
	return fmt.Sprintf("gave up after %d attempts: %v", e.tries, e.err)
}

func (e *gaveUp) Unwrap() error { return e.err }

// transient reports whether err is worth retrying: the store said so
// (cas.ErrTransient), the retries for it are not exhausted, and the copy
// itself is not being cancelled.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, cas.ErrTransient) && !errors.As(err, new(*gaveUp))
}

// attempts counts the transient failures of one transfer (a blob or a
// manifest) against Options.Retries. A failure counts only if the transfer
// made no progress since the one before: a blob that resumes past the
// furthest byte it had reached starts a fresh count, so a long layer over a
// flaky link gets there, while a source that always fails at the same
// point, or a restart from zero that only gets back to it, uses the count
// up.
type attempts struct {
	c        *copier
	desc     ocispec.Descriptor
	failures int
	mark     int64 // the furthest offset reached
}

// progress records that the transfer has reached offset.
func (a *attempts) progress(offset int64) {
	if offset > a.mark {
		a.mark = offset
		a.failures = 0
	}
}

// again decides what to do after err: it returns nil, once it has waited
// the backoff, when err is transient and retries remain; otherwise the
// error to fail with (err itself, or a *gaveUp wrapping it).
func (a *attempts) again(ctx context.Context, err error) error {
	if !transient(ctx, err) {
		return err
	}
	a.failures++
	if a.failures > a.c.retries {
		return &gaveUp{tries: a.failures, err: err}
	}
	wait := a.c.backoff(a.failures)
	var ra retryAfter
	if errors.As(err, &ra) {
		wait = max(wait, min(ra.RetryAfter(), maxRetryAfter))
	}
	a.c.event(Event{Kind: EventRetry, Desc: a.desc, Bytes: a.mark, Err: err})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return err
	}
}

// retry runs op until it succeeds or fails for good, for transfers that
// restart from the beginning (manifests, existence checks, mounts, tags).
func (c *copier) retry(ctx context.Context, desc ocispec.Descriptor, op func() error) error {
	a := &attempts{c: c, desc: desc}
	for {
		err := op()
		if err == nil {
			return nil
		}
		if err := a.again(ctx, err); err != nil {
			return err
		}
	}
}

// resumer reads a blob from the source and, when the stream fails with a
// transient error, continues where it stopped with a ranged read
// (cas.RangeFetcher) instead of failing: the bytes already read, which the
// verifier outside has hashed and the destination has written, are neither
// fetched nor hashed again. A source that cannot read ranges makes it fail,
// and the caller restarts the blob from zero.
type resumer struct {
	ctx   context.Context
	desc  ocispec.Descriptor
	rf    cas.RangeFetcher // nil: no resuming
	tries *attempts
	rc    io.ReadCloser // nil once closed
	n     int64         // bytes read so far, the offset to resume at
	err   error         // sticky: the source's failure, once given up
}

// Read implements io.Reader.
func (r *resumer) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.rc.Read(p)
	r.n += int64(n)
	r.tries.progress(r.n)
	if err == nil || err == io.EOF {
		return n, err
	}
	// Reconnect before returning: the n bytes read are good, and the
	// error must not reach the verifier or the destination, which would
	// throw away what they have.
	if err := r.resume(err); err != nil {
		r.err = err
		return n, err
	}
	return n, nil
}

// resume replaces the failed stream with one from offset r.n, retrying a
// failing ranged read within the same count.
func (r *resumer) resume(err error) error {
	for {
		if r.rf == nil || !transient(r.ctx, err) {
			return err
		}
		if err := r.tries.again(r.ctx, err); err != nil {
			return err
		}
		if r.rc != nil {
			r.rc.Close()
			r.rc = nil
		}
		rc, ferr := r.rf.FetchRange(r.ctx, r.desc, r.n, -1)
		if ferr == nil {
			r.rc = rc
			return nil
		}
		err = ferr
	}
}

// Close closes the current stream.
func (r *resumer) Close() error {
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}
