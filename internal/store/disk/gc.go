package disk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// trashDir, under .gantry/, is where garbage collection renames a blob
// before unlinking it: the rename is the atomic step, under the store's
// lock; the unlink of a large file, which takes a while, happens outside.
// Open empties it.
const trashDir = "trash"

// trashAbove is the size from which a blob is renamed into the trash
// under the lock and unlinked after it, rather than unlinked under it.
const trashAbove = 1 << 20

// DefaultGrace is GCOptions.Grace's default: longer than any push takes
// from its first blob to its last tag, so a push in progress never loses
// the blobs it uploaded first.
const DefaultGrace = 24 * time.Hour

// NoGrace, as GCOptions.Grace, reclaims content the moment it is let go
// of: for a stopped store, or tests.
const NoGrace time.Duration = -1

// GCOptions says what Collect reclaims. The zero value removes, after
// DefaultGrace, the blobs no repository holds and the content of each
// repository that none of its manifests reaches; it keeps every tag and
// every manifest.
type GCOptions struct {
	// Grace spares content let go of less than Grace ago: a blob no
	// repository holds since less than Grace, a blob or manifest a
	// repository took less than Grace ago. Default DefaultGrace; NoGrace
	// for none.
	Grace time.Duration
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Retention removes tags, and the manifests only they kept. Default:
	// none removed.
	Retention Retention
	// Batch is the number of blobs removed between two syncs of the
	// blobs directory (each removal holds the store's lock on its own).
	// Default 256.
	Batch int
}

// Retention rules say which tags garbage collection removes. The zero
// value removes none. Patterns are Go regular expressions matched against
// the whole name.
type Retention struct {
	// Repositories the rules apply to. Default: all.
	Repositories []string `json:"repositories,omitempty" yaml:"repositories,omitempty"`
	// Match limits the rules to these tags; others are kept. Default: all.
	Match []string `json:"match,omitempty" yaml:"match,omitempty"`
	// Protect: a tag matching one of these is never removed.
	Protect []string `json:"protect,omitempty" yaml:"protect,omitempty"`
	// KeepLast keeps the N most recently pushed matching tags of each
	// repository. 0: no such rule.
	KeepLast int `json:"keepLast,omitempty" yaml:"keepLast,omitempty"`
	// MaxAge keeps matching tags pushed less than MaxAge ago. 0: no such
	// rule. With KeepLast too, a tag either rule keeps stays.
	MaxAge time.Duration `json:"maxAge,omitempty" yaml:"maxAge,omitempty"`
	// RemoveUntagged removes manifests that no tag reaches (and that are
	// not a referrer of kept content) once older than the grace period.
	// Default: they are kept, as are their blobs. A manifest whose tags
	// this run removes goes whatever this says.
	RemoveUntagged bool `json:"removeUntagged,omitempty" yaml:"removeUntagged,omitempty"`
}

// retention is Retention compiled.
type retention struct {
	Retention
	repos, match, protect []*regexp.Regexp
}

func compilePatterns(what string, pats []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range pats {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			return nil, fmt.Errorf("retention %s pattern %q: %v: %w", what, p, err, cas.ErrInvalid)
		}
		out = append(out, re)
	}
	return out, nil
}

// Validate reports a pattern that does not compile or a negative number.
func (r Retention) Validate() error {
	_, err := r.compile()
	return err
}

func (r Retention) compile() (*retention, error) {
	if r.KeepLast < 0 || r.MaxAge < 0 {
		return nil, fmt.Errorf("retention: keepLast %d and maxAge %s must not be negative: %w", r.KeepLast, r.MaxAge, cas.ErrInvalid)
	}
	c := &retention{Retention: r}
	var err error
	if c.repos, err = compilePatterns("repositories", r.Repositories); err != nil {
		return nil, err
	}
	if c.match, err = compilePatterns("match", r.Match); err != nil {
		return nil, err
	}
	if c.protect, err = compilePatterns("protect", r.Protect); err != nil {
		return nil, err
	}
	return c, nil
}

