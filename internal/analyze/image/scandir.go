package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/opencontainers/go-digest"
)

// scanFormat names the encoding of a scan on disk and what a scan keeps
// (scanLayer): change it with either. It is the name of the directory the
// entries of one format live in, so a gantry that writes another format
// never reads them.
const scanFormat = "v1"

// scanMagic opens every entry file.
const scanMagic = "gantry layer scan\n"

// DefaultScanDirBytes is the bound of a ScanDir opened with MaxBytes 0.
const DefaultScanDirBytes = 1 << 30

// staleTemp is the age past which a temporary file of the directory is
// taken for one a killed process left, and removed by eviction.
const staleTemp = time.Hour

// ScanDirOptions configures OpenScanDir. The zero value works.
type ScanDirOptions struct {
	// MaxBytes bounds the bytes of the entries kept (default
	// DefaultScanDirBytes, 1 GiB); past it the least recently used ones
	// are removed. A scan larger than the bound alone is not kept.
	MaxBytes int64
	// Version names the program that makes the scans (gantry's version
	// and commit). An entry written by another version is not used, and
	// is replaced by the next scan of its layer: how a scan is made may
	// change between versions, when the layer's bytes cannot.
	Version string
	// Log receives a warning when an entry cannot be written or evicted
	// (default: nothing is logged). The analysis goes on without it.
	Log *slog.Logger
}

// ScanDir keeps layer scans in a directory across processes, one file per
// layer digest (see ScanCache.WithDir). An entry is written only for a
// layer whose bytes were read in full and matched their digest, so it
// names the scan of those bytes and never goes stale. Entries are
// replaced atomically (internal/atomicfile): several processes may share
// a directory, reading while others write or evict. An entry that is
// corrupt, truncated, of another version or over the reader's limits is
// ignored, and the next scan of its layer replaces it. Recency is the
// entry's modification time, which a hit refreshes.
type ScanDir struct {
	dir  string // the directory given to OpenScanDir
	root string // the directory of this format's entries
	opts ScanDirOptions

	mu   sync.Mutex
	size int64 // bytes of the entries as last counted plus those written since; -1: not counted

	hits, writes, errs int64
}

// OpenScanDir opens (creating it if needed) the scan directory dir.
func OpenScanDir(dir string, opts ScanDirOptions) (*ScanDir, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultScanDirBytes
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	root := filepath.Join(dir, scanFormat)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("scan cache %s: %w", dir, err)
	}
	return &ScanDir{dir: dir, root: root, opts: opts, size: -1}, nil
}

// ScanDirStats counts what a ScanDir did.
type ScanDirStats struct {
	Hits   int64 // scans read from the directory
	Writes int64 // scans written to it
	Errors int64 // entries that could not be written (logged)
}

// Stats returns what d did so far.
func (d *ScanDir) Stats() ScanDirStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return ScanDirStats{Hits: d.hits, Writes: d.writes, Errors: d.errs}
}

// path returns the file of digest dg, or "" for a digest that does not
// name a file safely.
func (d *ScanDir) path(dg digest.Digest) string {
	if dg.Validate() != nil {
		return ""
	}
	return filepath.Join(d.root, dg.Algorithm().String(), dg.Encoded())
}

