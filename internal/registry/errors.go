package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gantry-dev/gantry/internal/cas"
)

// Error codes of distribution-spec v1.1.1 ("Error Codes"), plus TAG_INVALID
// (CNCF Distribution's, which gantry's client also reads) and UNKNOWN for
// server faults.
const (
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       = "DIGEST_INVALID"
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     = "MANIFEST_INVALID"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
	CodeNameInvalid         = "NAME_INVALID"
	CodeNameUnknown         = "NAME_UNKNOWN"
	CodeSizeInvalid         = "SIZE_INVALID"
	CodeTagInvalid          = "TAG_INVALID"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeDenied              = "DENIED"
	CodeUnsupported         = "UNSUPPORTED"
	CodeTooManyRequests     = "TOOMANYREQUESTS"
	CodeUnknown             = "UNKNOWN"
	// CodePaginationInvalid is CNCF Distribution's code for a bad n
	// parameter of a listing; the spec names none.
	CodePaginationInvalid = "PAGINATION_NUMBER_INVALID"
)

// codeStatus is the one table of error codes and their HTTP statuses. It is
// the mirror of internal/remote's errorCodes: every code that stands for a
// cas sentinel here is mapped back to the same sentinel there, which
// TestErrorTableMirrorsClient checks through a real client.
var codeStatus = map[string]int{
	CodeBlobUnknown:         http.StatusNotFound,            // cas.ErrNotFound
	CodeBlobUploadInvalid:   http.StatusBadRequest,          // cas.ErrInvalid
	CodeBlobUploadUnknown:   http.StatusNotFound,            // cas.ErrNotFound (by status)
	CodeDigestInvalid:       http.StatusBadRequest,          // cas.ErrDigestMismatch
	CodeManifestBlobUnknown: http.StatusBadRequest,          // cas.ErrNotFound (a child is missing)
	CodeManifestInvalid:     http.StatusBadRequest,          // cas.ErrInvalid
	CodeManifestUnknown:     http.StatusNotFound,            // cas.ErrNotFound
	CodeNameInvalid:         http.StatusBadRequest,          // cas.ErrInvalid
	CodeNameUnknown:         http.StatusNotFound,            // cas.ErrNotFound
	CodeSizeInvalid:         http.StatusBadRequest,          // cas.ErrSizeMismatch
	CodeTagInvalid:          http.StatusBadRequest,          // cas.ErrInvalid
	CodeUnauthorized:        http.StatusUnauthorized,        // remote.ErrUnauthorized
	CodeDenied:              http.StatusForbidden,           // remote.ErrUnauthorized
	CodeUnsupported:         http.StatusMethodNotAllowed,    // cas.ErrUnsupported
	CodeTooManyRequests:     http.StatusTooManyRequests,     // cas.ErrTransient (the client retries)
	CodeUnknown:             http.StatusInternalServerError, // cas.ErrTransient (by status: 500 and 503)
	CodePaginationInvalid:   http.StatusBadRequest,          // none
}

// apiError is an error on its way to the wire: a code, the status it
// answers with (0: the table's), a message, an optional detail, and the
// error it came from (for the log).
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	status  int
	err     error
	header  http.Header // answered with the error
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) Unwrap() error { return e.err }