func anyMatch(res []*regexp.Regexp, s string, empty bool) bool {
	if len(res) == 0 {
		return empty
	}
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

// GCUnlink is content that garbage collection took out of a repository.
type GCUnlink struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Manifest   bool          `json:"manifest"`
}

// GCBlob is a blob file garbage collection removed.
type GCBlob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// GCReport is what Collect did, or would do (DryRun).
type GCReport struct {
	DryRun bool `json:"dryRun"`
	// TagsRemoved lists the tags retention removed, as REPO:TAG.
	TagsRemoved []string `json:"tagsRemoved"`
	// Unlinked lists the manifests and blobs taken out of repositories.
	Unlinked []GCUnlink `json:"unlinked"`
	// Blobs lists the blob files removed; BlobsReclaimed and
	// BytesReclaimed count them.
	Blobs          []GCBlob `json:"blobs"`
	BlobsReclaimed int      `json:"blobsReclaimed"`
	BytesReclaimed int64    `json:"bytesReclaimed"`
	// TempsRemoved and TempBytes count the temporary files of interrupted
	// pushes and rewrites removed (what fsck calls stray or stale).
	TempsRemoved int   `json:"tempsRemoved"`
	TempBytes    int64 `json:"tempBytes"`
	// Busy lists repositories left for the next run: a push changed them
	// while this run decided.
	Busy []string `json:"busy"`
	// Duration is the whole run; LongestPause the longest time it held
	// the store's lock, which requests wait behind.
	Duration     time.Duration `json:"duration"`
	LongestPause time.Duration `json:"longestPause"`
}

// gcNode is what garbage collection needs of a manifest: the content it
// refers to. Manifests never change, so nodes are kept between runs.
type gcNode struct {
	children []ocispec.Descriptor
	subject  digest.Digest
}

// pin keeps d's file from garbage collection until the returned function
// is called. Every path that links a blob pins it before it looks for
// the file, so that what it found is still there when the link is made.
func (s *Store) pin(d digest.Digest) func() {
	s.gcMu.Lock()
	s.pins[d]++
	s.gcMu.Unlock()
	return func() {
		s.gcMu.Lock()
		if s.pins[d]--; s.pins[d] <= 0 {
			delete(s.pins, d)
		}
		s.gcMu.Unlock()
	}
}

// bumpGen records that repo took content or a tag: a garbage collection
// that decided on an older state leaves the repository alone.
func (s *Store) bumpGen(repo string) {
	s.gcMu.Lock()
	s.gens[repo]++
	s.gcMu.Unlock()
}

// Guard implements cas.Guarder.
func (r *Repo) Guard() func() {
	s := r.s
	// jmu orders the guard with a collection's commit, which checks the
	// guards and then writes and applies its unlinks holding jmu: the
	// guard comes either before the check (which then leaves the
	// repository alone) or after the unlinks are applied (and the writer's
	// check of the children sees them gone).
	s.jmu.Lock()
	s.gcMu.Lock()
	s.guards[r.name]++
	s.gens[r.name]++
	s.gcMu.Unlock()
	s.jmu.Unlock()
	return func() {
		s.gcMu.Lock()
		if s.guards[r.name]--; s.guards[r.name] <= 0 {
			delete(s.guards, r.name)
		}
		s.gens[r.name]++
		s.gcMu.Unlock()
	}
}

var _ cas.Guarder = (*Repo)(nil)