// load returns the kept scan of dg when there is one made by this version
// within lim.
func (d *ScanDir) load(dg digest.Digest, lim Limits) (*layerScan, bool) {
	p := d.path(dg)
	if p == "" {
		return nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > d.opts.MaxBytes {
		return nil, false
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, false
	}
	s, version, err := decodeScan(data, dg)
	if err != nil || version != d.opts.Version {
		return nil, false
	}
	// Limits tighter than those the scan was made under: a fresh read
	// fails as it should.
	if s.raw > lim.MaxLayerBytes || len(s.entries) > lim.MaxEntries {
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // recency for eviction; a failure costs nothing else
	d.mu.Lock()
	d.hits++
	d.mu.Unlock()
	return s, true
}

// store writes the scan of dg. Only a scan of verified bytes is written.
func (d *ScanDir) store(dg digest.Digest, s *layerScan) {
	p := d.path(dg)
	if p == "" || !s.verified {
		return
	}
	data := encodeScan(s, dg, d.opts.Version)
	if int64(len(data)) > d.opts.MaxBytes {
		return
	}
	// A scan holds what the image's /etc/shadow says and where its
	// secrets are: for its owner's eyes only, as the image was.
	err := os.MkdirAll(filepath.Dir(p), 0o700)
	if err == nil {
		err = atomicfile.Write(p, data, atomicfile.Options{Perm: 0o600})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.errs++
		d.opts.Log.Warn("scan cache: entry not written", "layer", dg, "err", err)
		return
	}
	d.writes++
	if d.size >= 0 {
		d.size += int64(len(data))
	} else {
		d.size = d.count()
	}
	if d.size > d.opts.MaxBytes {
		d.evict()
	}
}

// scanFile is one entry file found by count.
type scanFile struct {
	path string
	size int64
	mod  time.Time
}

// list returns the entry files of the directory, of every format (the
// entries of a format no longer written are the least recently used, and
// go first), and removes temporary files older than staleTemp. It looks
// at nothing but the files of entries: the directory may be shared with
// other programs' files. d.mu is held.
func (d *ScanDir) list() []scanFile {
	var files []scanFile
	formats, _ := os.ReadDir(d.dir)
	for _, f := range formats {
		if !f.IsDir() || !isFormat(f.Name()) {
			continue
		}
		algs, _ := os.ReadDir(filepath.Join(d.dir, f.Name()))
		for _, a := range algs {
			if !a.IsDir() || !digest.Algorithm(a.Name()).Available() {
				continue
			}
			dir := filepath.Join(d.dir, f.Name(), a.Name())
			names, _ := os.ReadDir(dir) // a directory another process removes meanwhile reads as empty
			for _, e := range names {
				fi, err := e.Info()
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
				p := filepath.Join(dir, e.Name())
				switch {
				case atomicfile.IsTemp(e.Name()):
					if time.Since(fi.ModTime()) > staleTemp {
						os.Remove(p)
					}
				case digest.Algorithm(a.Name()).Validate(e.Name()) == nil:
					files = append(files, scanFile{p, fi.Size(), fi.ModTime()})
				}
			}
		}
	}
	return files
}

// isFormat reports whether name is the directory of a format ("v1").
func isFormat(name string) bool {
	if len(name) < 2 || name[0] != 'v' {
		return false
	}
	for _, c := range name[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// count returns the bytes of the entries on disk. d.mu is held.
func (d *ScanDir) count() int64 {
	var n int64
	for _, f := range d.list() {
		n += f.size
	}
	return n
}

// evict removes the least recently used entries until those left take
// at most 90% of MaxBytes, so that the next writes do not each walk the
// directory again. d.mu is held.
func (d *ScanDir) evict() {
	files := d.list()
	var total int64
	for _, f := range files {
		total += f.size
	}
	sort.Slice(files, func(a, b int) bool { return files[a].mod.Before(files[b].mod) })
	target := d.opts.MaxBytes / 10 * 9
	for _, f := range files {
		if total <= target {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.opts.Log.Warn("scan cache: entry not evicted", "path", f.path, "err", err)
			continue
		}
		total -= f.size
	}
	d.size = total
}

// An entry file is:
//
//	scanMagic
//	uvarint length + version   ScanDirOptions.Version of the writer
//	uvarint length + digest    the layer's digest
//	varint raw                 decompressed bytes of the layer
//	uvarint count, then per entry (paths share a prefix with the previous one):
//	    uvarint shared, uvarint length + rest of the path, byte kind,
//	    varint size, varint mode, varint uid, varint gid, uvarint length + link
//	uvarint count, then per captured file: path, data (uvarint length + bytes each)
//	uvarint count, then per kept script: path, data
//	uvarint count, then per secret-looking file: path, why, varint size
//	4 bytes: CRC-32C (big-endian) of all that precedes
//
// The least an entry takes is 8 bytes (empty rest and link, one-byte
// varints), a captured file 2 and a secret 3: counts above what the bytes
// left could hold are refused before anything is allocated. A scan's
// scratch (layerScan.head) is not kept, and scriptBytes is the bytes of the
// scripts read back.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encodeScan(s *layerScan, dg digest.Digest, version string) []byte {
	size := len(scanMagic) + len(version) + len(dg) + 64
	for i := range s.entries {
		size += len(s.entries[i].Path) + len(s.entries[i].Link) + 16
	}
	b := make([]byte, 0, size)
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = append(b, scanMagic...)
	str(version)
	str(string(dg))
	b = binary.AppendVarint(b, s.raw)
	b = binary.AppendUvarint(b, uint64(len(s.entries)))
	prev := ""
	for i := range s.entries {
		e := &s.entries[i]
		n := 0
		for n < len(prev) && n < len(e.Path) && prev[n] == e.Path[n] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n))
		str(e.Path[n:])
		b = append(b, byte(e.Kind))
		b = binary.AppendVarint(b, e.Size)
		b = binary.AppendVarint(b, e.Mode)
		b = binary.AppendVarint(b, int64(e.UID))
		b = binary.AppendVarint(b, int64(e.GID))
		str(e.Link)
		prev = e.Path
	}
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	for _, p := range paths {
		str(p)
		str(string(s.files[p]))
	}
	paths = paths[:0]
	for p := range s.scripts {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	for _, p := range paths {
		str(p)
		str(string(s.scripts[p]))
	}
	b = binary.AppendUvarint(b, uint64(len(s.secrets)))
	for _, sf := range s.secrets {
		str(sf.path)
		str(sf.why)
		b = binary.AppendVarint(b, sf.size)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// errScanEntry is what decodeScan wraps for any entry it refuses.
var errScanEntry = errors.New("not a layer scan")

// scanDecoder reads the fields of an entry file.
type scanDecoder struct {
	b   []byte
	err error
}

func (r *scanDecoder) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", what, errScanEntry)
	}
}

func (r *scanDecoder) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *scanDecoder) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *scanDecoder) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *scanDecoder) string(what string) string { return string(r.bytes(what)) }

