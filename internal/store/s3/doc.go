// Package s3 is a cas.Store in an S3 bucket (AWS S3, MinIO or any server
// that honours If-Match and If-None-Match on PUT), made for several
// `gantry serve` replicas on one bucket behind a load balancer. A Store
// keeps nothing but its client: everything is in the bucket, so what one
// replica acknowledged every other serves at once (S3 reads are strongly
// consistent after a write), and there is no lock file or leader.
//
// Keys, under Options.Prefix:
//
//	blobs/<alg>/<hex>                                  every blob once, whatever the repositories holding it
//	repositories/<name>/_links/<alg>/<hex>             repository <name> holds the blob: {since, size, mediaType}
//	holders/<alg>/<hex>/<name>                         an empty mark beside each link (and each push about to link), for Holders and GC
//	gc/released/<alg>/<hex>                            empty; its write time is when a repository last let go of the blob
//	gc/deleting/<alg>/<hex>                            empty; a collection is deleting the blob (the tombstone)
//	repositories/<name>/_tags.json                     the repository's tags: {"tags": {tag: descriptor}}
//	repositories/<name>/_referrers/<alg>/<hex>.json    the referrers of one subject, in the order added
//	repositories/<name>/_gc                            the repository's garbage-collection epoch: {running, id}
//	uploads/<id>/state.json                            an upload session: repository, parts, size, hash state
//	uploads/<id>/tail-<gen>-<tag>                      its bytes after the last whole part
//	uploads/<id>/data                                  its multipart upload, and the assembled bytes at commit
//
// Repository name components never start with "_", so a repository's own
// objects never meet a nested repository's.
//
// # Repositories own their content
//
// As in the disk store, a blob's bytes are stored once but a repository
// serves only the blobs linked to it (pushed, committed by an upload or
// mounted). A link records when the repository took the blob and the
// manifest media type it entered with (none for a blob that came through
// the blob API), which is what garbage collection will read to tell who
// holds what since when. Delete removes the link and that repository's tags
// of the digest; the bytes stay for garbage collection.
//
// # Concurrent writers: compare-and-swap, no locks
//
// Every record several writers may change at once (a tag list, a link, a
// referrer list, an upload's state) is read with its ETag and written back
// with If-Match: ETAG, or with If-None-Match: * when it did not exist; a
// 412 (or 409) means another writer came first, and the change is applied
// again to what that writer left, after a short random pause. So tag
// writes through any number of replicas at once all land, and the last
// one acknowledged for a tag is what it reads. A Tag racing a Delete of its
// content is settled by order: Delete removes the link before the tags, and
// Tag reads the link again after writing the tag, taking the tag back if the
// link is gone; either the Delete sees the tag or the Tag sees the Delete.
//
// Reads check the link of what they read, each time: a Delete through any
// replica is seen by the next read. The one shortcut: Fetch, FetchRange
// and BlobURL take the link that Resolve of the same digest read through
// the same Repo less than a second before (a registry request resolves,
// then fetches), which widens by that second the window in which a read
// already begun may still return content deleted meanwhile.
//
// # Uploads and what is atomic
//
// An upload session is a multipart upload at uploads/<id>/data, started
// with the first whole part. Write and ReadFrom (what io.Copy and so the
// registry use) hash the bytes with SHA-256 as they stream and send each
// part as it fills (Options.PartSize, at least S3's 5 MiB minimum); the
// bytes after the last part go to a tail object, and the session's state
// (parts and their ETags, size, the SHA-256 state, the tail's generation)
// is replaced by compare-and-swap before the write returns. So a session is
// durable after every request, a client's next request may land on any
// replica, and two requests on one session at once cannot both succeed.
//
// Commit is verify-then-commit: the digest is checked against the running
// hash before anything becomes visible (a mismatch leaves the session as it
// was). A session within one part is then written to its blob key in one
// PUT; a larger one has its tail sent as the last part, the multipart
// completed at uploads/<id>/data and copied to the blob key inside the
// bucket (a multipart copy past 5 GiB). Each of these writes is atomic in
// S3: the blob key holds nothing or the whole verified content, never part
// of it. The link is written only after the blob key, so no repository ever
// serves an incomplete blob; a crash between the two leaves an unlinked blob
// for garbage collection. Push verifies the same way: content up to 4 MiB
// in memory, larger content through an unnamed session.
//
// Digests other than sha256 are checked by hashing the bytes at commit,
// which a session within one part allows; a larger sha512 upload is refused
// with cas.ErrUnsupported. A session holds at most 10,000 parts, S3's limit
// (80 GB at the default part size).
//
// PurgeUploads lists every session of the bucket, whichever replica began
// it, and removes those idle for too long, taking each by compare-and-swap
// so that a session written to meanwhile is kept. The store does not count
// open sessions (cas.UploadCounter): that would take a listing of the
// bucket, so the registry's caps on open sessions do not apply to it.
//
// # Garbage collection
//
// Collect (gc.go, gcrepo.go) reclaims space in two phases, with the
// retention semantics of the disk store (the planning is package gc's,
// shared). It may run on one replica while every other pushes, tags and
// deletes: there is no lock file, only small objects written in an order
// on each side, and S3's guarantee that a read begun after a write
// returned sees it.
//
// Repositories. For each repository, the collection sets its epoch
// object to running by compare-and-swap (a run of another replica on it
// leaves the repository to that one), and only then reads its links,
// tags and referrers; it plans (what kept tags, untagged manifests unless
// RemoveUntagged, referrers of kept content and anything taken less than
// the grace ago reach is kept), removes the tags retention removes (each
// only if it still names the digest planned on), unlinks the rest (each
// link only if it is still the one read) and sets the epoch to done, with
// a fresh ID each time. A writer that makes content refer to other
// content waits for the epoch to be done after its own write and then
// checks again:
//
//   - Tag writes the tag, waits, then reads the manifest's link: gone, and
//     the tag is taken back (404). A tag written before the collection's
//     read is one it sees and keeps; one written after is followed by this
//     check, which begins after the run's unlinks.
//   - A manifest Push under Guard (the registry takes it before checking
//     the children) compares the epoch's ETag read by Guard with the one
//     after its link is written: if a run came between, it reads the
//     children's links again, and a child gone fails the push (404,
//     MANIFEST_UNKNOWN; the client pushes again, now uploading the child).
//     A run whose read follows the manifest's link sees a young manifest
//     and keeps what it reaches.
//
// A run sends its last removal within half a minute of setting running,
// else leaves the rest of the repository to the next run; a writer that
// has waited a minute takes the run for dead. Nothing records lookups on
// S3 (the disk store spares content looked up within the grace): a
// client that found a blob with HEAD and sends the manifest after a run
// unlinked it is refused as above, never served a manifest with a child
// missing. A push of content the repository still holds, racing the run
// that unlinks it, returns success with the link gone; the manifest that
// follows is refused.
//
// Blobs. A writer that links a blob (Push, Mount, an upload's Commit)
// first pins it: it writes its holder mark, then looks for a tombstone of
// the digest and, while one stands, waits; only then does it look for the
// bytes (writing them if absent) and write the link, and it puts the mark
// again after the link. Taking a mark back (Delete, an unlink by a
// collection, a push that did not link) writes the released time first,
// then removes the mark, then puts it back if the link is there again (a
// push of the same content raced it).
//
// The blob phase lists the blobs, holder marks and released times, and
// takes as candidates the blobs with no mark, written and let go of longer
// than the grace period ago. For each it writes the tombstone with
// If-None-Match: * (another collection that got there first has it), then
// lists the digest's marks again and reads its released time again: any
// mark, or a release within the grace, and the tombstone goes and the blob
// stays. Otherwise it deletes the bytes, then the released time and the
// tombstone.
//
// Why no push loses a blob: a writer's mark either comes before the
// collection's second listing, which then sees it, or after it, hence after
// the tombstone was written, so the writer's look for the tombstone, which
// follows its mark, finds it and waits until the bytes are deleted; it then
// finds them gone and writes them again (Push, Commit) or answers not found
// (Mount). A mark removed meanwhile was preceded by a released time the
// collection's second read sees. So no link ever names missing bytes.
//
// A tombstone stands at most a minute: a collection sends its DELETE
// within half a minute of writing it (the request's deadline is what is
// left), else gives the blob up; a writer that has waited a minute takes
// the tombstone for the leftover of a collection that died and removes it.
// These bounds rely on the replicas' clocks running at the same rate, not
// on them agreeing.
//
// Costs: a run lists every link of every repository and reads those
// that changed since the run before (one GET each, 16 at once; the first
// run reads them all), and lists the bucket's blobs, marks and released
// times. Tags and manifest pushes of a repository wait while a run reads
// and changes it; a manifest push
// reads the epoch twice, a tag once. A holder mark whose push died before
// taking it back keeps its blob until removed by hand. A dry run reports
// the blobs already held by none, not those its unlinks would free.
//
// # Redirects
//
// With Options.Presign, Repo implements cas.BlobLocator: the registry
// answers a blob GET with a 307 to a presigned URL of the blob's key, after
// checking that the repository holds it, and the client reads the bytes
// (and ranges) from the S3 server itself.
//
// # Listings
//
// Tags are one object per repository, read whole (64 MiB at most, a few
// hundred thousand tags). Repositories walks the repositories/ prefix with
// "/" as delimiter, skipping each repository's own objects, so its cost
// follows the number of repositories rather than of blobs; a repository
// whose tag list is empty (known from the object's size) is not listed.
package s3
