// Package registry serves the OCI Distribution API over any cas.Store, as a
// plain http.Handler: the same value runs `gantry serve` and, in tests,
// httptest.NewServer(registry.New(memory.New(), registry.Options{})).
//
// It implements distribution-spec v1.1.1
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md):
// pull (manifests by tag and digest, blobs with Range), push (monolithic,
// POST with digest, chunked and streamed PATCH, upload status and cancel,
// manifests by tag, by digest and with ?tag= parameters), cross-repository
// and anonymous mounts, tag listing and the catalog with n/last pagination,
// deletes of manifests, tags and blobs, and the referrers API with
// artifactType filtering. It passes the conformance suite of that
// repository (test/conformance).
//
// The handler only translates HTTP to the cas interfaces. What it can do
// depends on what the store implements, found by type assertion on the
// repository target: cas.Ingester for multi-request uploads, cas.Deleter
// and cas.Untagger for deletes, cas.TagLister and cas.RepositoryLister for
// listings, cas.Mounter for mounts, cas.RangeFetcher for ranged reads of
// stores whose readers cannot seek, cas.ReferrerIndex for the referrers API.
// A missing ability answers 405 UNSUPPORTED (404 for referrers, which
// clients read as "use the tag schema"), never 500.
//
// Errors are produced in one place (errors.go): cas sentinels become OCI
// error codes with the HTTP status of one table, the mirror of the client's
// table in internal/remote, so errors.Is(err, cas.ErrNotFound) holds on the
// far side of the wire.
//
// Slow and greedy clients are bounded (limits.go, Options): a request body
// that stalls fails after BodyIdleTimeout, uploads in flight and upload
// sessions open are capped per repository and in total (429
// TOOMANYREQUESTS with Retry-After), an oversized manifest is drained a
// little before its 413 so the client reads it, and referrers lists are
// paged with Link and carry at most MaxReferrerAnnotations per entry.
//
// Access control is one question per request (auth.go): with
// Options.Authorizer set, the handler asks it who sent the request and
// whether that caller may pull, push or delete in the repository the route
// names, before the name is even validated; the catalog and mounts ask
// the same caller. internal/auth implements it.
//
// Blob GETs of stores whose Fetch returns an *os.File (the disk store) are
// written with io.Copy straight to the ResponseWriter so that net/http uses
// sendfile(2). Middleware that wraps the ResponseWriter must implement
// io.ReaderFrom (or Unwrap, for http.ResponseController) to keep that path.
package registry
