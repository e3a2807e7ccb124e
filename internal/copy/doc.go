// Package copy is gantry's one graph-copy engine: push, pull, mirror, bundle
// save and bundle load are all a Copy from one cas store to another.
//
// A copy walks the graph under a root manifest (an index's manifests, a
// manifest's config and layers, as oci.Children defines them) and moves
// children before parents, so a destination never holds a manifest whose
// content is missing, and tags the root only once everything under it is
// present. On the way it:
//
//   - skips what the destination already has, without asking the source:
//     a manifest present at the destination is read from there, and its
//     children are checked with Exists (a child deleted or quarantined since
//     the manifest was pushed is copied again, so a copy never tags an
//     incomplete image);
//   - moves each digest once, however many images share it, and never twice at
//     the same time (a second request waits for the first);
//   - bounds the number of blobs in flight without deadlocking on recursion: a
//     manifest holds no slot while its children are copied;
//   - checks the size and digest of every byte it moves (cas.VerifyReader), so
//     a source serving wrong bytes fails with cas.ErrDigestMismatch and leaves
//     nothing visible at the destination;
//   - retries transient failures (cas.ErrTransient: dropped connections, 5xx,
//     429) with backoff, resuming a blob that failed mid-stream with a ranged
//     read where the source can, so the bytes already moved are not moved or
//     hashed again;
//   - stops everything at the first permanent error and returns it as an
//     *Error: the path from the image to the failing blob, the side that
//     failed, and the cause ("img:v1 > index sha256:… > manifest sha256:… >
//     layer sha256:…: not found").
//
// A platform filter copies only the matching manifests of an index, and the
// index itself unchanged: the destination then holds a sparse index whose
// digest is the one users pinned. Because of such sparse indexes, the engine
// never takes an index's presence at the destination as proof that its
// children are there either: it walks a present index's entries like any
// manifest's children.
package copy