// Collect reclaims space in two phases, each deciding on a snapshot and
// then re-checking, under the store's lock, what could have changed.
//
// Repositories: in each one, retention removes tags; what the kept tags
// reach (through indexes, manifests, configs and layers), the referrers of
// kept content (and what they reach), the untagged manifests unless
// RemoveUntagged, and anything taken less than Grace ago are kept; the
// rest is unlinked. Blobs: every blob file no repository holds, let go of
// more than Grace ago (or, never held, written more than Grace ago), and
// not reached from an index.json entry another tool wrote, is removed.
// Then the temporary files of interrupted pushes and rewrites go.
//
// See the package documentation for why no push loses content to it. One
// Collect runs at a time; it may run while the store serves.
func (s *Store) Collect(ctx context.Context, opts GCOptions) (*GCReport, error) {
	start := time.Now()
	ret, err := opts.Retention.compile()
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Grace == 0:
		opts.Grace = DefaultGrace
	case opts.Grace < 0:
		opts.Grace = 0
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	s.gcRun.Lock()
	defer s.gcRun.Unlock()
	if s.shut.Load() {
		return nil, fmt.Errorf("store %s: %w", s.dir, errClosed)
	}
	g := &collector{s: s, ctx: ctx, opts: opts, ret: ret, now: start, cutoff: start.Add(-opts.Grace).Unix(), cutoffNano: start.Add(-opts.Grace).UnixNano(),
		rep:      &GCReport{DryRun: opts.DryRun, TagsRemoved: []string{}, Unlinked: []GCUnlink{}, Blobs: []GCBlob{}, Busy: []string{}},
		released: map[digest.Digest]int{}}
	s.gcOn.Store(true)
	s.gcMu.Lock()
	for k, t := range s.touched {
		if t <= g.cutoffNano {
			delete(s.touched, k)
		}
	}
	s.gcMu.Unlock()
	if err := g.repositories(); err != nil {
		return nil, err
	}
	if err := g.blobs(); err != nil {
		return nil, err
	}

	if !opts.DryRun {
		if err := g.temps(); err != nil {
			return nil, err
		}
	}
	g.rep.Duration = time.Since(start)
	return g.rep, nil
}

// collector is one Collect run.
type collector struct {
	s      *Store
	ctx    context.Context
	opts   GCOptions
	ret    *retention
	now    time.Time
	cutoff int64 // Unix seconds: content let go of at or before is garbage
	// cutoffNano is cutoff in Unix nanoseconds, for lookup times.
	cutoffNano int64
	rep        *GCReport
	// released counts, in a dry run, the repositories that would let go
	// of each blob, so the blob phase can tell which would be held by none.
	released map[digest.Digest]int
}

// held records a stretch during which the run held the store's lock; the
// longest is the run's pause.
func (g *collector) held(d time.Duration) {
	g.rep.LongestPause = max(g.rep.LongestPause, d)
}

// node returns the manifest d's graph node, reading it the first time;
// nil for content that is not a readable manifest.
func (g *collector) node(desc ocispec.Descriptor) *gcNode {
	s := g.s
	if !oci.IsManifest(desc.MediaType) {
		return nil
	}
	if n, ok := s.gcNodes[desc.Digest]; ok {
		return n
	}
	b, err := s.readBlob(desc.Digest, oci.MaxManifestSize)
	if err != nil {
		return nil // absent or damaged: fsck's business; nothing below is reached
	}
	m, err := oci.ParseManifest(ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: int64(len(b))}, b)
	if err != nil {
		return nil
	}
	n := &gcNode{children: m.Children()}
	if m.Subject != nil {
		n.subject = m.Subject.Digest
	}
	s.gcNodes[desc.Digest] = n
	return n
}

// repoSnap is one repository as garbage collection found it.
type repoSnap struct {
	name  string
	gen   uint64
	links linkSet
	tags  []*tagEntry
	refs  map[digest.Digest][]digest.Digest // subject -> referrers, from the index
	// touched: when content was last looked up (Unix ns).
	touched map[digest.Digest]int64
}

func (g *collector) repositories() error {
	s := g.s
	s.mu.RLock()
	names := make([]string, 0, len(s.links))
	for name := range s.links {
		names = append(names, name)
	}
	s.mu.RUnlock()
	slices.Sort(names)
	for _, name := range names {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		if err := g.repository(name); err != nil {
			return err
		}
	}
	return nil
}

