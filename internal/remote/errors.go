package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// ErrUnauthorized is wrapped by errors of requests the registry refused for
// want of credentials (401, UNAUTHORIZED) or permission (403, DENIED). It is
// not a cas sentinel because no other store has logins; callers that want to
// tell users to log in test for it.
var ErrUnauthorized = errors.New("unauthorized")

// errorCodes maps the error codes of distribution-spec v1.1 ("Error Codes")
// to cas sentinels. A code decides over the HTTP status, which is only
// consulted (statusErrors) when no code of the response is known.
//
// MANIFEST_BLOB_UNKNOWN (a manifest names a blob the repository lacks) maps
// to cas.ErrNotFound, not cas.ErrInvalid: the manifest is well formed, what
// is wrong is missing content, and a caller that sees ErrNotFound knows to
// push the children first, as the copy engine does.
var errorCodes = map[string]error{
	errcode.ErrorCodeBlobUnknown:         cas.ErrNotFound,
	errcode.ErrorCodeManifestUnknown:     cas.ErrNotFound,
	errcode.ErrorCodeNameUnknown:         cas.ErrNotFound,
	errcode.ErrorCodeManifestBlobUnknown: cas.ErrNotFound,
	errcode.ErrorCodeDigestInvalid:       cas.ErrDigestMismatch,
	errcode.ErrorCodeSizeInvalid:         cas.ErrSizeMismatch,
	errcode.ErrorCodeNameInvalid:         cas.ErrInvalid,
	"TAG_INVALID":                        cas.ErrInvalid,
	errcode.ErrorCodeManifestInvalid:     cas.ErrInvalid,
	errcode.ErrorCodeBlobUploadInvalid:   cas.ErrInvalid,
	errcode.ErrorCodeUnsupported:         cas.ErrUnsupported,
	errcode.ErrorCodeUnauthorized:        ErrUnauthorized,
	errcode.ErrorCodeDenied:              ErrUnauthorized,
	"TOOMANYREQUESTS":                    cas.ErrTransient,
}

// statusErrors maps HTTP statuses to cas sentinels when the response
// carries no known error code (HEAD responses never carry a body). The
// statuses of a server overloaded, restarting or behind a failing proxy
// are transient: the same request may succeed later (UNKNOWN, the code of
// a 500, is left to its status for that reason).
var statusErrors = map[int]error{
	http.StatusNotFound:                     cas.ErrNotFound,
	http.StatusMethodNotAllowed:             cas.ErrUnsupported,
	http.StatusRequestedRangeNotSatisfiable: cas.ErrInvalid,
	http.StatusUnauthorized:                 ErrUnauthorized,
	http.StatusForbidden:                    ErrUnauthorized,
	http.StatusRequestTimeout:               cas.ErrTransient,
	http.StatusTooManyRequests:              cas.ErrTransient,
	http.StatusInternalServerError:          cas.ErrTransient,
	http.StatusBadGateway:                   cas.ErrTransient,
	http.StatusServiceUnavailable:           cas.ErrTransient,
	http.StatusGatewayTimeout:               cas.ErrTransient,
}

// classify returns the sentinel an error of the wire maps to, or nil.
func classify(err error) error {
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		for _, e := range resp.Errors {
			if s, ok := errorCodes[e.Code]; ok {
				return s
			}
		}
		return statusErrors[resp.StatusCode]
	}
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return ErrUnauthorized
	case errors.Is(err, errdef.ErrNotFound):
		return cas.ErrNotFound
	case networkFailure(err):
		return cas.ErrTransient
	}
	return nil
}

// networkFailure reports whether err is the connection failing rather than
// the registry answering: reset, refused (a restart), closed before the
// end of a response, or timed out. The caller's own cancellation or
// deadline is not one: retrying it would only fail again.
func networkFailure(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}

// retryAfterError is a refusal that says when to come back (a 429 or 503
// with Retry-After). Its RetryAfter method is what cas.ErrTransient
// documents, so the copy engine waits that long.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.err, e.after)
}

func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter returns the wait the registry asked for.
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (RFC 9110, 10.2.3).
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(n, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// transientBody marks the errors of reading a response body as transient:
// once the status line has arrived, a failure to read the rest is the
// connection's (reset, closed early), and a copy may resume the blob where
// the body stopped.
type transientBody struct {
	io.ReadCloser
	what string // the request, "GET URL", for the message
	n    int64
}

func (b *transientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && networkFailure(err) {
		err = fmt.Errorf("%s: connection lost after %d bytes of the body: %w: %w", b.what, b.n, err, cas.ErrTransient)
	}
	return n, err
}

// wrap names what failed (a reference, "HOST/REPO@DIGEST") and adds the
// sentinel the error maps to, keeping the registry's own message. It is the
// one place where errors of the wire become errors of the cas contract.
func (r *Registry) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	s := classify(err)
	switch {
	case s == nil || errors.Is(err, s):
		return fmt.Errorf("%s: %w", what, err)
	case s == ErrUnauthorized:
		return fmt.Errorf("%s: %w: %w (%s)", what, err, s, r.loginHint(err))
	}
	return fmt.Errorf("%s: %w: %w", what, err, s)
}

// loginHint tells the user what to do about a refused request.
func (r *Registry) loginHint(err error) string {
	where := "no docker config.json found"
	if r.configPath != "" {
		where = "gantry reads credentials from " + r.configPath
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden {
		return fmt.Sprintf("the credentials for %s are not allowed to do this: check the account's permissions, or log in as another user with 'docker login %s'; %s", r.host, r.host, where)
	}
	return fmt.Sprintf("log in with 'docker login %s' or add credentials for %s to docker's config.json; %s", r.host, r.host, where)
}

// responseError reads a failed response into the error type oras-go uses, so
// that errors from oras (listing) and from this package look the same. The
// body is closed.
func responseError(resp *http.Response) error {
	defer resp.Body.Close()
	e := &errcode.ErrorResponse{Method: resp.Request.Method, URL: resp.Request.URL, StatusCode: resp.StatusCode}
	var body struct {
		Errors errcode.Errors `json:"errors"`
	}
	if b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10)); err == nil && len(b) > 0 {
		if json.Unmarshal(b, &body) == nil {
			e.Errors = body.Errors
		}
	}
	if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return &retryAfterError{err: e, after: after}
	}
	return e
}
