// Package pullthrough is the store behind gantry serve as a pull-through
// mirror: a cas.Store whose repositories under an upstream's name prefix
// are read from a local cache (any cas.Store, gantry's disk store in
// practice) and filled from the upstream registry on a miss, while every
// other name is the cache's own repository, pushed to as usual.
//
// What is cached and for how long:
//   - content by digest (manifests and blobs) is fetched once and kept
//     until garbage collection: a digest never changes meaning;
//   - a tag is re-resolved at the upstream once it is older than
//     Options.TagTTL; while the upstream is unreachable or answers 5xx,
//     the cached tag is served and a warning logged.
//
// One upstream fetch per digest: concurrent requests for a blob the cache
// lacks join one fill, which streams the upstream's bytes to a temporary
// file that every joined client reads as it grows. The last byte reaches a
// client only once the whole blob hashed to its digest and the cache
// committed it; a blob that hashes wrong fails every reader (the registry
// then aborts the response, so no client takes it for a blob) and leaves
// nothing in the cache. Manifests and tag resolutions are single-flight
// too.
//
// Names: Options.Upstreams maps name prefixes ("docker.io/") to
// upstreams; a prefix "" mirrors every name. Docker Hub's short names get
// library/ as docker does ("nginx" is "library/nginx"), and containerd's
// mirror requests, which name the registry in an ns query parameter
// (/v2/library/nginx/manifests/latest?ns=docker.io), are routed by
// Handler to the upstream whose prefix is that registry.
package pullthrough
