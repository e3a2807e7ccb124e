package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/gc"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// DefaultGrace is GCOptions.Grace's default: longer than any push takes
// from its first blob to its last tag.
const DefaultGrace = 24 * time.Hour

// NoGrace, as GCOptions.Grace, reclaims a blob the moment it is let go
// of: for tests, or a bucket no replica writes to.
const NoGrace time.Duration = -1

// tombstoneLife bounds how long a tombstone may stand. A collection
// sends its DELETE of the blob within tombstoneLife/2 of writing the
// tombstone (its request carries a deadline of what is left), else gives
// the blob up; a writer that has waited tombstoneLife for one to go takes
// it for the leftover of a collection that died, removes it and goes on.
const tombstoneLife = time.Minute

// tombstonePoll is how often a writer waiting for a tombstone looks again.
const tombstonePoll = 50 * time.Millisecond

// GCOptions says what Collect reclaims. The zero value removes, after
// DefaultGrace, the content of each repository that none of its manifests
// reaches and the blobs no repository holds; it keeps every tag and every
// manifest.
type GCOptions struct {
	// Grace spares content let go of less than Grace ago: a blob no
	// repository holds since less than Grace (or, never held, written
	// less than Grace ago), a blob or manifest a repository took less
	// than Grace ago. Default DefaultGrace; NoGrace for none.
	Grace time.Duration
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Retention removes tags, and the manifests only they kept. Default:
	// none removed.
	Retention gc.Retention
}

// tombstoneKey is the object a collection writes before it deletes d's
// bytes: writers that find it wait for it to go.
func (s *Store) tombstoneKey(d digest.Digest) string {
	return s.prefix + "gc/deleting/" + string(d.Algorithm()) + "/" + d.Encoded()
}

// releasedKey is the object whose write time is when some repository
// last let go of d (or was about to, see unpin).
func (s *Store) releasedKey(d digest.Digest) string {
	return s.prefix + "gc/released/" + string(d.Algorithm()) + "/" + d.Encoded()
}

// pin writes repo's holder mark for d, then waits until no collection is
// deleting d. Every path that links a blob pins it before it looks for or
// writes the bytes, so what it finds stays: a collection either lists
// the mark (and spares the blob) or wrote its tombstone first, which this
// wait then sees (see the package documentation).
func (s *Store) pin(ctx context.Context, repo string, d digest.Digest) error {
	if _, err := s.putBytes(ctx, s.holderKey(d, repo), nil, "-", "application/octet-stream"); err != nil {
		return fmt.Errorf("pin %s in %s: %w", d, repo, err)
	}
	if err := s.waitTombstone(ctx, d); err != nil {
		return fmt.Errorf("pin %s in %s: %w", d, repo, err)
	}
	return nil
}

// waitTombstone returns once no tombstone stands for d.
func (s *Store) waitTombstone(ctx context.Context, d digest.Digest) error {
	key := s.tombstoneKey(d)
	var first time.Time
	for {
		_, there, err := s.stat(ctx, key)
		if err != nil || !there {
			return err
		}
		if first.IsZero() {
			first = time.Now()
		} else if time.Since(first) > tombstoneLife {
			// The collection that wrote it died: past tombstoneLife/2 it
			// sends no DELETE of the blob any more.
			s.log.Warn("s3 store: removing an abandoned garbage-collection tombstone", "digest", d)
			if err := s.remove(ctx, key); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tombstonePoll):
		}
	}
}

