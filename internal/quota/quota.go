package quota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Rule bounds what the repositories matching a pattern hold together.
type Rule struct {
	// Repositories is a repository pattern, as in grants: "team-a/**" is
	// every repository under team-a/.
	Repositories string
	// Bytes bounds the bytes the repositories hold, each blob and
	// manifest counted once however many of them hold it. 0: no bound.
	Bytes int64
	// Tags bounds the tags of the repositories together. 0: no bound.
	Tags int
}

func (r Rule) String() string {
	return fmt.Sprintf("quota %q", r.Repositories)
}

// Usage is what the repositories of one rule hold.
type Usage struct {
	Rule  Rule
	Bytes int64
	Tags  int
}

// Quotas keeps the usage of every rule current and refuses what would
// take a rule over its bounds. It is safe for concurrent use.
type Quotas struct {
	rules []*ruleState

	mu    sync.Mutex
	repos map[string]*repoState
}

type ruleState struct {
	Rule
	match auth.Pattern
	refs  map[digest.Digest]int // repositories of the rule holding each digest
	bytes int64
	tags  int
}

// repoState is what one repository holds, as far as quotas count.
type repoState struct {
	blobs map[digest.Digest]int64
	tags  map[string]digest.Digest
	rules []*ruleState
}

// New checks the rules and returns quotas with nothing counted yet; Load
// counts what a store holds. Errors name the rule at fault.
func New(rules []Rule) (*Quotas, error) {
	q := &Quotas{repos: map[string]*repoState{}}
	seen := map[string]int{}
	for i, r := range rules {
		if j, ok := seen[r.Repositories]; ok {
			return nil, fmt.Errorf("quotas[%d] (%s): the same repositories as quotas[%d]: give one rule both bounds", i, r.Repositories, j)
		}
		seen[r.Repositories] = i
		p, err := auth.ParsePattern(r.Repositories)
		if err != nil {
			return nil, fmt.Errorf("quotas[%d]: %w", i, err)
		}
		if r.Bytes < 0 || r.Tags < 0 {
			return nil, fmt.Errorf("quotas[%d] (%s): bytes and tags are 0 (no bound) or more", i, r.Repositories)
		}
		if r.Bytes == 0 && r.Tags == 0 {
			return nil, fmt.Errorf("quotas[%d] (%s): no bound: give bytes, tags or both", i, r.Repositories)
		}
		q.rules = append(q.rules, &ruleState{Rule: r, match: p, refs: map[digest.Digest]int{}})
	}
	return q, nil
}

// Error is the refusal of something that would take a rule over a bound.
// It answers 403 DENIED through the registry's error contract (Status,
// Code, Header), as Distribution-compatible registries refuse a push over
// quota, so clients print the message.
type Error struct {
	Rule       Rule
	Repository string
	// What is "bytes" or "tags".
	What      string
	Used, Add int64
	Limit     int64
}

func (e *Error) Error() string {
	if e.What == "tags" {
		return fmt.Sprintf("%s: a new tag in %s would go over its %d tags (%d held)", e.Rule, e.Repository, e.Limit, e.Used)
	}
	return fmt.Sprintf("%s: %d more bytes in %s would go over its %d bytes (%d held)", e.Rule, e.Add, e.Repository, e.Limit, e.Used)
}

// Status implements the registry's error contract: 403.
func (e *Error) Status() int { return http.StatusForbidden }

// Code implements the registry's error contract: DENIED.
func (e *Error) Code() string { return "DENIED" }

// Header implements the registry's error contract: none.
func (e *Error) Header() http.Header { return nil }

// repo returns the state of name, creating it; mu is held.
func (q *Quotas) repo(name string) *repoState {
	rs := q.repos[name]
	if rs == nil {
		rs = &repoState{blobs: map[digest.Digest]int64{}, tags: map[string]digest.Digest{}}
		for _, r := range q.rules {
			if r.match.Match(name) {
				rs.rules = append(rs.rules, r)
			}
		}
		q.repos[name] = rs
	}
	return rs
}

// Governed reports whether a rule applies to repository.
func (q *Quotas) Governed(repository string) bool {
	for _, r := range q.rules {
		if r.match.Match(repository) {
			return true
		}
	}
	return false
}

