// Package archive reads the tarballs `docker save` and
// `skopeo copy ... docker-archive:FILE` write, as a cas.ReadOnlyStore, so
// that the tarballs users already have become a source of a copy or a
// bundle like any other store.
//
// # Format read
//
// A docker-archive tar holds manifest.json, a list of images each with its
// Config file, its Layers files in order and its RepoTags. Two layouts put
// those files in different places, and both are read:
//
//   - the legacy layout (docker before 25, skopeo): "<hex>.json" configs and
//     "<v1id>/layer.tar" or "<hex>.tar" layers, duplicates as symlinks;
//   - the OCI layout docker 25 and later write inside the tar, where the
//     files are "blobs/sha256/<hex>".
//
// Archives without manifest.json (docker before 1.10) are refused with
// cas.ErrUnsupported.
//
// # Lossless conversion
//
// Nothing is decompressed, recompressed or rewritten: each layer is served
// as the bytes of its file in the tar, read in place through an
// io.SectionReader (the tar's entries are indexed once, at Open, by
// seeking from header to header). An uncompressed layer (what docker save
// writes) gets the media type application/vnd.docker.image.rootfs.diff.tar
// and, as its digest, its diff ID from the config: the digest of an
// uncompressed layer is its diff ID, so it is verifiable as every copy
// verifies (cas.VerifyReader), and the same layer saved in several tarballs
// has one digest and is moved once. A gzip layer keeps its bytes and gets
// the Docker gzip type; a zstd layer makes the image an OCI one. The config
// is served as its file's bytes.
//
// Only the image manifest is made: a Docker schema 2 manifest (an OCI
// manifest when a layer is zstd) naming the config and the layers,
// serialised deterministically, so the same tarball always gives the same
// manifest digest. It cannot be the digest the image had in its registry:
// docker save does not keep the registry's manifest or compressed layers.
//
// # Names
//
// RepoTags are normalised as Kubernetes and docker do ("nginx:1.25" is
// "docker.io/library/nginx:1.25", see oci.ParseRegistryRef): the store's
// repositories are the full repository names ("docker.io/library/nginx"),
// and Repository also accepts the short form. A repository serves the
// images tagged in it and nothing else, by tag or digest: an archive of
// several repositories' images keeps them apart as a registry does. An
// image saved by ID has no repository; Store.Target reads it.
package archive