// unpin takes back repo's holder mark for d, for a Delete or for a push
// that did not link. The released time is written before the mark goes,
// so a collection that lists no mark meanwhile still finds d let go of
// just now; and if repo links d again meanwhile (its mark written before
// this removal), the mark is put back.
func (s *Store) unpin(ctx context.Context, repo string, d digest.Digest) error {
	if _, err := s.putBytes(ctx, s.releasedKey(d), nil, "-", "application/octet-stream"); err != nil {
		return fmt.Errorf("unpin %s in %s: %w", d, repo, err)
	}
	if err := s.remove(ctx, s.holderKey(d, repo)); err != nil {
		return fmt.Errorf("unpin %s in %s: %w", d, repo, err)
	}
	if _, there, err := s.stat(ctx, s.linkKey(repo, d)); err != nil {
		return fmt.Errorf("unpin %s in %s: %w", d, repo, err)
	} else if there {
		if _, err := s.putBytes(ctx, s.holderKey(d, repo), nil, "-", "application/octet-stream"); err != nil {
			return fmt.Errorf("unpin %s in %s: %w", d, repo, err)
		}
	}
	return nil
}

// gcCand is a blob Collect may remove.
type gcCand struct {
	d        digest.Digest
	size     int64
	modified time.Time
}

// gcStage, when set (tests), is called at each step of a run: for a
// repository (d ""), "repository" once its epoch is set running, before
// the snapshot, and "planned" after the snapshot, before any removal; for
// a blob, "tombstone" once the tombstone is written, "checked" once the
// holder marks and released time were found clear, just before the
// DELETE.
var gcStage func(d digest.Digest, stage string)

// Collect removes the blobs of the bucket that no repository holds: no
// holder mark (so no link, and no push about to link), let go of — or,
// never held, written — more than Grace ago. It may run on one replica
// while others serve and push; several may run at once. See the package
// documentation for why no push loses a blob to it.
//
// It does not yet unlink from repositories the content no manifest they
// keep reaches (the disk store's repository phase): on S3 a blob is
// reclaimed once every repository deleted it through the API.
func (s *Store) Collect(ctx context.Context, opts GCOptions) (*gc.Report, error) {
	start := time.Now()
	switch {
	case opts.Grace == 0:
		opts.Grace = DefaultGrace
	case opts.Grace < 0:
		opts.Grace = 0
	}
	rules, err := opts.Retention.Compile()
	if err != nil {
		return nil, err
	}
	cutoff := start.Add(-opts.Grace)
	rep := &gc.Report{DryRun: opts.DryRun, TagsRemoved: []string{}, Unlinked: []gc.Unlink{}, Blobs: []gc.Blob{}, Busy: []string{}}
	names, err := s.repositoryNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.collectRepository(ctx, rules, name, start, cutoff, opts.DryRun, rep); err != nil {
			return nil, err
		}
	}
	// The blob phase's cutoff is taken once the repository phase is done,
	// so that with no grace what it let go of goes in the same run.
	cutoff = time.Now().Add(-opts.Grace)
	held, err := s.listDigests(ctx, s.prefix+"holders/", nil)
	if err != nil {
		return nil, err
	}
	released := map[digest.Digest]time.Time{}
	if _, err := s.listDigests(ctx, s.prefix+"gc/released/", func(d digest.Digest, obj minio.ObjectInfo) {
		released[d] = obj.LastModified
	}); err != nil {
		return nil, err
	}
	var cands []gcCand
	if _, err := s.listDigests(ctx, s.prefix+"blobs/", func(d digest.Digest, obj minio.ObjectInfo) {
		if !held[d] && !obj.LastModified.After(cutoff) && !released[d].After(cutoff) {
			cands = append(cands, gcCand{d: d, size: obj.Size, modified: obj.LastModified})
		}
	}); err != nil {
		return nil, err
	}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opts.DryRun {
			rep.Blobs = append(rep.Blobs, gc.Blob{Digest: c.d, Size: c.size})
			rep.BlobsReclaimed++
			rep.BytesReclaimed += c.size
			continue
		}
		gone, err := s.collectBlob(ctx, c, cutoff)
		if err != nil {
			return nil, err
		}
		if !gone {
			rep.Spared++
			continue
		}
		rep.Blobs = append(rep.Blobs, gc.Blob{Digest: c.d, Size: c.size})
		rep.BlobsReclaimed++
		rep.BytesReclaimed += c.size
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// listDigests lists the objects under root whose keys go on with
// <alg>/<hex>, calling fn (if not nil) for each, and returns the set of
// digests seen.
func (s *Store) listDigests(ctx context.Context, root string, fn func(digest.Digest, minio.ObjectInfo)) (map[digest.Digest]bool, error) {
	seen := map[digest.Digest]bool{}
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.fail("list", root, obj.Err)
		}
		parts := strings.SplitN(strings.TrimPrefix(obj.Key, root), "/", 3)
		if len(parts) < 2 {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[1])
		if d.Validate() != nil {
			continue
		}
		seen[d] = true
		if fn != nil {
			fn(d, obj)
		}
	}
	return seen, nil
}