// Charge counts d (size bytes) as held by repository, or returns an
// *Error when a rule's bytes would go over. undo takes the charge back,
// for content that did not enter after all. Content the repository holds
// already costs nothing.
func (q *Quotas) Charge(repository string, d digest.Digest, size int64) (undo func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.repo(repository)
	if _, ok := rs.blobs[d]; ok || len(rs.rules) == 0 {
		return func() {}, nil
	}
	for _, r := range rs.rules {
		if r.Bytes > 0 && r.refs[d] == 0 && r.bytes+size > r.Bytes {
			return nil, &Error{Rule: r.Rule, Repository: repository, What: "bytes", Used: r.bytes, Add: size, Limit: r.Bytes}
		}
	}
	q.add(rs, d, size)
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.remove(rs, d)
	}, nil
}

// add counts d in rs; mu is held.
func (q *Quotas) add(rs *repoState, d digest.Digest, size int64) {
	if _, ok := rs.blobs[d]; ok {
		return
	}
	rs.blobs[d] = size
	for _, r := range rs.rules {
		if r.refs[d] == 0 {
			r.bytes += size
		}
		r.refs[d]++
	}
}

// remove takes d out of rs, and the tags that point at it; mu is held.
func (q *Quotas) remove(rs *repoState, d digest.Digest) {
	size, ok := rs.blobs[d]
	if !ok {
		return
	}
	delete(rs.blobs, d)
	for _, r := range rs.rules {
		r.refs[d]--
		if r.refs[d] <= 0 {
			delete(r.refs, d)
			r.bytes -= size
		}
	}
	for t, td := range rs.tags {
		if td == d {
			q.untag(rs, t)
		}
	}
}

// clear takes everything out of rs; mu is held.
func (q *Quotas) clear(rs *repoState) {
	for d := range rs.blobs {
		q.remove(rs, d)
	}
	for t := range rs.tags {
		q.untag(rs, t)
	}
}

// ChargeTag counts tag of repository, pointing at d, or returns an *Error
// when a rule's tags would go over. A tag that exists already costs
// nothing (it moves). undo takes the charge back.
func (q *Quotas) ChargeTag(repository, tag string, d digest.Digest) (undo func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.repo(repository)
	if len(rs.rules) == 0 {
		return func() {}, nil
	}
	if _, ok := rs.tags[tag]; ok {
		rs.tags[tag] = d
		return func() {}, nil
	}
	for _, r := range rs.rules {
		if r.Tags > 0 && r.tags+1 > r.Tags {
			return nil, &Error{Rule: r.Rule, Repository: repository, What: "tags", Used: int64(r.tags), Add: 1, Limit: int64(r.Tags)}
		}
	}
	q.tag(rs, tag, d)
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.untag(rs, tag)
	}, nil
}

func (q *Quotas) tag(rs *repoState, tag string, d digest.Digest) {
	if _, ok := rs.tags[tag]; !ok {
		for _, r := range rs.rules {
			r.tags++
		}
	}
	rs.tags[tag] = d
}

func (q *Quotas) untag(rs *repoState, tag string) {
	if _, ok := rs.tags[tag]; !ok {
		return
	}
	delete(rs.tags, tag)
	for _, r := range rs.rules {
		r.tags--
	}
}

// Released tells that repository no longer holds d (nor the tags that
// pointed at it).
func (q *Quotas) Released(repository string, d digest.Digest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if rs := q.repos[repository]; rs != nil {
		q.remove(rs, d)
	}
}

// Untagged tells that repository no longer has tag.
func (q *Quotas) Untagged(repository, tag string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if rs := q.repos[repository]; rs != nil {
		q.untag(rs, tag)
	}
}

// Usage returns the usage of every rule, in the rules' order.
func (q *Quotas) Usage() []Usage {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Usage, len(q.rules))
	for i, r := range q.rules {
		out[i] = Usage{Rule: r.Rule, Bytes: r.bytes, Tags: r.tags}
	}
	return out
}

