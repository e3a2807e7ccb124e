package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/gc"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// epoch is a repository's garbage-collection state, the object
// repositories/<name>/_gc: whether a collection is removing links and
// tags from it. Each write carries a new ID, so its ETag changes with
// every start and end of a run, and a writer that read it before
// checking content and reads the same ETag after knows no run came
// between.
type epoch struct {
	Running bool   `json:"running"`
	ID      string `json:"id"`
}

func (s *Store) epochKey(repo string) string { return s.repoKey(repo) + "_gc" }

// settle waits until no collection is removing content from repo and
// returns the ETag of its epoch then ("" for none). A writer that has
// waited tombstoneLife takes a run still marked running for one that died.
func (s *Store) settle(ctx context.Context, repo string) (string, error) {
	var first time.Time
	for {
		var e epoch
		etag, err := s.getJSON(ctx, s.epochKey(repo), &e)
		if errors.Is(err, cas.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if !e.Running {
			return etag, nil
		}
		if first.IsZero() {
			first = time.Now()
		} else if time.Since(first) > tombstoneLife {
			return etag, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(tombstonePoll):
		}
	}
}

// Guard implements cas.Guarder across replicas: it reads the repository's
// garbage-collection epoch, and the manifest Push that follows (through
// this Repo) compares it with the epoch after its link is written. A
// collection that ran in between may have unlinked children the caller
// checked, so Push checks them again and fails if one is gone. Guard reads
// the bucket (it may wait for a run in progress, at most tombstoneLife);
// on an error it records nothing, and Push checks the children.
func (r *Repo) Guard() func() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*tombstoneLife)
	defer cancel()
	etag, err := r.s.settle(ctx, r.name)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.guarded = true
	r.guardEpoch, r.guardKnown = etag, err == nil
	return func() {
		r.mu.Lock()
		r.guarded = false
		r.mu.Unlock()
	}
}

var _ cas.Guarder = (*Repo)(nil)

