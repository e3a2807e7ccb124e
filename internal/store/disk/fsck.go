package disk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FsckOptions tunes Fsck. The zero value checks and changes nothing but
// stray temporary files.
type FsckOptions struct {
	// Repair moves damaged blobs into .gantry/quarantine/ (kept for
	// inspection, never served) and drops the index.json entries of
	// incomplete images, so every tag left resolves to a whole image and a
	// later copy can bring the missing content back. Default: report only.
	Repair bool
	// Concurrency bounds the blobs hashed at once. Default: GOMAXPROCS,
	// since hashing is CPU-bound once the disk keeps up.
	Concurrency int
}

// DamageReason says why a blob is damaged.
type DamageReason string

// Reasons of DamagedBlob.
const (
	// DamageWrongHash: the bytes do not hash to the blob's name, and have
	// the size its descriptors give (or no descriptor names it).
	DamageWrongHash DamageReason = "wrong hash"
	// DamageWrongSize: the bytes do not hash to the name and their size
	// differs from what a descriptor of the blob says: truncated or grown.
	DamageWrongSize DamageReason = "wrong size"
	// DamageUnreadable: the file cannot be read (I/O error, a directory in
	// its place, no permission).
	DamageUnreadable DamageReason = "unreadable"
	// DamageBadName: a file under blobs/ whose name is not a digest of a
	// supported algorithm.
	DamageBadName DamageReason = "not a blob name"
	// DamageNotRegular: a symbolic link, directory or other non-file where
	// a blob (or a blobs/<alg> directory) belongs. gantry never follows it;
	// repair moves the entry itself aside, not what it points at.
	DamageNotRegular DamageReason = "not a regular file"
)

// DamagedBlob is a blob whose bytes are not what its name says.
type DamagedBlob struct {
	Digest digest.Digest `json:"digest"`
	Reason DamageReason  `json:"reason"`
	Detail string        `json:"detail"`
	// Quarantined is where Repair moved the blob; empty if it is in place.
	Quarantined string `json:"quarantined,omitempty"`
}

// IncompleteImage is an index.json entry whose graph lacks content: the
// image cannot be pulled or copied whole.
type IncompleteImage struct {
	// Ref is the entry's ref.name ("REPO:TAG" for gantry's tags), or
	// "index.json entry N" for an entry without one.
	Ref    string        `json:"ref"`
	Digest digest.Digest `json:"digest"`
	// Missing lists the absent or damaged blobs of the graph.
	Missing []digest.Digest `json:"missing,omitempty"`
	// Invalid lists manifests that are present but do not parse, with why.
	Invalid []string `json:"invalid,omitempty"`
	// Dropped says that Repair removed the entry.
	Dropped bool `json:"dropped"`
}

// SparseIndex is an index some of whose platform manifests are absent while
// the rest are whole: what a platform-filtered copy makes on purpose. It is
// information, not damage.
type SparseIndex struct {
	Ref     string          `json:"ref"`
	Digest  digest.Digest   `json:"digest"`
	Present int             `json:"present"`
	Absent  []digest.Digest `json:"absent"`
}

// JournalDamage is a stretch of damaged records that Open skipped when it
// replayed the tag journal after a crash, keeping the intact records after
// it. The tag and referrer changes those records held are lost: tag or
// push them again. Open kept the journal as it found it in Copy, and Fsck
// reports it (it is not damage Repair can undo) until the copy is removed.
type JournalDamage struct {
	// Copy is the damaged journal, .gantry/journal.damaged-UNIXTIME.
	Copy string `json:"copy"`
	// Offset and Bytes locate the skipped stretch in Copy.
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
}

// StaleTemp is the temporary file of an interrupted atomic rewrite of
// index.json, referrers.json or the journal, left in .gantry by a kill. It
// is as large as the file it was to replace. Open removes those it finds;
// Repair removes those left since.
type StaleTemp struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Removed bool   `json:"removed"`
}