// MemberLister is a store that tells what each repository holds (its
// links, for gantry's stores): Load counts from it when the store has it.
type MemberLister interface {
	// Members calls fn with every blob and manifest repository holds and
	// its size.
	Members(ctx context.Context, repository string, fn func(d digest.Digest, size int64) error) error
}

// Load counts what the repositories the rules govern hold in store,
// replacing what was counted before: from the store's membership
// (MemberLister) when it has one, else from the repositories' tags and
// everything they reach. One repository at a time is swapped in, so the
// quotas keep working meanwhile; content that enters a repository between
// its count and its swap is missed until the next Load.
func (q *Quotas) Load(ctx context.Context, store cas.Store) error {
	if len(q.rules) == 0 {
		return nil
	}
	rl, ok := store.(cas.RepositoryLister)
	if !ok {
		return errors.New("quotas: the store cannot list its repositories")
	}
	var names []string
	err := rl.Repositories(ctx, "", func(page []string) error {
		for _, n := range page {
			if q.Governed(n) {
				names = append(names, n)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quotas: list repositories: %w", err)
	}
	// Repositories counted before that the store no longer lists hold
	// nothing now.
	listed := map[string]bool{}
	for _, n := range names {
		listed[n] = true
	}
	q.mu.Lock()
	for name, rs := range q.repos {
		if !listed[name] {
			q.clear(rs)
		}
	}
	q.mu.Unlock()
	for _, name := range names {
		blobs, tags, err := count(ctx, store, name)
		if err != nil {
			return fmt.Errorf("quotas: count repository %s: %w", name, err)
		}
		q.mu.Lock()
		rs := q.repo(name)
		q.clear(rs)
		for d, size := range blobs {
			q.add(rs, d, size)
		}
		for t, d := range tags {
			q.tag(rs, t, d)
		}
		q.mu.Unlock()
	}
	return nil
}

// count reads what repository name holds and its tags.
func count(ctx context.Context, store cas.Store, name string) (map[digest.Digest]int64, map[string]digest.Digest, error) {
	repo, err := store.Repository(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	blobs := map[digest.Digest]int64{}
	tags := map[string]digest.Digest{}
	tl, ok := repo.(cas.TagLister)
	if !ok {
		return nil, nil, errors.New("the store cannot list tags")
	}
	var names []string
	if err := tl.Tags(ctx, "", func(page []string) error { names = append(names, page...); return nil }); err != nil {
		return nil, nil, fmt.Errorf("list tags: %w", err)
	}
	var roots []ocispec.Descriptor
	for _, t := range names {
		desc, err := repo.Resolve(ctx, t)
		if errors.Is(err, cas.ErrNotFound) {
			continue // untagged meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("resolve tag %s: %w", t, err)
		}
		tags[t] = desc.Digest
		roots = append(roots, desc)
	}
	if ml, ok := store.(MemberLister); ok {
		err := ml.Members(ctx, name, func(d digest.Digest, size int64) error { blobs[d] = size; return nil })
		return blobs, tags, err
	}
	for len(roots) > 0 {
		desc := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if _, seen := blobs[desc.Digest]; seen {
			continue
		}
		blobs[desc.Digest] = desc.Size
		if !oci.IsManifest(desc.MediaType) {
			continue
		}
		children, err := manifestChildren(ctx, repo, desc)
		if err != nil {
			return nil, nil, err
		}
		roots = append(roots, children...)
	}
	return blobs, tags, nil
}

// manifestChildren reads the manifest desc and returns what it names;
// content the repository does not hold (a sparse index) is left out.
func manifestChildren(ctx context.Context, repo cas.Target, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	rc, err := repo.Fetch(ctx, desc)
	if errors.Is(err, cas.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	data, err := readAll(rc, oci.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	m, err := oci.ParseManifest(desc, data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	children, err := oci.Children(desc, m, nil)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var held []ocispec.Descriptor
	for _, c := range children {
		if ok, err := repo.Exists(ctx, c); err == nil && ok {
			held = append(held, c)
		}
	}
	return held, nil
}

// readAll reads r up to limit bytes, failing past it.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("over the %d-byte manifest limit", limit)
	}
	return data, nil
}
