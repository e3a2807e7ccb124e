package cas

import "errors"

// Sentinel errors. Stores wrap them with the digest or reference concerned
// (fmt.Errorf("%s: %w", dgst, ErrNotFound)); callers test with errors.Is.
// The registry maps each to an OCI error code and HTTP status, and the remote
// client maps them back, so errors.Is works across the wire.
var (
	// ErrNotFound: the content, tag or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the content already exists.
	ErrExists = errors.New("already exists")
	// ErrDigestMismatch: the bytes do not hash to the expected digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: the bytes are shorter or longer than expected.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrInvalid: a malformed name, reference, digest, descriptor or manifest.
	ErrInvalid = errors.New("invalid")
	// ErrUnsupported: the store cannot do this (a read-only store asked to
	// write, an algorithm it does not know).
	ErrUnsupported = errors.New("unsupported")
	// ErrTransient: the operation failed for a reason that may pass by
	// itself (a dropped connection, a registry overloaded or restarting:
	// 5xx, 429), so the same call may succeed if tried again after a
	// pause; the copy engine does. A store that knows how long to wait (a
	// Retry-After header) returns an error that also has a method
	// RetryAfter() time.Duration. Only stores that talk to a network
	// return it; a local store's failures are not expected to pass.
	ErrTransient = errors.New("transient failure")
)
