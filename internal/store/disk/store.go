package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names inside the store directory.
const (
	layoutFile  = ocispec.ImageLayoutFile // "oci-layout"
	indexFile   = "index.json"
	blobsDir    = ocispec.ImageBlobsDir // "blobs"
	stateDir    = ".gantry"
	lockFile    = "lock"
	journalFile = "journal"
	ingestDir   = "ingest"
	quarantine  = "quarantine"
)

// Options tunes a Store. The zero value is the right choice outside tests
// and benchmarks.
type Options struct {
	// FlushInterval is how long the store waits after the last tag change
	// before rewriting index.json, so a burst of tags costs one rewrite and
	// OCI tools see the tags soon after the burst. Default 2s. The journal
	// makes tags durable whatever the interval.
	FlushInterval time.Duration
	// JournalLimit forces a rewrite of index.json once the journal passes
	// this many bytes even if tags keep coming, bounding the replay work of
	// the next Open. Default 8 MiB (about 30,000 tag records).
	JournalLimit int64
	// Logger receives errors of the background flush (Close returns its
	// own). Default: discard.
	Logger *slog.Logger
	// OnlineGC says that Collect will run while the store serves: the
	// store then remembers when content was last looked up, so a
	// collection spares what a client may be about to refer to. Collect
	// turns it on too, from its first run. Default: off.
	OnlineGC bool
}

