package disk

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// damagedPrefix starts the name of a damaged journal's copy in .gantry:
// journal.damaged-UNIXTIME.
const damagedPrefix = journalFile + ".damaged-"

// keepDamagedJournal copies the journal b, whose skipped stretches replay
// could not decode, to .gantry/journal.damaged-UNIXTIME before Open
// compacts the journal, and says so loudly: those were acknowledged tag or
// referrer changes, and the copy is all that is left of them. Fsck finds
// the copy and reports it until someone removes it.
func (s *Store) keepDamagedJournal(b []byte, skipped []span) error {
	now := time.Now().Unix()
	name := fmt.Sprintf("%s%d", damagedPrefix, now)
	for i := 2; ; i++ {
		if _, err := os.Lstat(s.path(stateDir, name)); os.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("%s%d-%d", damagedPrefix, now, i)
	}
	if err := s.writeAtomic(stateDir+"/"+name, b); err != nil {
		return fmt.Errorf("%w (keeping a copy of the damaged tag journal before compacting it; the journal is unchanged)", err)
	}
	copyPath := s.path(stateDir, name)
	for _, sp := range skipped {
		s.opts.Logger.Error("skipped damaged records in the tag journal: the tag and referrer changes they held are lost (tag or push them again), the records after them are kept",
			"store", s.dir, "offset", sp.Off, "bytes", sp.Len, "copy", copyPath)
	}
	return nil
}

// damagedJournals finds the copies keepDamagedJournal made, in this
// process or an earlier one, and decodes them again to say where their
// damage is.
func (s *Store) damagedJournals() ([]JournalDamage, error) {
	entries, err := os.ReadDir(s.path(stateDir))
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.dir, err)
	}
	out := []JournalDamage{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), damagedPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := s.path(stateDir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", s.dir, err)
		}
		for _, sp := range decodeRecords(b, func(record) {}).skipped {
			out = append(out, JournalDamage{Copy: p, Offset: int64(sp.Off), Bytes: int64(sp.Len)})
		}
	}
	return out, nil
}