func (g *collector) snapshot(name string) *repoSnap {
	s := g.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := time.Now() // writers wait behind the read lock
	defer func() { g.held(time.Since(start)) }()
	s.gcMu.Lock()
	snap := &repoSnap{name: name, gen: s.gens[name], links: linkSet{}, refs: map[digest.Digest][]digest.Digest{}, touched: map[digest.Digest]int64{}}
	for d, l := range s.links[name] {
		snap.links[d] = l
		if t, ok := s.touched[linkKey{name, d}]; ok {
			snap.touched[d] = t
		}
	}
	s.gcMu.Unlock()
	s.tags.repoTags(name, "", func(e *tagEntry) bool {
		snap.tags = append(snap.tags, e)
		return true
	})
	for subj, list := range s.refs[name] {
		for _, r := range list {
			snap.refs[subj] = append(snap.refs[subj], r.Desc.Digest)
		}
	}
	return snap
}

// repository decides what leaves one repository and commits it.
func (g *collector) repository(name string) error {
	snap := g.snapshot(name)
	young := func(d digest.Digest) bool {
		return snap.links[d].Since > g.cutoff || snap.touched[d] > g.cutoffNano
	}

	// Retention: which tags go.
	doomedTags := g.retain(snap)
	kept := map[digest.Digest]bool{}
	var queue []ocispec.Descriptor
	keep := func(d digest.Digest, mt string) {
		l, ok := snap.links[d]
		if !ok || kept[d] {
			return
		}
		kept[d] = true
		if l.MediaType != "" {
			mt = l.MediaType
		}
		queue = append(queue, ocispec.Descriptor{Digest: d, MediaType: mt})
	}
	tagged := map[digest.Digest]bool{}
	for _, e := range snap.tags {
		tagged[e.desc.Digest] = true
	}
	subjectOf := map[digest.Digest]digest.Digest{}
	for subj, list := range snap.refs {
		for _, r := range list {
			subjectOf[r] = subj
		}
	}
	for d, l := range snap.links {
		if l.MediaType == "" {
			continue
		}
		if n := g.node(ocispec.Descriptor{Digest: d, MediaType: l.MediaType}); n != nil && n.subject != "" {
			subjectOf[d] = n.subject
		}
	}
	for _, e := range snap.tags {
		if !doomedTags[e.tag] {
			if _, ref := subjectOf[e.desc.Digest]; !ref {
				keep(e.desc.Digest, "")
			}
		}
	}
	for d, l := range snap.links {
		switch {
		case young(d):
			keep(d, "")
		case l.MediaType != "" && !tagged[d] && !g.ret.RemoveUntagged:
			if _, ref := subjectOf[d]; !ref {
				keep(d, "")
			}
		}
	}
	for {
		for len(queue) > 0 {
			desc := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if n := g.node(desc); n != nil {
				for _, c := range n.children {
					keep(c.Digest, c.MediaType) // a child's type, if it entered as a blob
				}
			}
		}
		// Referrers of kept content are kept, and what they reach.
		for r, subj := range subjectOf {
			if kept[subj] && !kept[r] {
				keep(r, "")
			}
		}
		if len(queue) == 0 {
			break
		}
	}

	var recs []record
	t := g.now.Unix()
	var tagNames []string
	for _, e := range snap.tags {
		if doomedTags[e.tag] {
			recs = append(recs, record{Op: "untag", Repo: name, Tag: e.tag})
			tagNames = append(tagNames, name+":"+e.tag)
		}
	}
	var unlinked []GCUnlink
	for _, d := range slices.Sorted(func(yield func(digest.Digest) bool) {
		for d := range snap.links {
			if !yield(d) {
				return
			}
		}
	}) {
		if kept[d] {
			continue
		}
		recs = append(recs, record{Op: "unlink", Repo: name, Digest: d, Time: t})
		unlinked = append(unlinked, GCUnlink{Repository: name, Digest: d, Manifest: snap.links[d].MediaType != ""})
		if subj, ok := subjectOf[d]; ok {
			recs = append(recs, record{Op: "refdel", Repo: name, Subject: subj, Referrer: d})
		}
	}
	// Index entries whose referrer the repository does not hold and whose
	// subject goes (or was never here) go too.
	for subj, list := range snap.refs {
		if kept[subj] {
			continue
		}
		for _, r := range list {
			if _, held := snap.links[r]; !held {
				recs = append(recs, record{Op: "refdel", Repo: name, Subject: subj, Referrer: r})
			}
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if g.opts.DryRun {
		g.rep.TagsRemoved = append(g.rep.TagsRemoved, tagNames...)
		g.rep.Unlinked = append(g.rep.Unlinked, unlinked...)
		for _, u := range unlinked {
			g.released[u.Digest]++
		}
		return nil
	}
	const chunk = 512
	for i := 0; i < len(recs); i += chunk {
		done, err := g.commit(name, snap.gen, recs[i:min(i+chunk, len(recs))])
		if err != nil {
			return fmt.Errorf("garbage collection in %s: %w", name, err)
		}
		if done == nil {
			// A push changed the repository since the snapshot: what
			// was committed before stays done, the rest waits.
			g.rep.Busy = append(g.rep.Busy, name)
			break
		}
		for _, r := range done {
			switch r.Op {
			case "untag":
				g.rep.TagsRemoved = append(g.rep.TagsRemoved, name+":"+r.Tag)
			case "unlink":
				g.rep.Unlinked = append(g.rep.Unlinked, GCUnlink{Repository: name, Digest: r.Digest, Manifest: snap.links[r.Digest].MediaType != ""})
			}
		}
	}
	return nil
}

// commit makes recs, decided on a snapshot of repository name at
// generation gen, durable and applies them, holding jmu throughout.
// First, under mu: if a manifest PUT guards the repository or it took
// content or a tag since (gen moved), nothing is done (nil records);
// unlinks of content looked up within the grace period are dropped (a
// client may be about to refer to it); the remaining unlinks are doomed,
// so no lookup finds them from then on. Then the records are written,
// synced and applied, and the doomed marks cleared. It returns the records
// committed.
func (g *collector) commit(name string, gen uint64, recs []record) ([]record, error) {
	s := g.s
	s.jmu.Lock()
	defer s.jmu.Unlock()
	start := time.Now()
	defer func() { g.held(time.Since(start)) }()
	if s.closed || s.journal == nil {
		return nil, fmt.Errorf("store %s: %w", s.dir, errClosed)
	}
	var keep []record
	s.mu.Lock()
	s.gcMu.Lock()
	if s.guards[name] > 0 || s.gens[name] != gen {
		s.gcMu.Unlock()
		s.mu.Unlock()
		return nil, nil
	}
	spared := map[digest.Digest]bool{}
	for _, r := range recs {
		if r.Op == "unlink" && s.touched[linkKey{name, r.Digest}] > g.cutoffNano {
			spared[r.Digest] = true
		}
	}
	for _, r := range recs {
		if spared[r.Digest] || (r.Op == "refdel" && spared[r.Referrer]) {
			continue
		}
		if r.Op == "unlink" {
			s.doomed[linkKey{name, r.Digest}] = true
		}
		keep = append(keep, r)
	}
	s.gcMu.Unlock()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, r := range keep {
			if r.Op == "unlink" {
				delete(s.doomed, linkKey{name, r.Digest})
			}
		}
		s.mu.Unlock()
	}()
	var buf []byte
	for _, r := range keep {
		b, err := encodeRecord(r)
		if err != nil {
			return nil, err
		}
		buf = append(buf, b...)
	}
	if len(keep) == 0 {
		return []record{}, nil
	}
	if err := s.appendApply(buf, keep); err != nil {
		return nil, err
	}
	return keep, nil
}

// retain returns the tags of snap that retention removes.
func (g *collector) retain(snap *repoSnap) map[string]bool {
	r := g.ret
	doomed := map[string]bool{}
	if (r.KeepLast == 0 && r.MaxAge == 0) || !anyMatch(r.repos, snap.name, true) {
		return doomed
	}
	type cand struct {
		tag   string
		since int64
	}
	var cands []cand
	for _, e := range snap.tags {
		if anyMatch(r.protect, e.tag, false) || !anyMatch(r.match, e.tag, true) {
			continue
		}
		cands = append(cands, cand{e.tag, snap.links[e.desc.Digest].Since})
	}
	// Newest first; equal times by name, newest name first, so the order
	// is stable between runs.
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.since, a.since), strings.Compare(b.tag, a.tag))
	})
	for i, c := range cands {
		keepLast := r.KeepLast > 0 && i < r.KeepLast
		keepAge := r.MaxAge > 0 && c.since > g.now.Add(-r.MaxAge).Unix()
		if !keepLast && !keepAge {
			doomed[c.tag] = true
		}
	}
	return doomed
}

