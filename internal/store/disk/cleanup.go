package disk

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/atomicfile"
)

// settle finishes what a crash may have left half done outside the
// journal: it removes the temporaries of interrupted rewrites and makes the
// layout's directories durable. Open calls it with the lock held, once the
// journal file exists and before anything is rewritten.
func (s *Store) settle() error {
	if err := s.removeStaleTemps(); err != nil {
		return err
	}
	return s.syncDirs()
}

// removeStaleTemps removes the temporary files of atomic rewrites
// (index.json, referrers.json, the journal; as large as the file they
// were to replace) that a kill left in .gantry. Open calls it with the lock
// held and before its first write, so none of them is in use.
func (s *Store) removeStaleTemps() error {
	temps, err := s.staleTemps()
	if err != nil {
		return err
	}
	for i := range temps {
		if err := os.Remove(s.path(stateDir, temps[i].Name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("store %s: removing a stale temporary file: %w", s.dir, err)
		}
		temps[i].Removed = true
		s.opts.Logger.Info("removed the temporary file of an interrupted rewrite", "store", s.dir, "file", temps[i].Name, "bytes", temps[i].Size)
	}
	s.imu.Lock()
	s.removedTemps = append(s.removedTemps, temps...)
	s.imu.Unlock()
	return nil
}

// staleTemps lists the atomic-write temporaries in .gantry.
func (s *Store) staleTemps() ([]StaleTemp, error) {
	entries, err := os.ReadDir(s.path(stateDir))
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.dir, err)
	}
	var out []StaleTemp
	for _, e := range entries {
		if !atomicfile.IsTemp(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		t := StaleTemp{Name: e.Name()}
		if fi, err := e.Info(); err == nil {
			t.Size = fi.Size()
		}
		out = append(out, t)
	}
	return out, nil
}

// checkStaleTemps reports in rep the temporaries Open removed and those
// left since (a rewrite that failed and could not remove its own file),
// which repair removes. It holds flushMu: every rewrite of a running store
// happens in flush, so a temporary seen meanwhile is not in use.
func (s *Store) checkStaleTemps(rep *FsckReport, repair bool) error {
	s.imu.Lock()
	rep.StaleTemps = append(rep.StaleTemps, s.removedTemps...)
	s.removedTemps = nil // reported once
	s.imu.Unlock()
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	temps, err := s.staleTemps()
	if err != nil {
		return err
	}
	for _, t := range temps {
		if repair {
			if err := os.Remove(s.path(stateDir, t.Name)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("store %s: removing a stale temporary file: %w", s.dir, err)
			}
			t.Removed = true
			rep.Actions = append(rep.Actions, fmt.Sprintf("removed stale temporary file %s (%d bytes)", s.path(stateDir, t.Name), t.Size))
		}
		rep.StaleTemps = append(rep.StaleTemps, t)
	}
	return nil
}

// syncDirs fsyncs the directories of the layout once per Open: a mkdir
// (of the store, blobs/ALG, .gantry and its subdirectories) or a file
// creation (the journal, the lock) is durable only once its parent is
// synced, and a crash between the two leaves an entry that the next power
// loss may take away, with the blobs or records under it, although nothing
// would create it again. The parent of the store is synced as well, in
// case Open just created the store; failing to open a parent we do not own
// is not an error.
func (s *Store) syncDirs() error {
	dirs := []string{s.dir, s.path(blobsDir), s.path(stateDir)}
	algs, err := os.ReadDir(s.path(blobsDir))
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, a := range algs {
		if a.IsDir() {
			dirs = append(dirs, s.path(blobsDir, a.Name()))
		}
	}
	// Children first: a directory's own entries are durable before the
	// entry naming it is.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return fmt.Errorf("store %s: syncing %s: %w", s.dir, dirs[i], err)
		}
	}
	if err := syncDir(filepath.Dir(filepath.Clean(s.dir))); err != nil {
		s.opts.Logger.Warn("could not sync the store's parent directory; if the store was just created, a power loss may lose it", "store", s.dir, "err", err)
	}
	return nil
}
