// Package disk is gantry's embedded default store: a cas.Store kept in one
// directory that is, at every moment gantry is stopped, a valid OCI image
// layout (image-spec v1.1, image-layout.md) holding many repositories, so
// skopeo, oras, crane and containerd read it without gantry:
//
//	DIR/oci-layout               {"imageLayoutVersion":"1.0.0"}
//	DIR/index.json               one entry per tag, ref.name = "REPO:TAG"
//	DIR/blobs/<alg>/<hex>        every blob once, shared by all repositories
//	DIR/.gantry/lock             flock held while a process has the store open
//	DIR/.gantry/journal          tag changes not yet written into index.json
//	DIR/.gantry/ingest/          temporary files of pushes in progress
//	DIR/.gantry/quarantine/      damaged blobs moved aside by Fsck
//
// A tag is an index.json entry whose annotation
// org.opencontainers.image.ref.name is "<repository>:<tag>" (skopeo's own
// convention for many repositories in one layout: oci:DIR:REPO:TAG). Entries
// whose ref.name is anything else (a bare tag, none at all), as skopeo and
// other writers make them, are kept untouched when gantry rewrites index.json
// and are ignored when resolving tags.
//
// # Durability
//
// A blob is streamed into .gantry/ingest/ while it is hashed, checked for
// size and digest, fsync'd, made read-only and renamed into blobs/, and the
// directory is fsync'd: a blob is visible only once complete and survives a
// crash once Push returns.
//
// Rewriting index.json on every tag would make a tag cost O(number of tags).
// Instead each Tag and Untag appends a self-checking record (length, CRC-32C,
// JSON) to the journal and fsyncs it before returning; in-memory maps serve
// resolution and listing. A background flush rewrites index.json atomically
// (temporary file, fsync, rename, directory fsync) once the store has been
// quiet for Options.FlushInterval or the journal passes Options.JournalLimit,
// and Close always does. Open replays a non-empty journal onto index.json
// (a torn last record, left by a crash in mid-append, is detected by its CRC
// and dropped), writes index.json and empties the journal. Records are
// absolute ("tag T is D", "tag T is gone"), so replaying one that index.json
// already reflects changes nothing. index.json is therefore current whenever
// gantry has stopped cleanly, and after a crash as soon as gantry or fsck has
// opened the store again.
//
// One process at a time: Open takes an exclusive flock on .gantry/lock and a
// second Open fails at once, naming the PID that holds it.
package disk
