package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// repositoriesFile, under .gantry/, records which repositories hold which
// blobs as of the last flush; the journal holds the changes since.
const repositoriesFile = "repositories.json"

// Ownership. The bytes of a blob are stored once, in blobs/, but a
// repository serves only the blobs linked to it: pushed, mounted or
// committed into it, or reachable from its tags when another tool wrote the
// layout. A link is a journal record like a tag change, so it is durable
// when the push that made it returns; a delete unlinks in one repository
// and leaves the bytes, and every other repository, alone. What the links
// record (who holds each blob since when, and when a blob was last let go
// of) is what garbage collection needs to reclaim bytes without guessing.

// link is one blob a repository holds.
type link struct {
	// Since is when the repository took the blob (Unix seconds).
	Since int64 `json:"since"`
	// MediaType is the manifest media type the blob entered the repository
	// with, "" for a blob that entered through the blob API (an upload, a
	// mount, a push without a manifest type). Only content that entered as
	// a manifest, and so passed the registry's manifest checks, is served
	// as one.
	MediaType string `json:"mediaType,omitempty"`
}

// linkSet is the links of one repository.
type linkSet map[digest.Digest]link

// linked reports whether repo holds d; mu is held. A link a garbage
// collection is about to remove (doomed) is not held any more.
func (s *Store) linked(repo string, d digest.Digest) bool {
	_, ok := s.links[repo][d]
	if ok && len(s.doomed) > 0 {
		return !s.doomed[linkKey{repo, d}]
	}
	return ok
}

// linkKey names one link.
type linkKey struct {
	repo string
	d    digest.Digest
}

// manifestType returns the manifest media type d entered repo with, or ""
// (not held, or held as a plain blob); mu is held.
func (s *Store) manifestType(repo string, d digest.Digest) string {
	return s.links[repo][d].MediaType
}

// isLinked is linked for callers without the lock.
func (s *Store) isLinked(repo string, d digest.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ok := s.linked(repo, d)
	if ok && s.gcOn.Load() {
		// A client that looked content up may be about to refer to it
		// (HEAD a layer, then PUT the manifest): garbage collection
		// spares what was looked up within its grace period. Under mu, so
		// a collection's unlinks come either before (and this answers
		// not found) or after it sees the lookup.
		s.gcMu.Lock()
		s.touched[linkKey{repo, d}] = time.Now().UnixNano()
		s.gcMu.Unlock()
	}
	return ok
}

// addLink links d to repo as of t, as a manifest of type mt ("" for a
// plain blob). A blob linked already keeps its time (it says since when the
// repository has held it) and gains mt if it had none: content that entered
// as a blob and is then pushed as a manifest (checked, this time) becomes
// one. mu is held (or the store is not shared yet).
func (s *Store) addLink(repo string, d digest.Digest, t int64, mt string) {
	set := s.links[repo]
	if set == nil {
		set = linkSet{}
		s.links[repo] = set
	}
	if cur, ok := set[d]; ok {
		if cur.MediaType == "" && mt != "" {
			cur.MediaType = mt
			set[d] = cur
			s.linksDirty = true
		}
		return
	}
	set[d] = link{Since: t, MediaType: mt}
	s.holders[d]++
	delete(s.released, d)
	s.linksDirty = true
}

// removeLink unlinks d from repo as of t; when no repository holds d any
// more, t is recorded as the moment the blob was last referenced. mu is
// held.
func (s *Store) removeLink(repo string, d digest.Digest, t int64) {
	set := s.links[repo]
	if _, ok := set[d]; !ok {
		return
	}
	delete(set, d)
	if len(set) == 0 {
		delete(s.links, repo)
	}
	if s.holders[d]--; s.holders[d] <= 0 {
		delete(s.holders, d)
		s.released[d] = t
	}
	s.linksDirty = true
}

// unlink is what a Delete does in one step: d leaves repo, and so do the
// repository's tags that point at d at this moment (a tag moved elsewhere
// meanwhile is not touched). mu is held.
func (s *Store) unlink(repo string, d digest.Digest, t int64) {
	var doomed []string
	s.tags.repoTags(repo, "", func(e *tagEntry) bool {
		if e.desc.Digest == d {
			doomed = append(doomed, e.tag)
		}
		return true
	})
	for _, tag := range doomed {
		s.tags.remove(repo, tag)
		s.dirty = true
	}
	s.removeLink(repo, d, t)
}

