// Package disk is gantry's embedded default store: a cas.Store kept in one
// directory that is, at every moment gantry is stopped, a valid OCI image
// layout (image-spec v1.1, image-layout.md) holding many repositories, so
// skopeo, oras, crane and containerd read it without gantry:
//
//	DIR/oci-layout               {"imageLayoutVersion":"1.0.0"}
//	DIR/index.json               one entry per tag, ref.name = "REPO:TAG"
//	DIR/blobs/<alg>/<hex>        every blob once, whatever the repositories holding it
//	DIR/.gantry/lock             flock held while a process has the store open
//	DIR/.gantry/journal          tag, referrer and link changes not yet compacted
//	DIR/.gantry/repositories.json which repository holds which blob, since when
//	DIR/.gantry/journal.damaged-<t> a damaged journal as replay found it
//	DIR/.gantry/referrers.json   the referrer index as of the last flush
//	DIR/.gantry/ingest/          temporary files of pushes in progress
//	DIR/.gantry/uploads/<id>/    registry upload sessions: data, info.json
//	DIR/.gantry/quarantine/      damaged blobs moved aside by Fsck
//	DIR/.gantry/trash/           blobs garbage collection is removing
//
// A tag is an index.json entry whose annotation
// org.opencontainers.image.ref.name is "<repository>:<tag>" (skopeo's own
// convention for many repositories in one layout: oci:DIR:REPO:TAG). Entries
// whose ref.name is anything else (a bare tag, none at all), as skopeo and
// other writers make them, are kept untouched when gantry rewrites index.json
// and are ignored when resolving tags.
//
// # Repositories own their content
//
// The bytes of a blob are stored once, but a repository serves only the
// blobs linked to it: pushed, committed by an upload or mounted into it
// (links.go). Fetch, Exists, Resolve and Tag of anything else answer
// cas.ErrNotFound, whatever another repository holds. A link is a journal
// record, durable when the push that made it returns; Delete unlinks in one
// repository, together with that repository's tags of the digest, in one
// record, and never touches another repository or the bytes. Links are
// compacted into .gantry/repositories.json with the time each was made, and
// with the time each blob that no repository holds any more was let go of:
// what garbage collection needs to reclaim bytes without guessing. A layout
// another tool wrote (or a store from before links) gets its links on Open:
// each tag's repository is linked to everything its manifest reaches.
//
// # Durability
//
// A blob is streamed into .gantry/ingest/ while it is hashed, checked for
// size and digest, fsync'd, made read-only and renamed into blobs/, and the
// directory is fsync'd: a blob is visible only once complete and survives a
// crash once Push returns. A new blobs/<alg> is fsync'd in blobs/ before
// its first blob goes in, and Open fsyncs the store, blobs/, each
// blobs/<alg> and .gantry/ once, in case a crash came between a mkdir or a
// file creation and the fsync of its parent. Open also removes the
// temporary files of atomic rewrites (.gantry/.index.json.*.tmp and the
// like) that a kill during a flush leaves; Fsck reports any found later.
//
// Blob and upload data are written with O_DIRECT in whole 4 KiB blocks
// from aligned buffers, the unaligned ends of each write through a normal
// descriptor of the same file: the bytes go from the buffer to the disk
// without a copy into the page cache, and the final fsync has little left
// to flush. Where the file system refuses O_DIRECT, the page cache is used
// and writeback started as the file grows.
//
// Rewriting index.json on every tag would make a tag cost O(number of tags).
// Instead each Tag and Untag appends a self-checking record (length, CRC-32C,
// JSON) to the journal and fsyncs it before returning; in-memory maps serve
// resolution and listing. A background flush rewrites index.json atomically
// (temporary file, fsync, rename, directory fsync) once the store has been
// quiet for Options.FlushInterval or the journal passes Options.JournalLimit,
// and Close always does. Open replays a non-empty journal onto index.json
// (a torn last record, left by a crash in mid-append, is detected by its CRC
// and dropped), writes index.json and empties the journal. A damaged record
// followed by intact ones was acknowledged, and so were those: replay skips
// it, applies the rest, logs an error and keeps a copy of the journal as
// .gantry/journal.damaged-<unix time>, which Fsck reports until it is
// removed. A record is at most 32 MiB (a referrer carries up to 4 MiB of
// manifest annotations, which JSON can grow six-fold); Tag and AddReferrer
// refuse a larger one with cas.ErrInvalid, so replay never meets an
// acknowledged record it rejects. Records are
// absolute ("tag T is D", "tag T is gone"), so replaying one that index.json
// already reflects changes nothing. index.json is therefore current whenever
// gantry has stopped cleanly, and after a crash as soon as gantry or fsck has
// opened the store again.
//
// # Upload sessions
//
// A registry upload (cas.Ingester) is a directory .gantry/uploads/<id>/,
// id being 128 random bits in hex: "data" holds the bytes written so far,
// "info.json" the repository and start time. Write appends to data and
// feeds a running SHA-256 kept in memory; live sessions stay in a map of
// the Store, so resuming one between two requests costs a lookup, and a
// session first used after a restart is re-hashed from its data file once.
// Commit checks size and digest against the running hash (or re-hashes for
// sha512), fsyncs data, makes it read-only and renames it into blobs/, then
// fsyncs the directory: the bytes are written once and hashed once,
// whatever their number. Sessions are not synced while open (one a crash
// loses is one the client restarts). Open keeps them so clients can resume
// after a restart, and loads them into the session map: every live session
// is there while the store is open, so an unknown upload ID is refused
// without a file system access, and OpenUploads (cas.UploadCounter) counts
// them per repository. PurgeUploads expires those idle too long (by their
// last write: the data file's mtime after a restart; sooner for those that
// hold no byte), and Fsck counts them without calling them damage. An
// upload's ReadFrom opens the data file only once a byte came, and takes its
// megabyte buffers only past its first 256 KiB, so a stalled client holds
// little.
//
// # Referrers
//
// The referrer index (cas.ReferrerIndex) is kept in memory as repository
// -> subject -> referrers, and made durable through the same journal as
// tags: AddReferrer and RemoveReferrer append an fsync'd record before
// returning. The flush that rewrites index.json also writes
// .gantry/referrers.json (atomically, one entry per line) when the index
// changed, and only then trims the journal; Open loads referrers.json and
// replays the journal over it. Each entry carries a sequence number that
// orders a subject's referrers, so records stay absolute: replaying records
// referrers.json already reflects (a crash between the two) changes nothing,
// order included. referrers.json is gantry's own state, outside the OCI
// layout; other tools see referrers as the manifests they are.
//
// # Garbage collection
//
// Collect (gc.go) reclaims space in two phases; each decides on a snapshot
// taken under the store's locks, then re-checks under them what could
// have changed since.
//
// Repository membership. A repository holds a blob as long as it is
// linked; deleting a manifest unlinks only the manifest. The config and
// layers it named stay linked until a collection finds that no manifest
// the repository keeps reaches them: kept are the manifests its kept tags
// point at, the untagged ones unless Retention.RemoveUntagged, the
// referrers of kept content (signatures and SBOMs go with their subject),
// what any of those reaches through indexes, and anything the repository
// took or was asked for (looked up) less than the grace period ago. The
// rest is unlinked, and the referrer index forgets the referrers unlinked.
// A blob pushed but not yet named by a manifest is safe for the grace
// period, which must exceed the longest push (default a day).
//
// The repository phase never races a manifest PUT, a push or a tag: its
// records are written holding jmu, and before writing them, holding mu
// as well, the collection checks that the repository's generation (bumped
// by every link, tag and referrer added, by every push of content already
// held, and by each Guard and its release) is the one of its snapshot and
// that no Guard is held; if not, the repository is left for the next run.
// It then marks the links it removes as doomed, which lookups (Exists,
// Resolve, Fetch, Tag) treat as gone, and drops from its records any link
// looked up within the grace period. The registry calls Guard (cas.Guarder)
// before it checks a manifest's children and releases it after the last
// tag; Guard takes jmu, so it comes either before the check (and the
// repository is left alone) or after the unlinks are applied (and the
// check finds the children gone: MANIFEST_BLOB_UNKNOWN, the client pushes
// them again). A lookup records its time under mu.RLock, so it comes
// either before the doom step (which sees it and spares the link) or
// after (and answers not found). A push of content already linked bumps
// the generation under mu.RLock, with the same effect.
//
// Blob files. A blob file no repository holds is removed once it was let
// go of (or, never held, written) longer than the grace period ago, unless
// an index.json entry another tool wrote reaches it. Every path that links
// a blob (Push, Mount, an upload's Commit) pins its digest before it looks
// for the file and unpins it once linked. The collection removes one file
// per hold of mu and gcMu, after checking that no repository holds it,
// that it is not pinned and that its let-go time is the one it decided
// on; the removal (an unlink, or for a file of 1 MiB or more a rename into
// .gantry/trash/, unlinked after the lock, since freeing a large file's
// extents takes a while) is in that same critical section. So a pin taken
// before the check makes the collection skip the blob, and a pin taken
// after finds the file gone and writes it again: no link ever names a
// missing file. blobs/<alg> is fsync'd after each batch of removals. A
// kill leaves, at worst, files in the trash (Open removes them) and
// released entries for files that are gone (the next collection forgets
// them); neither is damage.
//
// Then the temporary files of interrupted pushes and rewrites go, as fsck
// would remove them. The longest hold of the lock is in the report.
//
// One process at a time: Open takes an exclusive flock on .gantry/lock and a
// second Open fails at once, naming the PID that holds it.
package disk