func (o Options) withDefaults() Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Second
	}
	if o.JournalLimit <= 0 {
		o.JournalLimit = 8 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is an OCI image layout directory opened for exclusive use by this
// process. Its methods are safe for concurrent use. Close it to write
// index.json and release the directory.
type Store struct {
	dir  string
	dirf *os.File // dir, open: content is opened beneath it (content.go)
	opts Options
	lock *os.File

	// jmu orders tag changes: a change is appended to the journal, synced
	// and applied to the maps while jmu is held, so the maps always equal
	// index.json plus the journal. Lock order: jmu, then mu.
	jmu        sync.Mutex
	journal    *os.File
	journalLen int64
	closed     bool

	// shut is set by Close; pushes check it, since they do not take jmu.
	shut atomic.Bool

	mu      sync.RWMutex
	tags    tagIndex                   // every repository's tags, sorted
	top     map[string]json.RawMessage // index.json fields other than manifests
	foreign []json.RawMessage          // entries that are not REPO:TAG, as read
	dirty   bool                       // maps differ from index.json

	// links says which repositories hold which blobs (see links.go);
	// holders counts them per blob, released says when the last holder of
	// a blob let go of it. linksDirty: they differ from repositories.json.
	links      map[string]linkSet
	holders    map[digest.Digest]int
	released   map[digest.Digest]int64
	linksDirty bool

	// refs is the referrer index: repository -> subject -> referrers in
	// seq order. refDirty: it differs from referrers.json. refSeq is the
	// last seq given out (atomic: AddReferrer takes one before jmu).
	refs     map[string]map[digest.Digest][]referrer
	refDirty bool
	refSeq   atomic.Uint64

	flushMu sync.Mutex // one index.json writer at a time

	imu    sync.Mutex
	active map[string]bool // ingest temp files of pushes in progress
	stray  []string        // stale temp files Open removed
	// removedTemps: atomic-write temporaries Open removed, for Fsck.
	removedTemps []StaleTemp

	// Garbage collection (gc.go). gcMu guards pins (blobs a push is
	// about to link), guards (repositories a manifest PUT is checking) and
	// gens (bumped whenever a repository takes content or a tag); lock
	// order: jmu, mu, gcMu. gcRun lets one collection run at a time and
	// guards gcNodes, the manifests it has read.
	// touched says when each link was last looked up (Unix ns), kept
	// only once a collection has run (gcOn). doomed, under mu, holds the
	// links a collection is removing: no longer held for anyone.
	gcMu    sync.Mutex
	pins    map[digest.Digest]int
	guards  map[string]int
	gens    map[string]uint64
	touched map[linkKey]int64
	gcOn    atomic.Bool
	doomed  map[linkKey]bool
	gcRun   sync.Mutex
	gcNodes map[digest.Digest]*gcNode

	umu     sync.Mutex
	uploads map[string]*session // live upload sessions by id; see session
	// perRepo counts the live sessions of each repository (no entry for
	// none), so a server can cap them without listing the directory.
	perRepo map[string]int

	kick      chan struct{}
	done      chan struct{}
	flusherWG sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens the store in dir for exclusive use. A missing or empty dir
// becomes an empty layout; an existing OCI image layout (gantry's or another
// tool's) is used as it is, after replaying the journal a crash may have
// left. A non-empty dir that is not an OCI layout is refused (cas.ErrInvalid)
// rather than written into, and a dir another process has open is refused
// at once.
func Open(dir string, opts Options) (*Store, error) {
	s := &Store{
		dir:      dir,
		opts:     opts.withDefaults(),
		tags:     newTagIndex(),
		links:    map[string]linkSet{},
		holders:  map[digest.Digest]int{},
		released: map[digest.Digest]int64{},
		refs:     map[string]map[digest.Digest][]referrer{},
		active:   map[string]bool{},
		uploads:  map[string]*session{},
		perRepo:  map[string]int{},
		pins:     map[digest.Digest]int{},
		guards:   map[string]int{},
		gens:     map[string]uint64{},
		gcNodes:  map[digest.Digest]*gcNode{},
		touched:  map[linkKey]int64{},
		doomed:   map[linkKey]bool{},
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.gcOn.Store(opts.OnlineGC)
	hasLayout, err := checkDir(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{ingestDir, uploadsDir} {
		if err := os.MkdirAll(s.path(stateDir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", dir, err)
		}
	}
	if err := s.takeLock(); err != nil {
		return nil, err
	}
	if s.dirf, err = os.Open(dir); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	if err := s.open(hasLayout); err != nil {
		s.lock.Close()
		s.dirf.Close()
		if s.journal != nil {
			s.journal.Close()
		}
		return nil, err
	}
	s.loadUploads()
	s.flusherWG.Add(1)
	go s.flusher()
	return s, nil
}

// checkDir creates dir if needed and reports whether it holds an OCI layout.
func checkDir(dir string) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("store %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("store %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		switch e.Name() {
		case layoutFile:
			return true, nil
		case stateDir:
		default:
			others = append(others, e.Name())
		}
	}
	if len(others) > 0 {
		return false, fmt.Errorf("store %s: not an OCI image layout (no %s file) and not empty (it holds %s): point gantry at an empty or new directory, or at an existing OCI image layout: %w",
			dir, layoutFile, strings.Join(others[:min(3, len(others))], ", "), cas.ErrInvalid)
	}
	return false, nil
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// takeLock takes the exclusive flock on .gantry/lock and writes our PID in
// it, so a second opener can say who holds the store.
func (s *Store) takeLock() error {
	f, err := os.OpenFile(s.path(stateDir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("store %s: lock: %w", s.dir, err)
	}
	if err := flock(f); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		holder := "another process"
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
			holder = fmt.Sprintf("process %d", pid)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("store %s is in use by %s (lock %s): stop it or use another directory", s.dir, holder, f.Name())
		}
		return fmt.Errorf("store %s: lock %s: %w", s.dir, f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = f
	return nil
}

// open sets the layout up or checks it, loads index.json and
// referrers.json, replays the journal and clears stale temporary files
// (not upload sessions: clients may resume them). The lock is held.
func (s *Store) open(hasLayout bool) error {
	if hasLayout {
		if err := s.checkLayoutFile(); err != nil {
			return err
		}
	} else {
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := s.writeAtomic(layoutFile, b); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.path(blobsDir, string(digest.SHA256)), 0o755); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	if err := s.loadIndex(); err != nil {
		return err
	}
	if err := s.loadReferrers(); err != nil {
		return err
	}
	if err := s.loadLinks(); err != nil {
		return err
	}
	n, torn, err := s.replayJournal()
	if err != nil {
		return err
	}
	s.reconcileLinks()
	if _, err := os.Stat(s.path(indexFile)); n > 0 || torn || errors.Is(err, os.ErrNotExist) {
		s.dirty = true
	}
	if err := s.openJournal(); err != nil {
		return err
	}
	if err := s.settle(); err != nil {
		return err
	}
	if s.dirty || s.refDirty || s.linksDirty || torn {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if err := s.clearTrash(); err != nil {
		return err
	}
	return s.clearIngest()
}

func (s *Store) checkLayoutFile() error {
	p := s.path(layoutFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil || l.Version == "" {
		return fmt.Errorf("store %s: %s is not an image layout file (want {\"imageLayoutVersion\":\"1.0.0\"}): %w", s.dir, p, cas.ErrInvalid)
	}
	if !strings.HasPrefix(l.Version, "1.") {
		return fmt.Errorf("store %s: image layout version %q is not supported (want 1.x): %w", s.dir, l.Version, cas.ErrUnsupported)
	}
	return nil
}

// clearIngest removes the temporary files that pushes interrupted by a crash
// left behind; nothing else writes there while we hold the lock.
func (s *Store) clearIngest() error {
	dir := s.path(stateDir, ingestDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("store %s: removing stale temporary file: %w", s.dir, err)
		}
		s.stray = append(s.stray, e.Name())
	}
	return nil
}

// Close writes index.json, stops the background flush and releases the
// directory. It is idempotent; the store is unusable afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.shut.Store(true)
		s.closeUploads()
		close(s.done)
		s.flusherWG.Wait()
		err := s.flush()
		s.jmu.Lock()
		s.closed = true
		if s.journal != nil {
			if cerr := s.journal.Close(); err == nil {
				err = cerr
			}
		}
		s.jmu.Unlock()
		if cerr := s.lock.Close(); err == nil { // closing releases the flock
			err = cerr
		}
		s.dirf.Close()
		s.closeErr = err
	})
	return s.closeErr
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Repository implements cas.Store. Names are those of an OCI layout's
// ref.name: a distribution-spec repository, optionally after "HOST[:PORT]/",
// as skopeo and ctr write them.
func (s *Store) Repository(_ context.Context, name string) (cas.Target, error) {
	if err := oci.ValidateLayoutRepository(name); err != nil {
		return nil, err
	}
	return &Repo{s: s, name: name}, nil
}

// Repositories implements cas.RepositoryLister: the repositories with at
// least one tag, since an OCI layout records repositories only in tags. A
// page costs its size, not the number of tags or repositories.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	return s.pages(ctx, last, fn, func(last string, page []string) []string {
		s.tags.repos(last, func(name string) bool {
			page = append(page, name)
			return len(page) < listPage
		})
		return page
	})
}

// pages runs a listing: fill appends to page up to listPage names after
// last, with mu held for reading; fn gets each page without the lock, until
// fill finds nothing more or fn returns an error.
func (s *Store) pages(ctx context.Context, last string, fn func([]string) error, fill func(last string, page []string) []string) error {
	for {
		s.mu.RLock()
		page := fill(last, nil)
		s.mu.RUnlock()
		if len(page) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		last = page[len(page)-1]
	}
}

// listPage is the number of names a listing takes under the lock at a
// time: small enough that the registry's pages of n names cost about n.
const listPage = 100

// writeAtomic replaces the file name (relative to the store) with data,
// keeping the temporary file under the state directory so that OCI readers
// never see it.
func (s *Store) writeAtomic(name string, data []byte) error {
	if err := atomicfile.Write(s.path(name), data, atomicfile.Options{TempDir: s.path(stateDir)}); err != nil {
		return fmt.Errorf("store %s: writing %s: %w", s.dir, name, err)
	}
	return nil
}

// syncDir makes changes to dir's entries durable.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
