// Package cas defines gantry's content-addressed storage contract: small
// interfaces that every store implements (memory, disk, remote registry,
// bundle, docker-archive tarball), the sentinel errors they return, and a
// verifying reader that checks size and digest of everything that flows
// through it.
//
// The contract is repository-scoped: a Target holds the blobs, manifests and
// tags of one repository; a Store hands out Targets by repository name. A
// store that can only be read (a bundle, a docker-archive tarball) is a
// ReadOnlyStore handing out ReadOnlyTargets: it has no write method to stub.
// Blobs and manifests are both "content" addressed by an OCI descriptor; a
// store that does not need to tell them apart (memory, disk) does not.
//
// Optional abilities (delete, tag listing, ranged reads, cross-repository
// mount, repository listing) are separate interfaces found by type assertion,
// so a read-only or remote store implements only what it can do well.
//
// Every implementation runs the conformance suite in package castest:
// castest.Run for a Store, castest.RunReadOnly for a ReadOnlyStore.
package cas