func (r *scanDecoder) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// count reads a count of items taking at least each bytes.
func (r *scanDecoder) count(what string, each int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.b)/each) {
		r.fail(what)
		return 0
	}
	return int(n)
}

// decodeScan reads an entry file for digest dg, returning the scan and the
// version that wrote it. It refuses (errScanEntry) anything that is not
// an entry as encodeScan writes it for dg, whole, holding paths walkLayer
// could have returned.
func decodeScan(data []byte, dg digest.Digest) (*layerScan, string, error) {
	if len(data) < len(scanMagic)+4 || string(data[:len(scanMagic)]) != scanMagic {
		return nil, "", fmt.Errorf("header: %w", errScanEntry)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return nil, "", fmt.Errorf("checksum: %w", errScanEntry)
	}
	r := &scanDecoder{b: body[len(scanMagic):]}
	version := r.string("version")
	if d := r.string("digest"); r.err == nil && d != string(dg) {
		return nil, "", fmt.Errorf("digest %q, want %s: %w", d, dg, errScanEntry)
	}
	s := &layerScan{raw: r.varint("decompressed bytes"), verified: true}
	if s.raw < 0 {
		r.fail("decompressed bytes")
	}
	n := r.count("entries", 8)
	s.entries = make([]Entry, 0, n)
	prev := ""
	for range n {
		shared := r.uvarint("path")
		rest := r.bytes("path")
		if r.err != nil {
			break
		}
		if shared > uint64(len(prev)) || len(rest) > MaxPathLength {
			r.fail("path")
			break
		}
		e := Entry{Path: prev[:shared] + string(rest)}
		e.Kind = Kind(r.byte("kind"))
		e.Size = r.varint("size")
		e.Mode = r.varint("mode")
		e.UID, e.GID = int(r.varint("uid")), int(r.varint("gid"))
		e.Link = r.string("link")
		if r.err != nil {
			break
		}
		if !validEntry(&e) {
			r.fail(fmt.Sprintf("entry %q", e.Path))
			break
		}
		if e.Kind == KindFile {
			s.bytes += e.Size
		}
		prev = e.Path
		s.entries = append(s.entries, e)
	}
	nf := r.count("files", 2)
	s.files = make(map[string][]byte, nf)
	for range nf {
		p, data := r.string("file"), bytes.Clone(r.bytes("file"))
		if r.err == nil {
			if c, err := cleanPath(p); err != nil || c != p || p == "" {
				r.fail(fmt.Sprintf("file %q", p))
			}
		}
		if _, dup := s.files[p]; dup {
			r.fail(fmt.Sprintf("file %q twice", p))
		}
		s.files[p] = data
	}
	nk := r.count("scripts", 2)
	for range nk {
		p, data := r.string("script"), bytes.Clone(r.bytes("script"))
		if r.err == nil {
			if c, err := cleanPath(p); err != nil || c != p || p == "" {
				r.fail(fmt.Sprintf("script %q", p))
			}
		}
		if _, dup := s.scripts[p]; dup {
			r.fail(fmt.Sprintf("script %q twice", p))
		}
		if s.scripts == nil {
			s.scripts = make(map[string][]byte, nk)
		}
		s.scripts[p] = data
		s.scriptBytes += int64(len(data))
	}
	ns := r.count("secrets", 3)
	for range ns {
		sf := secretFile{path: r.string("secret"), why: r.string("secret"), size: r.varint("secret")}
		if r.err == nil {
			if c, err := cleanPath(sf.path); err != nil || c != sf.path || sf.path == "" || sf.size < 0 {
				r.fail(fmt.Sprintf("secret %q", sf.path))
			}
		}
		s.secrets = append(s.secrets, sf)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, "", r.err
	}
	return s, version, nil
}

// validEntry reports whether e is an entry walkLayer could return.
func validEntry(e *Entry) bool {
	if e.Kind > KindOther || e.Size < 0 || (e.Size != 0 && e.Kind != KindFile) || e.Mode&^0o7777 != 0 {
		return false
	}
	if c, err := cleanPath(e.Path); err != nil || c != e.Path || (e.Path == "" && e.Kind != KindOpaque) {
		return false
	}
	switch e.Kind {
	case KindHardlink:
		c, err := cleanPath(e.Link)
		return err == nil && c == e.Link && c != ""
	case KindSymlink:
		return true
	}
	return e.Link == ""
}
