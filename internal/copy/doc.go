// Package copy is gantry's one graph-copy engine: push, pull, mirror, bundle
// save and bundle load are all a Copy from one cas store to another.
//
// A copy walks the graph under a root manifest (an index's manifests, a
// manifest's config and layers) and moves children before parents, so a
// destination never holds a manifest whose content is missing, and tags the
// root only once everything under it is present. On the way it:
//
//   - skips what the destination already has: an image manifest present at the
//     destination is complete by the cas contract, so its subtree is not
//     walked;
//   - moves each digest once, however many images share it, and never twice at
//     the same time (a second request waits for the first);
//   - bounds the number of blobs in flight without deadlocking on recursion: a
//     manifest holds no slot while its children are copied;
//   - checks the size and digest of every byte it moves (cas.VerifyReader), so
//     a source serving wrong bytes fails with cas.ErrDigestMismatch and leaves
//     nothing visible at the destination;
//   - stops everything at the first error and returns it, wrapped with the path
//     from the image to the failing blob ("img:v1 > index sha256:… > manifest
//     sha256:… > layer sha256:…: not found").
//
// A platform filter copies only the matching manifests of an index, and the
// index itself unchanged: the destination then holds a sparse index whose
// digest is the one users pinned. Because of such sparse indexes, the engine
// never takes an index's presence at the destination as proof that its
// children are there: it reads a present index from the destination and
// walks its entries (cheap existence checks), while a present image manifest
// is trusted.
package copy
