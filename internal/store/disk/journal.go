package disk

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A journal record is an 8-byte header, the length of the payload and the
// CRC-32C of the payload (both little-endian uint32), then the payload, a
// JSON record. A crash in mid-append leaves a short or mismatching last
// record, which replay detects and drops: its Tag or Untag never returned.
// A damaged record followed by intact ones was acknowledged (jmu lets the
// next append start only once its Tag returned); replay skips it and keeps
// the rest, see decodeRecords.
const (
	recordHeader = 8
	// maxRecord bounds a payload, and encodeRecord refuses anything larger,
	// so that replay never meets an acknowledged record it rejects. The
	// largest records are referrer records, which carry a manifest's
	// annotations: at most oci.MaxManifestSize (4 MiB) of them, which JSON
	// re-encoding can grow six-fold (json.Marshal writes '<', '>', '&' and
	// U+2028 as \u003c and the like), so 24 MiB, plus the rest of the
	// descriptor. 32 MiB leaves room. It must also stay below 0x20000000:
	// then the last byte of a length is a control character, which
	// json.Marshal never emits, so no payload can hold a header that
	// replay's resynchronisation would take for a record.
	maxRecord = 32 << 20
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
	Digest    digest.Digest `json:"digest,omitempty"`
	Time      int64         `json:"time,omitempty"`
	MediaType string        `json:"mediaType,omitempty"` // link: a manifest's type

}