// checkChildren, for a manifest just linked under a Guard, waits out any
// collection of the repository and, if one ran since the Guard, checks
// again that the repository holds every child of the manifest.
func (r *Repo) checkChildren(ctx context.Context, desc ocispec.Descriptor, body []byte) error {
	r.mu.Lock()
	guarded, before, known := r.guarded, r.guardEpoch, r.guardKnown
	r.mu.Unlock()
	if !guarded {
		return nil
	}
	after, err := r.s.settle(ctx, r.name)
	if err != nil {
		return err
	}
	if known && after == before {
		return nil
	}
	m, err := oci.ParseManifest(desc, body)
	if err != nil {
		return nil // the registry parsed it; nothing to check
	}
	for _, c := range m.Children() {
		if _, err := r.getLink(ctx, c.Digest); errors.Is(err, cas.ErrNotFound) {
			return fmt.Errorf("manifest %s in %s: %s was collected while it was pushed: push it again: %w", desc.Digest, r.name, c.Digest, cas.ErrNotFound)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// repositoryNames lists every repository that has anything in the bucket:
// links, tags or referrers.
func (s *Store) repositoryNames(ctx context.Context) ([]string, error) {
	root := s.prefix + "repositories/"
	seen := map[string]bool{}
	var names []string
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.fail("list", root, obj.Err)
		}
		rest := strings.TrimPrefix(obj.Key, root)
		i := strings.Index(rest, "/_")
		if i <= 0 {
			continue
		}
		if name := rest[:i]; !seen[name] && oci.ValidateRepository(name) == nil {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names, nil
}

// node returns the manifest desc's node, reading it the first time; nil
// for content that is not a readable manifest. Manifests never change, so
// nodes are kept between runs.
func (s *Store) node(ctx context.Context, desc ocispec.Descriptor) *gc.Node {
	if !oci.IsManifest(desc.MediaType) {
		return nil
	}
	s.mu.Lock()
	n, ok := s.gcNodes[desc.Digest]
	s.mu.Unlock()
	if ok {
		return n
	}
	rc, err := s.open(ctx, desc.Digest, minio.GetObjectOptions{})
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(rc, oci.MaxManifestSize+1))
	rc.Close()
	if err != nil || len(b) > oci.MaxManifestSize || digest.FromBytes(b) != desc.Digest && desc.Digest.Algorithm() == digest.SHA256 {
		return nil
	}
	m, err := oci.ParseManifest(ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: int64(len(b))}, b)
	if err != nil {
		return nil
	}
	n = &gc.Node{Children: m.Children()}
	if m.Subject != nil {
		n.Subject = m.Subject.Digest
	}
	s.mu.Lock()
	if len(s.gcNodes) > maxNodes {
		clear(s.gcNodes)
	}
	s.gcNodes[desc.Digest] = n
	s.mu.Unlock()
	return n
}

// maxNodes bounds the manifests kept between runs.
const maxNodes = 1 << 20

// collectRepository removes from repository name what rules and the
// grace say goes. The run marks the repository's epoch running (by
// compare-and-swap: a run of another replica on it leaves it to that
// one), reads its links, tags and referrers only then, and marks the
// epoch done at the end. Writers meet it as Tag and a guarded manifest
// Push describe: a tag or manifest written after the snapshot waits for
// the end and then finds what the run removed.
func (s *Store) collectRepository(ctx context.Context, rules *gc.Rules, name string, now, cutoff time.Time, dry bool, rep *gc.Report) error {
	ekey := s.epochKey(name)
	var started time.Time
	if !dry {
		var e epoch
		etag, err := s.getJSON(ctx, ekey, &e)
		if err != nil && !errors.Is(err, cas.ErrNotFound) {
			return err
		}
		if e.Running {
			rep.Busy = append(rep.Busy, name)
			return nil
		}
		if _, err := s.putJSON(ctx, ekey, epoch{Running: true, ID: newID()}, etag); errors.Is(err, errPrecondition) {
			rep.Busy = append(rep.Busy, name)
			return nil
		} else if err != nil {
			return err
		}
		started = time.Now()
		defer func() {
			if _, err := s.putJSON(context.WithoutCancel(ctx), ekey, epoch{ID: newID()}, "-"); err != nil {
				s.log.Warn("s3 store: ending a garbage collection of a repository", "repository", name, "err", err)
			}
		}()
	}
	if gcStage != nil {
		gcStage("", "repository")
	}
	in := &gc.Repository{Name: name, Links: map[digest.Digest]gc.Link{}, Referrers: map[digest.Digest][]digest.Digest{}}
	if err := s.readLinks(ctx, name, in.Links); err != nil {
		return err
	}
	var tl tagList
	if _, err := s.getJSON(ctx, s.tagsKey(name), &tl); err != nil && !errors.Is(err, cas.ErrNotFound) {
		return err
	}
	for t, desc := range tl.Tags {
		in.Tags = append(in.Tags, gc.Tag{Name: t, Digest: desc.Digest})
	}
	refDir := s.repoKey(name) + "_referrers/"
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: refDir, Recursive: true}) {
		if obj.Err != nil {
			return s.fail("list", refDir, obj.Err)
		}
		alg, hexpart, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(obj.Key, refDir), ".json"), "/")
		subj := digest.NewDigestFromEncoded(digest.Algorithm(alg), hexpart)
		if !ok || subj.Validate() != nil {
			continue
		}
		var rl referrerList
		if _, err := s.getJSON(ctx, obj.Key, &rl); err != nil {
			continue
		}
		for _, r := range rl.Referrers {
			in.Referrers[subj] = append(in.Referrers[subj], r.Digest)
		}
	}
	in.Young = func(d digest.Digest) bool { return in.Links[d].Since > cutoff.Unix() }
	in.Node = func(desc ocispec.Descriptor) *gc.Node { return s.node(ctx, desc) }
	plan := rules.Plan(in, now)
	if gcStage != nil {
		gcStage("", "planned")
	}
	if dry {
		for _, t := range plan.Tags {
			rep.TagsRemoved = append(rep.TagsRemoved, name+":"+t)
		}
		for _, d := range plan.Unlink {
			rep.Unlinked = append(rep.Unlinked, gc.Unlink{Repository: name, Digest: d, Manifest: in.Links[d].MediaType != ""})
		}
		return nil
	}
	r := &Repo{s: s, name: name}
	late := func() bool {
		if time.Since(started) > tombstoneLife/2 {
			rep.Busy = append(rep.Busy, name) // the rest waits for the next run
			return true
		}
		return false
	}
	if len(plan.Tags) > 0 {
		snap := map[string]digest.Digest{}
		for _, t := range in.Tags {
			snap[t.Name] = t.Digest
		}
		var removed []string
		err := r.changeTags(ctx, func(tags map[string]ocispec.Descriptor) (bool, error) {
			removed = removed[:0]
			for _, t := range plan.Tags {
				if desc, ok := tags[t]; ok && desc.Digest == snap[t] {
					delete(tags, t)
					removed = append(removed, t)
				}
			}
			return len(removed) > 0, nil
		})
		if err != nil {
			return fmt.Errorf("garbage collection in %s: %w", name, err)
		}
		for _, t := range removed {
			rep.TagsRemoved = append(rep.TagsRemoved, name+":"+t)
		}
	}
	for _, d := range plan.Unlink {
		if late() {
			return nil
		}
		// A link taken again since the snapshot (deleted, then pushed
		// anew) is young: left alone.
		var l link
		if _, err := s.getJSON(ctx, s.linkKey(name, d), &l); err != nil || l.Since != in.Links[d].Since {
			continue
		}
		if err := s.remove(ctx, s.linkKey(name, d)); err != nil {
			return fmt.Errorf("garbage collection in %s: %w", name, err)
		}
		if err := s.unpin(ctx, name, d); err != nil {
			return fmt.Errorf("garbage collection in %s: %w", name, err)
		}
		rep.Unlinked = append(rep.Unlinked, gc.Unlink{Repository: name, Digest: d, Manifest: in.Links[d].MediaType != ""})
		if subj, ok := plan.SubjectOf[d]; ok {
			if err := r.RemoveReferrer(ctx, subj, d); err != nil {
				return fmt.Errorf("garbage collection in %s: %w", name, err)
			}
		}
	}
	for _, e := range plan.Refs {
		if late() {
			return nil
		}
		if err := r.RemoveReferrer(ctx, e.Subject, e.Referrer); err != nil {
			return fmt.Errorf("garbage collection in %s: %w", name, err)
		}
	}
	return nil
}