// collectBlob removes c's bytes if they are still garbage, and reports
// whether it did. The protocol, against a writer's pin (holder mark, then
// a look for the tombstone):
//
//  1. write the tombstone with If-None-Match: * (a collection running on
//     another replica that got there first has the blob);
//  2. list d's holder marks: any, and the blob stays;
//  3. read the released time again: let go of within the grace (a Delete
//     or a failed push took its mark back meanwhile), and it stays;
//  4. DELETE the bytes, within tombstoneLife/2 of step 1;
//  5. remove the released time and the tombstone.
//
// A writer whose mark came after step 2 looked for the tombstone after
// step 1, so it waits until step 5 and finds the bytes gone.
func (s *Store) collectBlob(ctx context.Context, c gcCand, cutoff time.Time) (bool, error) {
	d := c.d
	tomb := s.tombstoneKey(d)
	if _, err := s.putBytes(ctx, tomb, nil, "", "application/octet-stream"); errors.Is(err, errPrecondition) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("collect %s: %w", d, err)
	}
	written := time.Now()
	if gcStage != nil {
		gcStage(d, "tombstone")
	}
	spare := func() (bool, error) {
		if err := s.remove(ctx, tomb); err != nil {
			return false, fmt.Errorf("collect %s: %w", d, err)
		}
		return false, nil
	}
	if held, err := s.anyHolder(ctx, d); err != nil {
		_, _ = spare()
		return false, fmt.Errorf("collect %s: %w", d, err)
	} else if held {
		return spare()
	}
	info, err := s.mc.StatObject(ctx, s.bucket, s.releasedKey(d), minio.StatObjectOptions{})
	if err = s.fail("stat", s.releasedKey(d), err); err != nil && !errors.Is(err, cas.ErrNotFound) {
		_, _ = spare()
		return false, fmt.Errorf("collect %s: %w", d, err)
	} else if err == nil && info.LastModified.After(cutoff) {
		return spare()
	}
	if gcStage != nil {
		gcStage(d, "checked")
	}
	left := tombstoneLife/2 - time.Since(written)
	if left <= 0 {
		return spare()
	}
	dctx, cancel := context.WithTimeout(ctx, left)
	err = s.remove(dctx, s.blobKey(d))
	cancel()
	if err != nil {
		// Whether the DELETE landed is unknown; the tombstone goes all the
		// same: a writer then finds the bytes, or writes them again.
		_, _ = spare()
		return false, fmt.Errorf("collect %s: %w", d, err)
	}
	if err := s.remove(ctx, s.releasedKey(d)); err != nil {
		s.log.Warn("s3 store: removing a released time", "digest", d, "err", err)
	}
	if err := s.remove(ctx, tomb); err != nil {
		return true, fmt.Errorf("collect %s: %w", d, err)
	}
	return true, nil
}

// anyHolder reports whether d has a holder mark, a link's or a pin's.
func (s *Store) anyHolder(ctx context.Context, d digest.Digest) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing after its first key
	dir := s.holderKey(d, "")
	obj, ok := <-s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true, MaxKeys: 1})
	if !ok {
		return false, nil
	}
	if obj.Err != nil {
		return false, s.fail("list", dir, obj.Err)
	}
	return true, nil
}