// FsckReport is what Fsck found and did. Clean tells whether damage
// remains.
type FsckReport struct {
	Dir               string            `json:"dir"`
	BlobsChecked      int               `json:"blobsChecked"`
	BytesHashed       int64             `json:"bytesHashed"`
	Damaged           []DamagedBlob     `json:"damaged"`
	Incomplete        []IncompleteImage `json:"incomplete"`
	Sparse            []SparseIndex     `json:"sparse"`
	StrayTempsRemoved []string          `json:"strayTempsRemoved"`
	// StaleTemps lists the atomic-write temporaries this Open removed
	// and any found since.
	StaleTemps []StaleTemp `json:"staleTemps"`
	// JournalDamage lists the damaged journal records Open skipped, in
	// this process or an earlier one, as long as their copy is kept.
	JournalDamage []JournalDamage `json:"journalDamage"`
	Actions       []string        `json:"actions"`
	// UploadSessions and UploadBytes count the registry upload sessions in
	// .gantry/uploads: not damage (clients may resume them; PurgeUploads
	// expires abandoned ones), but space in use.
	UploadSessions int   `json:"uploadSessions"`
	UploadBytes    int64 `json:"uploadBytes"`
}

// Clean reports whether no damage remains: every damaged blob was moved
// aside and every incomplete image's entry dropped (or there were none).
// JournalDamage does not count: the store is consistent (every intact
// record was applied) and nothing Repair does brings lost records back.
func (r *FsckReport) Clean() bool {
	for _, d := range r.Damaged {
		if d.Quarantined == "" {
			return false
		}
	}
	for _, i := range r.Incomplete {
		if !i.Dropped {
			return false
		}
	}
	return true
}

// blobState is the outcome of re-hashing one blob.
type blobState struct {
	size    int64
	damaged *DamagedBlob
}

