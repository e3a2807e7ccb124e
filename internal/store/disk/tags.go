package disk

import (
	"maps"
	"unique"

	"github.com/google/btree"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tagEntry is one tag of the store: repository, tag and the descriptor it
// points at, without the ref.name annotation that names the index.json
// entry (named puts it back): a store of a million tags keeps a few hundred
// bytes per tag, not a map per tag.
type tagEntry struct {
	repo, tag string
	desc      ocispec.Descriptor
}

// named returns the tag's index.json entry: its descriptor with ref.name.
func (e *tagEntry) named() ocispec.Descriptor {
	d := e.desc
	a := make(map[string]string, len(d.Annotations)+1)
	maps.Copy(a, d.Annotations)
	a[ocispec.AnnotationRefName] = e.repo + ":" + e.tag
	d.Annotations = a
	return d
}

// intern returns the one copy of s the process keeps: many tags share a
// repository name, a media type and often a digest.
func intern(s string) string { return unique.Make(s).Value() }

// Entries are kept by pointer: a B-tree node then moves 8 bytes per entry
// when it splits or shifts, not the whole descriptor.
func lessTag(a, b *tagEntry) bool {
	if a.repo != b.repo {
		return a.repo < b.repo
	}
	return a.tag < b.tag
}

// tagIndex holds every tag of the store sorted by repository, then tag, in a
// copy-on-write B-tree. Sorted order makes a page of tags or of the catalog
// cost O(page + log n) instead of a copy and sort of every name, and clone
// makes the flush's snapshot O(1) under the lock, so 100,000 tags never
// stall a Resolve while index.json is rewritten. Not safe for concurrent
// use: the Store's mu guards it.
type tagIndex struct {
	t *btree.BTreeG[*tagEntry]
}

func newTagIndex() tagIndex {
	return tagIndex{t: btree.NewG(32, lessTag)}
}

func (x tagIndex) get(repo, tag string) (ocispec.Descriptor, bool) {
	e, ok := x.t.Get(&tagEntry{repo: repo, tag: tag})
	if !ok {
		return ocispec.Descriptor{}, false
	}
	return e.desc, true
}

func (x tagIndex) set(repo, tag string, d ocispec.Descriptor) {
	x.t.ReplaceOrInsert(newTagEntry(repo, tag, d))
}

// newTagEntry makes the entry of repo:tag, compact: without ref.name, its
// strings interned. decodeEntries calls it on every core.
func newTagEntry(repo, tag string, d ocispec.Descriptor) *tagEntry {
	d = plain(d)
	d.MediaType = intern(d.MediaType)
	d.Digest = digest.Digest(intern(string(d.Digest)))
	return &tagEntry{repo: intern(repo), tag: tag, desc: d}
}

// insert adds an entry newTagEntry made.
func (x tagIndex) insert(e *tagEntry) { x.t.ReplaceOrInsert(e) }

// remove reports whether repo:tag existed.
func (x tagIndex) remove(repo, tag string) bool {
	_, ok := x.t.Delete(&tagEntry{repo: repo, tag: tag})
	return ok
}

// clone returns a snapshot that later changes to x do not affect, in O(1).
// Both may be read at once afterwards, but x must not be written during the
// call.
func (x tagIndex) clone() tagIndex { return tagIndex{t: x.t.Clone()} }

// each calls fn for every tag in order until fn returns false. The entry
// must not be changed: clones share it.
func (x tagIndex) each(fn func(*tagEntry) bool) { x.t.Ascend(fn) }

// repoTags calls fn for the tags of repo after last, in order, until fn
// returns false.
func (x tagIndex) repoTags(repo, last string, fn func(*tagEntry) bool) {
	// Tags are never empty, so (repo, last+"\x00") is the first key after
	// (repo, last), and (repo, "") comes before every tag of repo.
	from := &tagEntry{repo: repo}
	if last != "" {
		from.tag = last + "\x00"
	}
	x.t.AscendGreaterOrEqual(from, func(e *tagEntry) bool {
		if e.repo != repo {
			return false
		}
		return fn(e)
	})
}

// repos calls fn for each repository with at least one tag whose name sorts
// after last, in order, until fn returns false: one O(log n) seek per
// repository, whatever its number of tags.
func (x tagIndex) repos(last string, fn func(string) bool) {
	from := &tagEntry{repo: last + "\x00"}
	if last == "" {
		from.repo = ""
	}
	for {
		var next string
		found := false
		x.t.AscendGreaterOrEqual(from, func(e *tagEntry) bool {
			next, found = e.repo, true
			return false
		})
		if !found || !fn(next) {
			return
		}
		from = &tagEntry{repo: next + "\x00"}
	}
}