// linkReaders bounds the link reads of a collection at once.
const linkReaders = 16

// cachedLink is a link as a collection read it, by the ETag the listing
// gave: a link object changes only when rewritten, which changes its ETag.
type cachedLink struct {
	etag string
	l    gc.Link
}

// readLinks fills links with repository name's links: listed, then read
// (linkReaders at once), each only if its ETag differs from the one read
// by an earlier run. A run holds the repository's epoch while it reads,
// so this is what tags and manifest pushes of the repository wait behind.
func (s *Store) readLinks(ctx context.Context, name string, links map[digest.Digest]gc.Link) error {
	type item struct {
		d    digest.Digest
		etag string
	}
	var todo []item
	s.mu.Lock()
	cache := s.gcLinks[name]
	s.mu.Unlock()
	if _, err := s.listDigests(ctx, s.repoKey(name)+"_links/", func(d digest.Digest, obj minio.ObjectInfo) {
		if c, ok := cache[d]; ok && c.etag == obj.ETag {
			links[d] = c.l
			return
		}
		todo = append(todo, item{d, obj.ETag})
	}); err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan item)
	)
	fresh := map[digest.Digest]cachedLink{}
	for range min(linkReaders, len(todo)) {
		wg.Go(func() {
			for it := range next {
				var l link
				etag, err := s.getJSON(ctx, s.linkKey(name, it.d), &l)
				if err != nil {
					continue // gone since the listing, or damaged: not held
				}
				mu.Lock()
				links[it.d] = gc.Link{Since: l.Since, MediaType: l.MediaType}
				fresh[it.d] = cachedLink{etag: etag, l: links[it.d]}
				mu.Unlock()
			}
		})
	}
	for _, it := range todo {
		next <- it
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	kept := make(map[digest.Digest]cachedLink, len(links))
	for d := range links {
		if c, ok := fresh[d]; ok {
			kept[d] = c
		} else {
			kept[d] = cache[d]
		}
	}
	s.mu.Lock()
	s.gcLinks[name] = kept
	s.mu.Unlock()
	return nil
}