// encodeRecord frames r for the journal. A record over maxRecord is refused
// (cas.ErrInvalid) before anything is written: replay would take it for
// damage.
func encodeRecord(r record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(payload) > maxRecord {
		what := r.Repo
		if r.Tag != "" {
			what += ":" + r.Tag
		}
		return nil, fmt.Errorf("%s record for %s is %d bytes encoded, over the tag journal's %d-byte limit (its descriptor's annotations are too large): %w",
			r.Op, what, len(payload), maxRecord, cas.ErrInvalid)
	}
	b := make([]byte, recordHeader, recordHeader+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// span is a stretch of the journal: Len bytes from Off.
type span struct{ Off, Len int }

// journalScan is what decodeRecords found in a journal: intact records up
// to end, with the damaged stretches among them in skipped; b[end:] is a
// torn tail. Records, skipped stretches and the tail cover b exactly.
type journalScan struct {
	end     int
	skipped []span
}

// decodeRecords calls fn for each intact record of b in order. A record
// that does not decode is skipped when an intact record follows it
// somewhere (it was acknowledged, and so were the ones after it, which must
// not be lost with it); when none follows, it and the rest are a torn tail,
// the append a crash interrupted.
func decodeRecords(b []byte, fn func(record)) journalScan {
	var sc journalScan
	off := 0
	for off < len(b) {
		if r, n, ok := recordAt(b, off); ok {
			fn(r)
			off += n
			sc.end = off
			continue
		}
		next := resync(b, off)
		if next < 0 {
			break
		}
		sc.skipped = append(sc.skipped, span{off, next - off})
		off = next
	}
	return sc
}

// recordAt decodes the record at off; n is its length with the header.
func recordAt(b []byte, off int) (record, int, bool) {
	payload, ok := frameAt(b, off)
	if !ok {
		return record{}, 0, false
	}
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return record{}, 0, false
	}
	return r, recordHeader + len(payload), true
}

// frameAt returns the payload of the record at off if its header is
// plausible and its checksum matches.
func frameAt(b []byte, off int) ([]byte, bool) {
	if len(b)-off < recordHeader {
		return nil, false
	}
	// Compare as uint32 before converting: on 32-bit platforms a large
	// length would turn negative.
	size := binary.LittleEndian.Uint32(b[off : off+4])
	if size > maxRecord || uint64(size) > uint64(len(b)-off-recordHeader) {
		return nil, false
	}
	payload := b[off+recordHeader : off+recordHeader+int(size)]
	// json.Marshal of a record is an object whose first field is never
	// omitted: checking for that first keeps resync's scan from
	// checksumming megabytes at most offsets of a damaged stretch.
	if len(payload) < 3 || payload[0] != '{' || payload[1] != '"' || payload[len(payload)-1] != '}' {
		return nil, false
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[off+4:off+8]) {
		return nil, false
	}
	return payload, true
}

// resync returns the first offset after off where an intact record starts,
// or -1. It scans byte by byte rather than trusting the damaged record's
// length: when the length is right the scan stops at the same place (no
// payload can hold a false header, see maxRecord), and when the length is
// the damage, a skip by it could land past intact records. The scan costs
// under 10 ms per MiB of random damage; only bytes crafted to look like
// headers everywhere make it slow (quadratic), and writing those takes
// write access to the journal.
func resync(b []byte, off int) int {
	for p := off + 1; len(b)-p >= recordHeader; p++ {
		if _, _, ok := recordAt(b, p); ok {
			return p
		}
	}
	return -1
}

// apply performs r on the maps; mu is held.
func (s *Store) apply(r record) {
	switch r.Op {
	case "tag", "refadd", "link":
		// Garbage collection decides on a snapshot: content or a tag
		// taken since makes it leave the repository for the next run.
		s.bumpGen(r.Repo)
	}
	switch r.Op {
	case "tag":
		if r.Desc != nil {
			s.setTag(r.Repo, r.Tag, *r.Desc)
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
		s.addLink(r.Repo, r.Digest, r.Time, r.MediaType)
		return
	case "unlink":
		s.unlink(r.Repo, r.Digest, r.Time)
		return
	}
	s.dirty = true
}

// replayJournal applies the journal a crash left; it returns the number of
// records applied and whether the journal holds bytes that were not
// applied (a torn tail, or damaged records skipped), so that Open compacts
// it. Before that, a journal with damaged records is copied aside
// (keepDamagedJournal): the changes they held are lost, and the copy is
// what is left of them.
func (s *Store) replayJournal() (int, bool, error) {
	b, err := os.ReadFile(s.path(stateDir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store %s: reading the tag journal: %w", s.dir, err)
	}
	n := 0
	sc := decodeRecords(b, func(r record) { s.apply(r); n++ })
	if len(sc.skipped) > 0 {
		if err := s.keepDamagedJournal(b, sc.skipped); err != nil {
			return 0, false, err
		}
	}
	if sc.end < len(b) {
		// Most often a crash cut the last append short, and that change
		// never returned to its caller; but a last record damaged at rest
		// looks the same, and its change had returned. Say both.
		s.opts.Logger.Warn("dropped an unreadable record at the end of the tag journal: either a crash cut its write short (that change was never acknowledged) or it was damaged on disk (that change is lost)",
			"store", s.dir, "offset", sc.end, "bytes", len(b)-sc.end)
	}
	return n, sc.end < len(b) || len(sc.skipped) > 0, nil
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
	return s.commitEncoded(b, []record{r}, check)
}

// commitEncoded appends b, the encoding of rs, to the journal, syncs it and
// applies rs, all under jmu.
func (s *Store) commitEncoded(b []byte, rs []record, check func() error) error {
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
	return s.appendApply(b, rs)
}

// appendApply appends b, the encoding of rs, to the journal, syncs it and
// applies rs; jmu is held and the journal open.
func (s *Store) appendApply(b []byte, rs []record) error {
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
	for _, r := range rs {
		s.apply(r)
	}
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
			err := atomicfile.WriteFunc(s.path(indexFile), snap.writeTo, atomicfile.Options{TempDir: s.path(stateDir)})
			if err != nil {
				return fmt.Errorf("store %s: writing %s: %w", s.dir, indexFile, err)
			}
			return nil
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
	if n, err := s.journal.ReadAt(tail, covered); n < len(tail) {
		// A short read would write zeros in place of acknowledged
		// records; keep the journal as it is instead.
		return fmt.Errorf("store %s: reading the tag journal: %w", s.dir, cmp.Or(err, io.ErrUnexpectedEOF))
	}
	if err := s.writeAtomic(stateDir+"/"+journalFile, tail); err != nil {
		return err
	}
	old := s.journal
	s.journal = nil
	old.Close()
	return s.openJournal()
}
