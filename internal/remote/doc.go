// Package remote is a client of registries that speak the OCI distribution
// API (distribution-spec v1.1), shaped as a cas.Store so that a registry is a
// source or a destination of a copy like any other store.
//
// It is built on oras-go v2: auth.Client for Basic and Bearer-token
// authentication with a token cache, the credentials package for docker's
// config.json (auths, credHelpers, credsStore), the retry transport, and the
// remote package for paginated tag and catalog listing. Content requests
// (fetch, push, resolve, tag, delete, mount, ranged reads) are made here so
// that every response goes through one error table (errors.go) that maps the
// registry's error codes and HTTP statuses back to the cas sentinels, and so
// that a push never lets a registry commit bytes that gantry has not checked.
//
// Manifests and blobs live behind different endpoints of a registry; a
// descriptor's media type (oci.IsManifest) tells which one to use.
//
// Specification: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md
package remote
