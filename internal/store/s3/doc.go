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
//	holders/<alg>/<hex>/<name>                         an empty mark beside each link, for Holders (anonymous mount, GC)
//	repositories/<name>/_tags.json                     the repository's tags: {"tags": {tag: descriptor}}
//	repositories/<name>/_referrers/<alg>/<hex>.json    the referrers of one subject, in the order added
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
// of the digest; the bytes stay for garbage collection (not built for S3
// yet).
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