// httpStatus returns the status e answers with.
func (e *apiError) httpStatus() int {
	if e.status != 0 {
		return e.status
	}
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// newError returns an apiError with a formatted message.
func newError(code string, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// withStatus overrides the table's status, where the spec asks for another
// one for this code (413 for an oversized manifest, 404 for an absent
// endpoint).
func (e *apiError) withStatus(status int) *apiError {
	e.status = status
	return e
}

// with adds a detail object.
func (e *apiError) with(detail any) *apiError {
	e.Detail = detail
	return e
}

// kind says what a request was about, which decides the code of
// cas.ErrNotFound and cas.ErrInvalid.
type kind int

const (
	kindRegistry kind = iota
	kindBlob
	kindManifest
	kindUpload
)

// UpstreamError is an error a store returns for an answer it got from
// another registry, a mirror's upstream say: the handler answers with the
// same status, error code and headers (the WWW-Authenticate challenge of
// a 401, so that the client authenticates with the upstream and retries
// with its credentials). The errors of an Authorizer keep the same
// contract.
type UpstreamError interface {
	error
	// Status is the HTTP status to answer with.
	Status() int
	// Code is the OCI error code.
	Code() string
	// Header holds the headers to answer with.
	Header() http.Header
}

// classify turns any error into an apiError: cas sentinels by the table,
// body limits into 413, everything else into 500 UNKNOWN.
func classify(err error, k kind) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ue UpstreamError
	if errors.As(err, &ue) {
		return &apiError{Code: ue.Code(), Message: err.Error(), status: ue.Status(), err: err, header: ue.Header()}
	}
	var mbe *http.MaxBytesError
	msg := err.Error()
	switch {
	case errors.As(err, &mbe):
		code := CodeSizeInvalid
		if k == kindManifest {
			code = CodeManifestInvalid
		}
		return &apiError{Code: code, Message: fmt.Sprintf("request body over the %d-byte limit", mbe.Limit), status: http.StatusRequestEntityTooLarge, err: err}
	case errors.As(err, new(bodyIdleError)):
		return &apiError{Code: CodeBlobUploadInvalid, Message: msg, status: http.StatusRequestTimeout, err: err}
	case errors.As(err, new(clientReadError)):
		return &apiError{Code: CodeBlobUploadInvalid, Message: msg, status: http.StatusBadRequest, err: err}
	case errors.Is(err, cas.ErrNotFound):
		code := map[kind]string{kindBlob: CodeBlobUnknown, kindManifest: CodeManifestUnknown, kindUpload: CodeBlobUploadUnknown}[k]
		if code == "" {
			code = CodeNameUnknown
		}
		return &apiError{Code: code, Message: msg, err: err}
	case errors.Is(err, cas.ErrDigestMismatch):
		return &apiError{Code: CodeDigestInvalid, Message: msg, err: err}
	case errors.Is(err, cas.ErrSizeMismatch):
		return &apiError{Code: CodeSizeInvalid, Message: msg, err: err}
	case errors.Is(err, cas.ErrUnsupported):
		return &apiError{Code: CodeUnsupported, Message: msg, err: err}
	case errors.Is(err, cas.ErrInvalid):
		code := map[kind]string{kindBlob: CodeDigestInvalid, kindManifest: CodeManifestInvalid, kindUpload: CodeBlobUploadInvalid}[k]
		if code == "" {
			code = CodeNameInvalid
		}
		return &apiError{Code: code, Message: msg, err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away or the server is shutting down; the
		// answer will likely not be read, but say what happened.
		return &apiError{Code: CodeUnknown, Message: msg, status: http.StatusServiceUnavailable, err: err}
	}
	return &apiError{Code: CodeUnknown, Message: "internal error", err: err}
}

// writeError answers r with err as an OCI error body (no body for HEAD).
// Server faults (5xx other than shutdown) are logged; client errors are
// the client's business and the serve command's access log records them.
func (reg *Registry) writeError(w http.ResponseWriter, r *http.Request, err error, k kind) {
	ae := classify(err, k)
	status := ae.httpStatus()
	if status >= 500 && status != http.StatusServiceUnavailable {
		reg.log.Error("registry request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	for k, vs := range ae.header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(struct {
		Errors []*apiError `json:"errors"`
	}{[]*apiError{ae}})
	if r.Method != http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(len(body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeErrors answers with several errors of one status, as a manifest
// PUT does for each missing child.
func (reg *Registry) writeErrors(w http.ResponseWriter, r *http.Request, status int, errs []*apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(struct {
			Errors []*apiError `json:"errors"`
		}{errs})
	}
}
