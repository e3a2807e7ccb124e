// Package gc decides, for one repository, what garbage collection keeps:
// which tags retention removes, which manifests and blobs the kept tags,
// the untagged manifests and the referrers of kept content reach, and so
// which links and referrer-index entries go. It reads a snapshot and
// changes nothing: every store (disk, S3) takes its own snapshot, calls
// Plan, and commits the plan with its own protection against writers that
// raced the snapshot.
package gc

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

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

// Validate reports a pattern that does not compile or a negative number.
func (r Retention) Validate() error {
	_, err := r.Compile()
	return err
}

// Rules is Retention compiled, ready to plan with.
type Rules struct {
	Retention
	repos, match, protect []*regexp.Regexp
}

// Compile checks r and compiles its patterns.
func (r Retention) Compile() (*Rules, error) {
	if r.KeepLast < 0 || r.MaxAge < 0 {
		return nil, fmt.Errorf("retention: keepLast %d and maxAge %s must not be negative: %w", r.KeepLast, r.MaxAge, cas.ErrInvalid)
	}
	c := &Rules{Retention: r}
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

func anyMatch(res []*regexp.Regexp, s string, empty bool) bool {
	if len(res) == 0 {
		return empty
	}
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

// Unlink is content that garbage collection took out of a repository.
type Unlink struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Manifest   bool          `json:"manifest"`
}

// Blob is a blob garbage collection removed.
type Blob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Report is what a store's Collect did, or would do (DryRun); fields a
// store has no use for stay zero.
type Report struct {
	DryRun bool `json:"dryRun"`
	// TagsRemoved lists the tags retention removed, as REPO:TAG.
	TagsRemoved []string `json:"tagsRemoved"`
	// Unlinked lists the manifests and blobs taken out of repositories.
	Unlinked []Unlink `json:"unlinked"`
	// Blobs lists the blob files removed; BlobsReclaimed and
	// BytesReclaimed count them.
	Blobs          []Blob `json:"blobs"`
	BlobsReclaimed int    `json:"blobsReclaimed"`
	BytesReclaimed int64  `json:"bytesReclaimed"`
	// TempsRemoved and TempBytes count the temporary files of interrupted
	// pushes and rewrites removed (what fsck calls stray or stale).
	TempsRemoved int   `json:"tempsRemoved"`
	TempBytes    int64 `json:"tempBytes"`
	// Busy lists repositories left for the next run: a push changed them
	// while this run decided.
	Busy []string `json:"busy"`
	// Spared counts the blobs a writer took (or was taking) while the run
	// decided, which it left for the next run (S3).
	Spared int `json:"spared,omitempty"`
	// Duration is the whole run; LongestPause the longest time it held
	// the store's lock, which requests wait behind.
	Duration     time.Duration `json:"duration"`
	LongestPause time.Duration `json:"longestPause"`
}

// Link is what a repository records of content it holds.
type Link struct {
	// Since is when the repository took it (Unix seconds).
	Since int64
	// MediaType is the manifest media type it entered with, "" for a
	// blob that came through the blob API.
	MediaType string
}

// Tag is one tag of a repository.
type Tag struct {
	Name   string
	Digest digest.Digest
}

// Node is what planning needs of a manifest: the content it refers to and
// its subject ("" for none).
type Node struct {
	Children []ocispec.Descriptor
	Subject  digest.Digest
}

// Repository is a snapshot of one repository, as a store read it.
type Repository struct {
	Name  string
	Links map[digest.Digest]Link
	Tags  []Tag
	// Referrers is the referrer index: subject -> referrers.
	Referrers map[digest.Digest][]digest.Digest
	// Young reports content taken (or looked up) within the grace period:
	// it is kept, and what it reaches.
	Young func(digest.Digest) bool
	// Node returns the manifest desc's node, nil for content that is not
	// a readable manifest (absent or damaged: nothing below it is reached).
	Node func(desc ocispec.Descriptor) *Node
}

// RefEntry is an entry of the referrer index.
type RefEntry struct {
	Subject, Referrer digest.Digest
}

// Plan is what garbage collection removes from one repository.
type Plan struct {
	// Tags removed by retention.
	Tags []string
	// Unlink is the content no kept manifest reaches, in digest order.
	Unlink []digest.Digest
	// SubjectOf gives, for each unlinked referrer, the subject whose
	// index entry goes with it.
	SubjectOf map[digest.Digest]digest.Digest
	// Refs are index entries whose referrer the repository does not hold
	// and whose subject goes (or was never there).
	Refs []RefEntry
}

// Empty reports whether p removes nothing.
func (p *Plan) Empty() bool { return len(p.Tags) == 0 && len(p.Unlink) == 0 && len(p.Refs) == 0 }

// Plan decides what leaves repo at time now. Kept are the manifests the
// kept tags point at, the untagged ones unless RemoveUntagged, the
// referrers of kept content, what any of those reaches through indexes,
// and anything young; the rest is unlinked.
func (r *Rules) Plan(repo *Repository, now time.Time) *Plan {
	doomedTags := r.retain(repo, now)
	kept := map[digest.Digest]bool{}
	var queue []ocispec.Descriptor
	keep := func(d digest.Digest, mt string) {
		l, ok := repo.Links[d]
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
	for _, e := range repo.Tags {
		tagged[e.Digest] = true
	}
	subjectOf := map[digest.Digest]digest.Digest{}
	for subj, list := range repo.Referrers {
		for _, ref := range list {
			subjectOf[ref] = subj
		}
	}
	for d, l := range repo.Links {
		if l.MediaType == "" {
			continue
		}
		if n := repo.Node(ocispec.Descriptor{Digest: d, MediaType: l.MediaType}); n != nil && n.Subject != "" {
			subjectOf[d] = n.Subject
		}
	}
	for _, e := range repo.Tags {
		if !doomedTags[e.Name] {
			if _, ref := subjectOf[e.Digest]; !ref {
				keep(e.Digest, "")
			}
		}
	}
	for d, l := range repo.Links {
		switch {
		case repo.Young != nil && repo.Young(d):
			keep(d, "")
		case l.MediaType != "" && !tagged[d] && !r.RemoveUntagged:
			if _, ref := subjectOf[d]; !ref {
				keep(d, "")
			}
		}
	}
	for {
		for len(queue) > 0 {
			desc := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if n := repo.Node(desc); n != nil {
				for _, c := range n.Children {
					keep(c.Digest, c.MediaType) // a child's type, if it entered as a blob
				}
			}
		}
		// Referrers of kept content are kept, and what they reach.
		for ref, subj := range subjectOf {
			if kept[subj] && !kept[ref] {
				keep(ref, "")
			}
		}
		if len(queue) == 0 {
			break
		}
	}

	p := &Plan{SubjectOf: map[digest.Digest]digest.Digest{}}
	for _, e := range repo.Tags {
		if doomedTags[e.Name] {
			p.Tags = append(p.Tags, e.Name)
		}
	}
	for _, d := range slices.Sorted(func(yield func(digest.Digest) bool) {
		for d := range repo.Links {
			if !yield(d) {
				return
			}
		}
	}) {
		if kept[d] {
			continue
		}
		p.Unlink = append(p.Unlink, d)
		if subj, ok := subjectOf[d]; ok {
			p.SubjectOf[d] = subj
		}
	}
	for subj, list := range repo.Referrers {
		if kept[subj] {
			continue
		}
		for _, ref := range list {
			if _, held := repo.Links[ref]; !held {
				p.Refs = append(p.Refs, RefEntry{Subject: subj, Referrer: ref})
			}
		}
	}
	return p
}

// retain returns the tags of repo that retention removes.
func (r *Rules) retain(repo *Repository, now time.Time) map[string]bool {
	doomed := map[string]bool{}
	if (r.KeepLast == 0 && r.MaxAge == 0) || !anyMatch(r.repos, repo.Name, true) {
		return doomed
	}
	type cand struct {
		tag   string
		since int64
	}
	var cands []cand
	for _, e := range repo.Tags {
		if anyMatch(r.protect, e.Name, false) || !anyMatch(r.match, e.Name, true) {
			continue
		}
		cands = append(cands, cand{e.Name, repo.Links[e.Digest].Since})
	}
	// Newest first; equal times by name, newest name first, so the order
	// is stable between runs.
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.since, a.since), strings.Compare(b.tag, a.tag))
	})
	for i, c := range cands {
		keepLast := r.KeepLast > 0 && i < r.KeepLast
		keepAge := r.MaxAge > 0 && c.since > now.Add(-r.MaxAge).Unix()
		if !keepLast && !keepAge {
			doomed[c.tag] = true
		}
	}
	return doomed
}
