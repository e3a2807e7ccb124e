// Package bundle writes and reads gantry bundles: one file (or a few
// volumes) that carries a fleet of images to a site with no network, every
// blob once.
//
// # Format
//
// A bundle volume is a POSIX tar holding a standard OCI image layout
// (image-spec v1.1.1, image-layout.md) plus one gantry file:
//
//	oci-layout            {"imageLayoutVersion":"1.0.0"}
//	gantry-bundle.json    the Manifest: images, blobs, sizes, volumes, base
//	index.json            one entry per image complete in this volume, with
//	                      org.opencontainers.image.ref.name = the full
//	                      reference ("registry.example.com/team/app:1.4")
//	blobs/<alg>/<hex>     every blob of the volume, once
//
// The metadata comes first: everything in it is known before the first blob
// is written (the plan), so a truncated volume still says what it should
// have held, and a reader learns what it holds by reading the first entries
// and skipping from header to header, never unpacking. containerd's
// "ctr images import" and "skopeo inspect oci-archive:FILE:REF" read a
// volume as they read any OCI archive.
//
// # Create
//
// Create reads every image's manifests first (the plan: which blobs, which
// volume), then streams each blob from its source through the copy engine
// (package copy) into a destination that appends tar entries: a fleet is read
// once and a blob shared by many images is written once. Volumes are written
// to temporary files next to the output, fsync'd and renamed into place at
// the end; a failed Create leaves no file under the output's name.
//
// # Incremental bundles
//
// With CreateOptions.Have (an Inventory of what the site has), layers the
// site has are left out and recorded in Manifest.Base. Manifests and configs
// of the bundle's images are always kept, even when the site has them: they
// are small, they make the bundle self-describing (inspect, verify and push
// walk the images' graphs from the bundle alone) and a push can tag an image
// without first fetching its manifests from the target. After a version
// bump that changed one layer, the delta holds that layer, the new config
// and the new manifests.
//
// # Volumes
//
// With CreateOptions.Split, blobs are assigned to volumes of at most Split
// bytes, on blob boundaries, packed first-fit decreasing: the images that
// share blobs form a unit, and each unit, largest first, goes whole into
// the first volume with room for it, so small images fill the room large
// ones leave rather than trailing in a nearly empty last volume, and an
// image is whole in one volume whenever its unit fits in one. Volume 1 is the output name ("app.tar"), volume n > 1 inserts
// ".NNN" before the extension ("app.002.tar", "app.003.tar"; "app" without
// an extension gives "app.002"). A blob larger than Split gets a volume of
// its own (VolumeEntry.Oversize). Each volume is an OCI layout on its own:
// its index.json lists the images whose graphs are complete within it, and
// its gantry-bundle.json lists all volumes, all blobs and all images, so a
// reader holding some volumes names the missing ones and the images they
// cost.
package bundle
