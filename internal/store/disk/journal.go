package disk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A journal record is an 8-byte header, the length of the payload and the
// CRC-32C of the payload (both little-endian uint32), then the payload, a
// JSON record. A crash in mid-append leaves a short or mismatching last
// record, which replay detects and drops: its Tag or Untag never returned.
const (
	recordHeader = 8
	maxRecord    = 1 << 20 // far above any real record; a larger length is garbage
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one tag, referrer or link change. Replaying the journal over
// index.json, referrers.json and repositories.json that already reflect
// some of its records ends in the state the records made live: each record
// sets what it names absolutely, and an unlink removes only the tags that
// pointed at its digest, which later records (replayed after it) restore.
type record struct {
	Op   string              `json:"op"` // "tag", "untag", "refadd", "refdel", "link" or "unlink"
	Repo string              `json:"repo"`
	Tag  string              `json:"tag,omitempty"`
	Desc *ocispec.Descriptor `json:"desc,omitempty"`
	// Referrer records: the subject, the referrer removed (refdel), and
	// the position of the one added (refadd, with Desc).
	Subject  digest.Digest `json:"subject,omitempty"`
	Referrer digest.Digest `json:"referrer,omitempty"`
	Seq      uint64        `json:"seq,omitempty"`
	// Link records: the blob linked to or unlinked from Repo, and when
	// (Unix seconds).
	Digest digest.Digest `json:"digest,omitempty"`
	Time   int64         `json:"time,omitempty"`
}

func encodeRecord(r record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, recordHeader, recordHeader+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// decodeRecords calls fn for each intact record of b in order and returns
// the number of bytes they span; the rest, if any, is a torn tail.
func decodeRecords(b []byte, fn func(record)) int {
	off := 0
	for len(b)-off >= recordHeader {
		n := int(binary.LittleEndian.Uint32(b[off : off+4]))
		sum := binary.LittleEndian.Uint32(b[off+4 : off+8])
		if n > maxRecord || len(b)-off-recordHeader < n {
			break
		}
		payload := b[off+recordHeader : off+recordHeader+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		var r record
		if err := json.Unmarshal(payload, &r); err != nil {
			break
		}
		fn(r)
		off += recordHeader + n
	}
	return off
}

// apply performs r on the maps; mu is held.
func (s *Store) apply(r record) {
	switch r.Op {
	case "tag":
		if r.Desc != nil {
			s.setTag(r.Repo, r.Tag, *r.Desc)
			if r.Desc.MediaType != "" {
				s.types[r.Desc.Digest] = r.Desc.MediaType
			}
		}
	case "untag":
		s.removeTag(r.Repo, r.Tag)
	case "refadd":
		if r.Desc != nil {
			s.addReferrer(r.Repo, r.Subject, referrer{Seq: r.Seq, Desc: *r.Desc})
		}
		s.refDirty = true
		return
	case "refdel":
		s.removeReferrer(r.Repo, r.Subject, r.Referrer)
		s.refDirty = true
		return
	case "link":
		s.addLink(r.Repo, r.Digest, r.Time)
		return
	case "unlink":
		s.unlink(r.Repo, r.Digest, r.Time)
		return
	}
	s.dirty = true
}

// replayJournal applies the journal a crash left; it returns the number of
// records applied and whether a torn tail was dropped.
func (s *Store) replayJournal() (int, bool, error) {
	b, err := os.ReadFile(s.path(stateDir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store %s: reading the tag journal: %w", s.dir, err)
	}
	n := 0
	end := decodeRecords(b, func(r record) { s.apply(r); n++ })
	if end < len(b) {
		s.opts.Logger.Warn("dropped a torn record at the end of the tag journal (a crash interrupted a tag change that had not returned)",
			"store", s.dir, "bytes", len(b)-end)
	}
	return n, end < len(b), nil
}

func (s *Store) openJournal() error {
	f, err := os.OpenFile(s.path(stateDir, journalFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("store %s: opening the tag journal: %w", s.dir, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("store %s: tag journal: %w", s.dir, err)
	}
	s.journal, s.journalLen = f, fi.Size()
	return nil
}

var errClosed = errors.New("store is closed")

// commit makes r durable in the journal, then applies it to the maps. check,
// if set, runs under the locks before anything is written and may refuse
// the change (Untag of an absent tag).
func (s *Store) commit(r record, check func() error) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.closed || s.journal == nil {
		return fmt.Errorf("store %s: %w", s.dir, errClosed)
	}
	if check != nil {
		s.mu.RLock()
		err := check()
		s.mu.RUnlock()
		if err != nil {
			return err
		}
	}
	if _, err := s.journal.Write(b); err != nil {
		// Cut a partial record off so later records stay readable.
		if terr := s.journal.Truncate(s.journalLen); terr != nil {
			s.journal.Close()
			s.journal = nil
			return fmt.Errorf("store %s: tag journal: %w (and cutting the partial record failed: %v; reopen the store)", s.dir, err, terr)
		}
		return fmt.Errorf("store %s: tag journal: %w", s.dir, err)
	}
	if err := fdatasync(s.journal); err != nil {
		// The record may or may not be on disk; nothing says which, so
		// refuse further changes rather than build on it.
		s.journal.Close()
		s.journal = nil
		return fmt.Errorf("store %s: syncing the tag journal: %w (reopen the store)", s.dir, err)
	}
	s.journalLen += int64(len(b))
	s.mu.Lock()
	s.apply(r)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// flusher rewrites index.json once tags have been quiet for FlushInterval,
// or at once when the journal passes JournalLimit.
func (s *Store) flusher() {
	defer s.flusherWG.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-s.done:
			timer.Stop()
			return
		case <-s.kick:
			s.jmu.Lock()
			full := s.journalLen >= s.opts.JournalLimit
			s.jmu.Unlock()
			if !full {
				timer.Reset(s.opts.FlushInterval)
				continue
			}
			timer.Stop()
		case <-timer.C:
		}
		if err := s.flush(); err != nil {
			s.opts.Logger.Error("writing index.json failed; tags stay safe in the journal and the next flush retries", "store", s.dir, "err", err)
		}
	}
}

// flush writes referrers.json and index.json from the maps (each only if
// it changed) and drops the journal records they now reflect. Tags go on while index.json is written: records appended
// meanwhile are kept in the journal.
func (s *Store) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.jmu.Lock()
	if s.journal == nil {
		s.jmu.Unlock()
		return fmt.Errorf("store %s: tag journal unusable; reopen the store", s.dir)
	}
	s.mu.Lock()
	dirty, refDirty, linksDirty := s.dirty, s.refDirty, s.linksDirty
	var snap indexSnapshot
	if dirty {
		snap = s.snapshot()
		s.dirty = false
	}
	var refs []referrerLine
	if refDirty {
		refs = s.referrerSnapshot()
		s.refDirty = false
	}
	var links repositoriesState
	if linksDirty {
		links = s.linksSnapshot()
		s.linksDirty = false
	}
	s.mu.Unlock()
	covered := s.journalLen
	s.jmu.Unlock()
	if !dirty && !refDirty && !linksDirty && covered == 0 {
		return nil
	}
	if linksDirty {
		err := func() error {
			b, err := links.marshal()
			if err != nil {
				return fmt.Errorf("store %s: encoding %s: %w", s.dir, repositoriesFile, err)
			}
			return s.writeAtomic(stateDir+"/"+repositoriesFile, b)
		}()
		if err != nil {
			s.mu.Lock()
			s.dirty = s.dirty || dirty
			s.refDirty = s.refDirty || refDirty
			s.linksDirty = true
			s.mu.Unlock()
			return err
		}
	}
	if refDirty {
		err := func() error {
			b, err := marshalReferrers(refs)
			if err != nil {
				return fmt.Errorf("store %s: encoding %s: %w", s.dir, referrersFile, err)
			}
			return s.writeAtomic(stateDir+"/"+referrersFile, b)
		}()
		if err != nil {
			s.mu.Lock()
			s.dirty = s.dirty || dirty
			s.refDirty = true
			s.mu.Unlock()
			return err
		}
	}
	if dirty {
		err := func() error {
			b, err := snap.marshal()
			if err != nil {
				return fmt.Errorf("store %s: encoding index.json: %w", s.dir, err)
			}
			return s.writeAtomic(indexFile, b)
		}()
		if err != nil {
			s.mu.Lock()
			s.dirty = true
			s.mu.Unlock()
			return err
		}
	}
	return s.trimJournal(covered)
}

// trimJournal drops the first covered bytes of the journal, which
// index.json now reflects.
func (s *Store) trimJournal(covered int64) error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.journal == nil {
		return fmt.Errorf("store %s: tag journal unusable; reopen the store", s.dir)
	}
	if s.journalLen == covered {
		if err := s.journal.Truncate(0); err != nil {
			return fmt.Errorf("store %s: emptying the tag journal: %w", s.dir, err)
		}
		if err := fdatasync(s.journal); err != nil {
			return fmt.Errorf("store %s: emptying the tag journal: %w", s.dir, err)
		}
		s.journalLen = 0
		return nil
	}
	// Records arrived during the write: keep them in a new journal.
	tail := make([]byte, s.journalLen-covered)
	if _, err := s.journal.ReadAt(tail, covered); err != nil && err != io.EOF {
		return fmt.Errorf("store %s: reading the tag journal: %w", s.dir, err)
	}
	if err := s.writeAtomic(stateDir+"/"+journalFile, tail); err != nil {
		return err
	}
	old := s.journal
	s.journal = nil
	old.Close()
	return s.openJournal()
}