// link makes d part of repo durably, as a manifest of type mt when mt is a
// manifest media type: a journal record, unless nothing would change.
func (s *Store) link(repo string, d digest.Digest, mt string) error {
	if !oci.IsManifest(mt) {
		mt = ""
	}
	unchanged := func() bool {
		cur, ok := s.links[repo][d]
		return ok && (mt == "" || cur.MediaType != "") && s.linked(repo, d)
	}
	// Most calls change nothing (a push of content the repository holds):
	// answer those without encoding a record or taking the journal's lock.
	s.mu.RLock()
	same := unchanged()
	if same {
		// Pushed again: a garbage collection that decided on an older
		// view leaves the repository alone (under mu, so before it
		// dooms anything: see gc.go).
		s.bumpGen(repo)
	}
	s.mu.RUnlock()
	if same {
		return nil
	}
	err := s.commit(record{Op: "link", Repo: repo, Digest: d, Time: time.Now().Unix(), MediaType: mt}, func() error {
		if unchanged() {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: linking to %s: %w", d, repo, err)
	}
	return nil
}

// Holders implements cas.HolderLister.
func (s *Store) Holders(_ context.Context, d digest.Digest) ([]string, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	if s.holders[d] == 0 {
		return out, nil
	}
	for repo, set := range s.links {
		if _, ok := set[d]; ok {
			out = append(out, repo)
		}
	}
	slices.Sort(out)
	return out, nil
}

// repositoriesState is .gantry/repositories.json.
type repositoriesState struct {
	Version int `json:"version"`
	// Repositories maps each repository to the blobs it holds and since
	// when (Unix seconds).
	Repositories map[string]linkSet `json:"repositories"`
	// Released maps blobs that no repository holds to when the last one
	// let go of them (Unix seconds): garbage collection's grace period
	// starts there.
	Released map[digest.Digest]int64 `json:"released,omitempty"`
}

// loadLinks reads .gantry/repositories.json. A missing file is a store
// from before links existed, or one another tool made: reconcileLinks then
// derives the links from the tags.
func (s *Store) loadLinks() error {
	p := s.path(stateDir, repositoriesFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	var st repositoriesState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("store %s: %s is not a repository index (%v): move it aside and gantry derives the repositories from the tags again (untagged blobs then belong to no repository): %w", s.dir, p, err, cas.ErrInvalid)
	}
	for repo, set := range st.Repositories {
		if oci.ValidateLayoutRepository(repo) != nil {
			continue
		}
		for d, l := range set {
			if cas.ValidateDigest(d) == nil {
				s.addLink(repo, d, l.Since, l.MediaType)
			}
		}
	}
	for d, t := range st.Released {
		if s.holders[d] == 0 && cas.ValidateDigest(d) == nil {
			s.released[d] = t
		}
	}
	s.linksDirty = false
	return nil
}

// linksSnapshot copies the links for writing; mu is held.
func (s *Store) linksSnapshot() repositoriesState {
	st := repositoriesState{Version: 1, Repositories: make(map[string]linkSet, len(s.links)), Released: maps.Clone(s.released)}
	for repo, set := range s.links {
		st.Repositories[repo] = maps.Clone(set)
	}
	return st
}

// marshal writes repositories.json, one repository per line.
func (st repositoriesState) marshal() ([]byte, error) {
	b := []byte(`{"version":1,"repositories":{`)
	sep := "\n"
	for _, repo := range slices.Sorted(maps.Keys(st.Repositories)) {
		k, _ := json.Marshal(repo)
		v, err := json.Marshal(st.Repositories[repo])
		if err != nil {
			return nil, err
		}
		b = append(b, sep...)
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, v...)
		sep = ",\n"
	}
	b = append(b, "\n}"...)
	if len(st.Released) > 0 {
		v, err := json.Marshal(st.Released)
		if err != nil {
			return nil, err
		}
		b = append(b, ",\n\"released\":"...)
		b = append(b, v...)
	}
	return append(b, "}\n"...), nil
}

// reconcileLinks links to each repository what its tags reach but it does
// not hold yet: the tags and blobs another tool (skopeo, crane, oras) put in
// the layout while gantry was stopped, or a whole store from before links
// existed. A tag whose manifest the repository holds is taken as linked
// with its graph, since gantry's writers push children first, so a store
// gantry wrote costs a map lookup per tag. Absent blobs are not linked:
// fsck reports them. The store is not shared yet.
func (s *Store) reconcileLinks() {
	now := time.Now().Unix()
	type key struct {
		repo string
		d    digest.Digest
	}
	seen := map[key]bool{}
	var walk func(repo string, desc ocispec.Descriptor, depth int)
	walk = func(repo string, desc ocispec.Descriptor, depth int) {
		k := key{repo, desc.Digest}
		if seen[k] || depth > maxGraphDepth {
			return
		}
		seen[k] = true
		size, err := s.statBlob(desc.Digest)
		if err != nil {
			return
		}
		mt := ""
		if oci.IsManifest(desc.MediaType) {
			mt = desc.MediaType
		}
		s.addLink(repo, desc.Digest, now, mt)
		if mt == "" || size > oci.MaxManifestSize {
			return
		}
		b, err := s.readBlob(desc.Digest, oci.MaxManifestSize)
		if err != nil {
			return
		}
		m, err := oci.ParseManifest(ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: size}, b)
		if err != nil {
			return
		}
		children, _ := oci.Children(desc, m, nil) // no platform: cannot fail
		for _, c := range children {
			walk(repo, c, depth+1)
		}
	}
	s.tags.each(func(e *tagEntry) bool {
		if s.manifestType(e.repo, e.desc.Digest) == "" {
			walk(e.repo, e.desc, 0)
		}
		return true
	})
}

// maxGraphDepth bounds the nesting of indexes a walk follows, so a cycle or
// a hostile chain of indexes cannot exhaust the stack.
const maxGraphDepth = 16
