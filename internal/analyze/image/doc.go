// Package image analyzes container images without unpacking them: it reads
// the manifest, config and layers of an image from any cas.ReadOnlyTarget (a
// registry, an OCI layout, gantry's store, a bundle), streams every layer
// through its decompressor and tar reader in parallel, keeps per-path
// metadata only, and stacks the layers to find what the final filesystem
// holds and what each layer hides. A layer's scan depends on its bytes
// alone, which its digest names: ScanCache keeps scans in memory across the
// images of one process, and a ScanDir on disk across processes, so images
// that share layers have each read once.
//
// From that it computes the image's size, the bytes wasted (exactly: bytes
// stored across all layers minus the bytes of the final filesystem, with
// whiteouts, opaque directories and deleted directories handled), dive's
// figure for the same image, and findings: heavy components, process-manager
// entrypoints, the user, setuid files, /etc/passwd and /etc/shadow problems,
// secrets, build-context leftovers, package caches and the base image.
//
// Hostile input (paths escaping the root, huge headers, decompression bombs,
// missing or corrupt layers) ends the analysis of that image with an error;
// Limits bounds the bytes decompressed and the entries kept. The work of
// stacking and walking the layers stays linear in the bytes of their tar
// headers: paths are walked in place, never built for every directory above
// an entry, and the directories that no entry names but paths imply are
// bounded (Limits.MaxImpliedDirs); the entries past that bound are left out
// and a GC007 finding names the first.
package image
