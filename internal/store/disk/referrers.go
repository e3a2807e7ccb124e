package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrersFile, under .gantry/, holds the referrer index as of the last
// flush; the journal holds the changes since.
const referrersFile = "referrers.json"

var _ cas.ReferrerIndex = (*Repo)(nil)

// referrer is one entry of the index. Seq orders the entries of a subject
// by when they were added and makes records absolute: replaying "add X with
// seq 7" onto an index that already went through it (a crash between the
// flush and the journal trim) puts X back where it was.
type referrer struct {
	Seq  uint64             `json:"seq"`
	Desc ocispec.Descriptor `json:"descriptor"`
}

// referrerLine is one line of referrers.json.
type referrerLine struct {
	Repository string        `json:"repository"`
	Subject    digest.Digest `json:"subject"`
	referrer
}

// errNoChange tells commit's caller that the change is already made, so
// nothing needs journaling.
var errNoChange = errors.New("no change")

// AddReferrer implements cas.ReferrerIndex, through the tag journal: the
// entry is durable when AddReferrer returns.
func (r *Repo) AddReferrer(_ context.Context, subject digest.Digest, desc ocispec.Descriptor) error {
	if err := cas.ValidateDigest(subject); err != nil {
		return err
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	seq := r.s.refSeq.Add(1)
	err := r.s.commit(record{Op: "refadd", Repo: r.name, Subject: subject, Seq: seq, Desc: &desc}, func() error {
		if r.s.findReferrer(r.name, subject, desc.Digest) >= 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("referrer %s of %s in %s: %w", desc.Digest, subject, r.name, err)
	}
	return nil
}

// RemoveReferrer implements cas.ReferrerIndex, through the journal.
func (r *Repo) RemoveReferrer(_ context.Context, subject, desc digest.Digest) error {
	err := r.s.commit(record{Op: "refdel", Repo: r.name, Subject: subject, Referrer: desc}, func() error {
		if r.s.findReferrer(r.name, subject, desc) < 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("referrer %s of %s in %s: %w", desc, subject, r.name, err)
	}
	return nil
}

// Referrers implements cas.ReferrerIndex.
func (r *Repo) Referrers(_ context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	list := r.s.refs[r.name][subject]
	out := make([]ocispec.Descriptor, len(list))
	for i, e := range list {
		out[i] = e.Desc
	}
	return out, nil
}

// findReferrer returns the position of d among the referrers of subject,
// or -1; mu is held.
func (s *Store) findReferrer(repo string, subject, d digest.Digest) int {
	return slices.IndexFunc(s.refs[repo][subject], func(e referrer) bool { return e.Desc.Digest == d })
}

// addReferrer inserts e in seq order unless its digest is there; mu is
// held (or the store is not shared yet).
func (s *Store) addReferrer(repo string, subject digest.Digest, e referrer) {
	if e.Seq > s.refSeq.Load() {
		s.refSeq.Store(e.Seq)
	}
	if s.findReferrer(repo, subject, e.Desc.Digest) >= 0 {
		return
	}
	subjects := s.refs[repo]
	if subjects == nil {
		subjects = map[digest.Digest][]referrer{}
		s.refs[repo] = subjects
	}
	list := subjects[subject]
	i, _ := slices.BinarySearchFunc(list, e.Seq, func(x referrer, seq uint64) int {
		switch {
		case x.Seq < seq:
			return -1
		case x.Seq > seq:
			return 1
		}
		return 0
	})
	subjects[subject] = slices.Insert(list, i, e)
}

// removeReferrer forgets d as a referrer of subject; mu is held.
func (s *Store) removeReferrer(repo string, subject, d digest.Digest) {
	subjects := s.refs[repo]
	list := slices.DeleteFunc(subjects[subject], func(e referrer) bool { return e.Desc.Digest == d })
	switch {
	case len(list) > 0:
		subjects[subject] = list
	case subjects != nil:
		delete(subjects, subject)
		if len(subjects) == 0 {
			delete(s.refs, repo)
		}
	}
}

// loadReferrers reads .gantry/referrers.json; a missing file is an empty
// index.
func (s *Store) loadReferrers() error {
	p := s.path(stateDir, referrersFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	var f struct {
		Referrers []referrerLine `json:"referrers"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("store %s: %s is not a referrer index (%v): restore it from a backup, or move it aside to start with none (registry clients then fall back to the referrers tag schema): %w", s.dir, p, err, cas.ErrInvalid)
	}
	for _, l := range f.Referrers {
		if cas.ValidateDigest(l.Subject) != nil || cas.ValidateDescriptor(l.Desc) != nil {
			continue
		}
		s.addReferrer(l.Repository, l.Subject, l.referrer)
	}
	return nil
}

// referrerSnapshot copies the index for writing; mu is held.
func (s *Store) referrerSnapshot() []referrerLine {
	var out []referrerLine
	for _, repo := range slices.Sorted(maps.Keys(s.refs)) {
		subjects := s.refs[repo]
		for _, subject := range slices.Sorted(maps.Keys(subjects)) {
			for _, e := range subjects[subject] {
				out = append(out, referrerLine{Repository: repo, Subject: subject, referrer: e})
			}
		}
	}
	return out
}

// marshalReferrers writes referrers.json, one entry per line.
func marshalReferrers(lines []referrerLine) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"version":1,"referrers":[`)
	sep := "\n"
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		buf.WriteString(sep)
		buf.Write(b)
		sep = ",\n"
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), nil
}