// blobCand is a blob file that may be garbage.
type blobCand struct {
	d        digest.Digest
	size     int64
	released int64 // the released time seen, or 0 for none
	mtime    int64
}

// blobs removes the blob files nobody holds, in batches under the lock.
func (g *collector) blobs() error {
	s := g.s
	foreign := g.foreignReach()
	var cands []blobCand
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		dir := s.path(blobsDir, string(alg))
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", s.dir, err)
		}
		s.mu.RLock()
		start := time.Now()
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() != nil || !e.Type().IsRegular() || foreign[d] {
				continue // fsck's business, or another tool's
			}
			if s.holders[d] > 0 && !(g.opts.DryRun && g.released[d] >= s.holders[d]) {
				continue
			}
			c := blobCand{d: d, released: s.released[d]}
			if g.opts.DryRun && s.holders[d] > 0 {
				c.released = g.now.Unix() // this run would let go of it now
			}
			cands = append(cands, c)
		}
		g.held(time.Since(start))
		s.mu.RUnlock()
	}
	var doomed []blobCand
	for _, c := range cands {
		fi, err := os.Lstat(s.blobPath(c.d))
		if err != nil {
			continue
		}
		c.size, c.mtime = fi.Size(), fi.ModTime().Unix()
		if c.released == 0 && c.mtime > g.cutoff || c.released != 0 && c.released > g.cutoff {
			continue
		}
		doomed = append(doomed, c)
	}
	if g.opts.DryRun {
		for _, c := range doomed {
			g.rep.Blobs = append(g.rep.Blobs, GCBlob{Digest: c.d, Size: c.size})
			g.rep.BlobsReclaimed++
			g.rep.BytesReclaimed += c.size
		}
		return nil
	}
	trash := s.path(stateDir, trashDir)
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for i := 0; i < len(doomed); i += g.opts.Batch {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		batch := doomed[i:min(i+g.opts.Batch, len(doomed))]
		var moved []blobCand
		var rerr error
		for _, c := range batch {
			// One blob per hold of the lock: a request waits behind one
			// unlink at most. Re-check what may have changed since the
			// snapshot: a link (holders), a push about to link (pins),
			// a link and unlink (a newer released time).
			if err := g.removeBlob(c, trash, &moved); err != nil {
				rerr = err
				break
			}
		}
		synced := map[digest.Algorithm]bool{}
		for _, c := range moved {
			if alg := c.d.Algorithm(); !synced[alg] {
				synced[alg] = true
				if err := syncDir(s.path(blobsDir, string(alg))); err != nil {
					return fmt.Errorf("store %s: %w", s.dir, err)
				}
			}
		}
		for _, c := range moved {
			if c.size >= trashAbove {
				os.Remove(filepath.Join(trash, string(c.d.Algorithm())+"-"+c.d.Encoded()))
			}
			g.rep.Blobs = append(g.rep.Blobs, GCBlob{Digest: c.d, Size: c.size})
			g.rep.BlobsReclaimed++
			g.rep.BytesReclaimed += c.size
		}
		if rerr != nil {
			return rerr
		}
	}
	// Released entries whose file is gone (another tool removed it, or a
	// crash came after the unlink): nothing to keep a time for. Looked at
	// outside the lock, forgotten under it if still so.
	s.mu.RLock()
	var gone []digest.Digest
	for d := range s.released {
		gone = append(gone, d)
	}
	s.mu.RUnlock()
	gone = slices.DeleteFunc(gone, func(d digest.Digest) bool {
		_, err := os.Lstat(s.blobPath(d))
		return !errors.Is(err, os.ErrNotExist)
	})
	if len(gone) > 0 {
		s.mu.Lock()
		for _, d := range gone {
			if _, err := os.Lstat(s.blobPath(d)); errors.Is(err, os.ErrNotExist) && s.holders[d] == 0 {
				delete(s.released, d)
				s.linksDirty = true
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// removeBlob removes c's file if it is still garbage, holding mu and gcMu,
// and appends it to moved if it did.
func (g *collector) removeBlob(c blobCand, trash string, moved *[]blobCand) error {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	start := time.Now()
	defer func() { g.held(time.Since(start)) }()
	if s.holders[c.d] > 0 || s.pins[c.d] > 0 || s.released[c.d] != c.released {
		return nil
	}
	// A small file is unlinked at once; a large one is renamed away, its
	// unlink (freeing its extents takes a while) left for after the lock.
	var err error
	if c.size < trashAbove {
		err = os.Remove(s.blobPath(c.d))
	} else {
		err = os.Rename(s.blobPath(c.d), filepath.Join(trash, string(c.d.Algorithm())+"-"+c.d.Encoded()))
	}
	if errors.Is(err, os.ErrNotExist) {
		delete(s.released, c.d)
		s.linksDirty = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: removing %s: %w", s.dir, c.d, err)
	}
	delete(s.released, c.d)
	delete(s.gcNodes, c.d)
	s.linksDirty = true
	*moved = append(*moved, c)
	return nil
}

// foreignReach returns what the index.json entries gantry does not own
// (bare tags skopeo and others write) reach: those tools' images, which no
// repository holds but which are not garbage.
func (g *collector) foreignReach() map[digest.Digest]bool {
	s := g.s
	s.mu.RLock()
	raws := slices.Clone(s.foreign)
	s.mu.RUnlock()
	seen := map[digest.Digest]bool{}
	var walk func(desc ocispec.Descriptor, depth int)
	walk = func(desc ocispec.Descriptor, depth int) {
		if seen[desc.Digest] || depth > maxGraphDepth {
			return
		}
		seen[desc.Digest] = true
		if n := g.node(desc); n != nil {
			for _, c := range n.children {
				walk(c, depth+1)
			}
		}
	}
	for _, raw := range raws {
		var d ocispec.Descriptor
		if json.Unmarshal(raw, &d) == nil && cas.ValidateDescriptor(d) == nil {
			walk(d, 0)
		}
	}
	return seen
}

// temps removes what fsck calls stray (ingest files of pushes no longer
// running) and stale (temporaries of interrupted rewrites).
func (g *collector) temps() error {
	s := g.s
	dir := s.path(stateDir, ingestDir)
	s.imu.Lock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.imu.Unlock()
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if s.active[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil {
			g.rep.TempBytes += fi.Size()
		}
		if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
			g.rep.TempsRemoved++
		}
	}
	s.imu.Unlock()
	// Every rewrite of a running store happens in flush, under flushMu.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	temps, err := s.staleTemps()
	if err != nil {
		return err
	}
	for _, t := range temps {
		if os.Remove(s.path(stateDir, t.Name)) == nil {
			g.rep.TempsRemoved++
			g.rep.TempBytes += t.Size
		}
	}
	return nil
}

// clearTrash removes what a garbage collection interrupted by a crash left
// in .gantry/trash; Open calls it with the lock held.
func (s *Store) clearTrash() error {
	if err := os.RemoveAll(s.path(stateDir, trashDir)); err != nil {
		return fmt.Errorf("store %s: emptying %s: %w", s.dir, trashDir, err)
	}
	return nil
}