// Fsck re-hashes every blob and walks every index.json entry down through
// indexes, manifests, configs and layers. Damage is in the report, not in
// the error: the error is for a check that could not run (cancelled, store
// unreadable). It may run while the store is in use; content pushed during
// the run is not checked.
func (s *Store) Fsck(ctx context.Context, opts FsckOptions) (*FsckReport, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	rep := &FsckReport{Dir: s.dir, Damaged: []DamagedBlob{}, Incomplete: []IncompleteImage{}, Sparse: []SparseIndex{}, StrayTempsRemoved: []string{}, StaleTemps: []StaleTemp{}, Actions: []string{}}
	if err := s.removeStrayTemps(rep); err != nil {
		return nil, err
	}
	if err := s.checkStaleTemps(rep, opts.Repair); err != nil {
		return nil, err
	}
	jd, err := s.damagedJournals()
	if err != nil {
		return nil, err
	}
	rep.JournalDamage = jd
	s.countUploads(rep)
	blobs, err := s.hashAll(ctx, opts.Concurrency, rep)
	if err != nil {
		return nil, err
	}
	w := &walker{s: s, ctx: ctx, blobs: blobs, memo: map[digest.Digest]*nodeResult{}, expect: map[digest.Digest]int64{}}
	roots := s.roots()
	for _, root := range roots {
		res := w.check(root.desc)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(res.missing) > 0 || len(res.invalid) > 0 {
			rep.Incomplete = append(rep.Incomplete, IncompleteImage{Ref: root.ref, Digest: root.desc.Digest, Missing: res.missing, Invalid: res.invalid})
		}
	}
	for _, root := range roots {
		for _, sp := range w.sparse(root.desc.Digest) {
			sp.Ref = root.ref
			rep.Sparse = append(rep.Sparse, sp)
		}
	}
	// A blob that fails its hash and has another size than its descriptors
	// say was truncated (or grew), which says more than "wrong hash".
	for d, st := range blobs {
		if st.damaged != nil && st.damaged.Reason == DamageWrongHash {
			if want, ok := w.expect[d]; ok && want != st.size {
				st.damaged.Reason = DamageWrongSize
				what := "truncated"
				if st.size > want {
					what = "too long"
				}
				st.damaged.Detail = fmt.Sprintf("%s: %d bytes, descriptors say %d", what, st.size, want)
			}
		}
		if st.damaged != nil {
			rep.Damaged = append(rep.Damaged, *st.damaged)
		}
	}
	slices.SortFunc(rep.Damaged, func(a, b DamagedBlob) int { return cmp.Compare(a.Digest, b.Digest) })
	if opts.Repair {
		if err := s.repair(rep, roots); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// removeStrayTemps removes ingest files of pushes that no longer run (a
// crash before this process opened the store, reported from Open's
// cleanup, or a failure that could not remove its own file).
func (s *Store) removeStrayTemps(rep *FsckReport) error {
	dir := s.path(stateDir, ingestDir)
	s.imu.Lock()
	defer s.imu.Unlock()
	rep.StrayTempsRemoved = append(rep.StrayTempsRemoved, s.stray...)
	s.stray = nil // reported once
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if s.active[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("store %s: removing stray temporary file: %w", s.dir, err)
		}
		rep.StrayTempsRemoved = append(rep.StrayTempsRemoved, e.Name())
	}
	return nil
}

// countUploads fills the upload fields of rep. Sessions come and go while
// it runs; the count is a snapshot, never an error.
func (s *Store) countUploads(rep *FsckReport) {
	entries, _ := os.ReadDir(s.path(stateDir, uploadsDir))
	for _, e := range entries {
		if fi, err := os.Stat(s.uploadPath(e.Name(), uploadData)); err == nil {
			rep.UploadSessions++
			rep.UploadBytes += fi.Size()
		}
	}
}

// hashAll re-hashes every file under blobs/ with bounded concurrency.
func (s *Store) hashAll(ctx context.Context, workers int, rep *FsckReport) (map[digest.Digest]*blobState, error) {
	type job struct {
		d    digest.Digest
		path string
	}
	var jobs []job
	out := map[digest.Digest]*blobState{}
	algs, err := os.ReadDir(s.path(blobsDir))
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, a := range algs {
		dir := s.path(blobsDir, a.Name())
		if !a.IsDir() { // a link to a directory elsewhere is not followed
			d := digest.Digest(a.Name() + ":")
			out[d] = &blobState{damaged: &DamagedBlob{Digest: d, Reason: DamageNotRegular,
				Detail: fmt.Sprintf("%s is %s, not a directory of blobs", dir, describeMode(a.Type()))}}
			continue
		}
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", s.dir, err)
		}
		for _, f := range files {
			d := digest.Digest(a.Name() + ":" + f.Name())
			if !f.Type().IsRegular() {
				out[d] = &blobState{damaged: &DamagedBlob{Digest: d, Reason: DamageNotRegular,
					Detail: fmt.Sprintf("%s is %s", filepath.Join(dir, f.Name()), describeMode(f.Type()))}}
				continue
			}
			if err := cas.ValidateDigest(d); err != nil {
				out[d] = &blobState{damaged: &DamagedBlob{Digest: d, Reason: DamageBadName, Detail: err.Error()}}
				continue
			}
			jobs = append(jobs, job{d, filepath.Join(dir, f.Name())})
		}
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan job)
	)
	for range min(workers, max(1, len(jobs))) {
		wg.Go(func() {
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			for j := range next {
				st, n := s.hashFile(ctx, j.d, j.path, *bp)
				mu.Lock()
				out[j.d] = st
				rep.BlobsChecked++
				rep.BytesHashed += n
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// hashFile hashes one blob file; it returns its state and the bytes hashed.
func (s *Store) hashFile(ctx context.Context, d digest.Digest, path string, buf []byte) (*blobState, int64) {
	st := &blobState{}
	unreadable := func(err error) (*blobState, int64) {
		st.damaged = &DamagedBlob{Digest: d, Reason: DamageUnreadable, Detail: err.Error()}
		return st, 0
	}
	f, err := s.openContent(path, os.O_RDONLY)
	if isNotRegular(err) { // replaced since the listing
		st.damaged = &DamagedBlob{Digest: d, Reason: DamageNotRegular, Detail: err.Error()}
		return st, 0
	}
	if err != nil {
		return unreadable(err)
	}
	defer f.Close()
	h := d.Algorithm().Hash()
	var n int64
	for {
		if ctx.Err() != nil {
			return st, n
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return unreadable(err)
		}
	}
	st.size = n
	if got := digest.NewDigestFromBytes(d.Algorithm(), h.Sum(nil)); got != d {
		st.damaged = &DamagedBlob{Digest: d, Reason: DamageWrongHash, Detail: fmt.Sprintf("content hashes to %s (%d bytes)", got, n)}
	}
	return st, n
}

// root is an index.json entry to walk.
type root struct {
	ref     string
	desc    ocispec.Descriptor
	foreign json.RawMessage // set for entries gantry does not own
	repo    string
	tag     string
}

// roots lists gantry's tags and the other entries of index.json that are
// well-formed descriptors.
func (s *Store) roots() []root {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []root
	for i, raw := range s.foreign {
		var d ocispec.Descriptor
		if json.Unmarshal(raw, &d) != nil || cas.ValidateDescriptor(d) != nil {
			continue
		}
		ref := d.Annotations[ocispec.AnnotationRefName]
		if ref == "" {
			ref = fmt.Sprintf("index.json entry %d", i)
		}
		out = append(out, root{ref: ref, desc: d, foreign: raw})
	}
	s.tags.each(func(e *tagEntry) bool {
		out = append(out, root{ref: e.repo + ":" + e.tag, desc: e.desc, repo: e.repo, tag: e.tag})
		return true
	})
	slices.SortFunc(out, func(a, b root) int { return cmp.Compare(a.ref, b.ref) })
	return out
}

// nodeResult is what is wrong below one descriptor.
type nodeResult struct {
	missing []digest.Digest
	invalid []string
	sparse  *SparseIndex // for an index with absent children
}

type walker struct {
	s      *Store
	ctx    context.Context
	blobs  map[digest.Digest]*blobState
	memo   map[digest.Digest]*nodeResult
	expect map[digest.Digest]int64 // sizes descriptors give, for damage reasons
}

// present reports whether d is stored and intact.
func (w *walker) present(d digest.Digest) bool {
	st, ok := w.blobs[d]
	return ok && st.damaged == nil
}

// check walks the graph under desc. Results are memoized by digest: many
// tags share manifests, and an index's children are shared across tags.
func (w *walker) check(desc ocispec.Descriptor) *nodeResult {
	w.expect[desc.Digest] = desc.Size
	if r, ok := w.memo[desc.Digest]; ok {
		return r
	}
	res := &nodeResult{}
	w.memo[desc.Digest] = res // a cycle ends here
	if !w.present(desc.Digest) {
		res.missing = []digest.Digest{desc.Digest}
		return res
	}
	if st := w.blobs[desc.Digest]; st.size != desc.Size {
		res.invalid = append(res.invalid, fmt.Sprintf("%s: descriptor says %d bytes, the blob has %d", desc.Digest, desc.Size, st.size))
		return res
	}
	if !oci.IsManifest(desc.MediaType) || w.ctx.Err() != nil {
		return res
	}
	b, err := w.s.readBlob(desc.Digest, oci.MaxManifestSize)
	if err != nil {
		res.missing = []digest.Digest{desc.Digest}
		return res
	}
	m, err := oci.ParseManifest(desc, b)
	if err != nil {
		res.invalid = append(res.invalid, err.Error())
		return res
	}
	if oci.IsIndex(m.MediaType) {
		var absent []digest.Digest
		present := 0
		for _, c := range m.Manifests {
			if !w.present(c.Digest) {
				w.expect[c.Digest] = c.Size
				absent = append(absent, c.Digest)
				continue
			}
			cr := w.check(c)
			res.missing = append(res.missing, cr.missing...)
			res.invalid = append(res.invalid, cr.invalid...)
			if len(cr.missing) == 0 && len(cr.invalid) == 0 {
				present++
			}
		}
		switch {
		case len(absent) == 0:
		case present > 0:
			// Absent platforms beside whole ones: a filtered copy.
			res.sparse = &SparseIndex{Digest: desc.Digest, Present: present, Absent: absent}
		default:
			res.missing = append(res.missing, absent...)
		}
		slices.Sort(res.missing)
		res.missing = slices.Compact(res.missing)
		return res
	}
	children, _ := oci.Children(desc, m, nil) // no platform: cannot fail
	for _, c := range children {
		cr := w.check(c)
		res.missing = append(res.missing, cr.missing...)
		res.invalid = append(res.invalid, cr.invalid...)
	}
	slices.Sort(res.missing)
	res.missing = slices.Compact(res.missing)
	return res
}

// sparse returns the sparse indexes reachable from d (d itself, or the
// children of a nested index).
func (w *walker) sparse(d digest.Digest) []SparseIndex {
	r := w.memo[d]
	if r == nil || r.sparse == nil {
		return nil
	}
	return []SparseIndex{*r.sparse}
}

// ensureQuarantine creates .gantry/quarantine durably: the blobs moved
// there must not vanish with it in a power loss.
func (s *Store) ensureQuarantine(qdir string) error {
	if _, err := os.Stat(qdir); err == nil {
		return nil
	}
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	if err := syncDir(s.path(stateDir)); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}

// repair quarantines damaged blobs and drops the entries of incomplete
// images, then writes index.json.
func (s *Store) repair(rep *FsckReport, roots []root) error {
	qdir := s.path(stateDir, quarantine)
	for i := range rep.Damaged {
		d := &rep.Damaged[i]
		if err := s.ensureQuarantine(qdir); err != nil {
			return err
		}
		src := s.path(blobsDir, string(d.Digest.Algorithm()), d.Digest.Encoded())
		if d.Reason == DamageBadName || d.Reason == DamageNotRegular {
			alg, name, _ := strings.Cut(string(d.Digest), ":")
			src = s.path(blobsDir, alg, name)
		}
		dst := filepath.Join(qdir, strings.ReplaceAll(string(d.Digest), ":", "-")+"."+time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("store %s: quarantining %s: %w", s.dir, d.Digest, err)
		}
		if err := errors.Join(syncDir(filepath.Dir(src)), syncDir(qdir)); err != nil {
			return fmt.Errorf("store %s: quarantining %s: %w", s.dir, d.Digest, err)
		}
		d.Quarantined = dst
		rep.Actions = append(rep.Actions, fmt.Sprintf("moved damaged blob %s (%s) to %s", d.Digest, d.Reason, dst))
	}
	byRef := map[string]root{}
	for _, r := range roots {
		byRef[r.ref] = r
	}
	droppedForeign := false
	for i := range rep.Incomplete {
		inc := &rep.Incomplete[i]
		r := byRef[inc.Ref]
		if r.foreign == nil {
			// Only if the tag still names the incomplete image: a client
			// may have moved it while fsck walked (compare and swap under
			// the journal's lock).
			err := s.commit(record{Op: "untag", Repo: r.repo, Tag: r.tag}, func() error {
				if d, ok := s.tags.get(r.repo, r.tag); !ok || d.Digest != r.desc.Digest {
					return errNoChange
				}
				return nil
			})
			if errors.Is(err, errNoChange) {
				continue
			}
			if err != nil {
				return fmt.Errorf("store %s: dropping tag %s: %w", s.dir, inc.Ref, err)
			}
		} else {
			s.jmu.Lock()
			s.mu.Lock()
			s.foreign = slices.DeleteFunc(s.foreign, func(raw json.RawMessage) bool { return string(raw) == string(r.foreign) })
			s.dirty = true
			s.mu.Unlock()
			s.jmu.Unlock()
			droppedForeign = true
		}
		inc.Dropped = true
		rep.Actions = append(rep.Actions, fmt.Sprintf("dropped index.json entry %s (%s): its image is incomplete", inc.Ref, inc.Digest))
	}
	if len(rep.Incomplete) > 0 || droppedForeign {
		if err := s.flush(); err != nil {
			return err
		}
		rep.Actions = append(rep.Actions, "rewrote index.json")
	}
	return nil
}
