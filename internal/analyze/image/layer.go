package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/gantry-dev/gantry/internal/inflate"
)

// Errors an analysis wraps when the input is hostile or too large.
var (
	// ErrHostile: a tar entry's path escapes the root ("../", absolute) or
	// is otherwise malformed.
	ErrHostile = errors.New("hostile tar entry")
	// ErrLimit: a layer or an image is over one of the Limits.
	ErrLimit = errors.New("over limit")
)

// Defaults of Limits.
const (
	DefaultMaxLayerBytes = 16 << 30
	DefaultMaxTotalBytes = 64 << 30
	DefaultMaxEntries    = 4 << 20
	// DefaultMaxImpliedDirs is the default of Limits.MaxImpliedDirs.
	DefaultMaxImpliedDirs = 64 << 10
	// MaxPathLength is the longest entry path accepted (Linux's PATH_MAX).
	MaxPathLength = 4096
)

// Limits bounds the work and memory of one image's analysis. The zero value
// uses the defaults.
type Limits struct {
	// MaxLayerBytes caps the decompressed bytes of one layer (default
	// DefaultMaxLayerBytes, 16 GiB): a gzip bomb stops there.
	MaxLayerBytes int64
	// MaxTotalBytes caps the decompressed bytes of all layers of an image
	// together (default DefaultMaxTotalBytes, 64 GiB).
	MaxTotalBytes int64
	// MaxEntries caps the tar entries of an image, which bounds the
	// metadata kept in memory (default DefaultMaxEntries, about 4 million).
	MaxEntries int
	// MaxImpliedDirs caps the directories the stacking of an image's
	// layers makes for parents that no tar entry names, beyond one for
	// each entry of the image (default DefaultMaxImpliedDirs, 65,536, plus
	// the entry count). A 4 KiB path can imply 2,048 of them, so a few
	// kilobytes of gzip would otherwise make millions; the entries whose
	// parents would pass the cap are left out, and a GC007 finding says
	// which and how many.
	MaxImpliedDirs int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLayerBytes <= 0 {
		l.MaxLayerBytes = DefaultMaxLayerBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxImpliedDirs <= 0 {
		l.MaxImpliedDirs = DefaultMaxImpliedDirs
	}
	return l
}

// Kind is the kind of a layer entry.
type Kind uint8

// Entry kinds.
const (
	KindFile     Kind = iota // a regular file
	KindDir                  // a directory
	KindSymlink              // a symbolic link
	KindHardlink             // a hard link to an earlier entry
	KindWhiteout             // ".wh.NAME": Path is deleted from lower layers
	KindOpaque               // ".wh..wh..opq": Path's lower contents are hidden
	KindOther                // device, FIFO
)

// Entry is one tar entry of a layer, its path cleaned and relative to the
// root ("etc/passwd"). A whiteout's Path is the path it deletes; an opaque
// marker's Path is the directory it makes opaque.
type Entry struct {
	Path     string
	Kind     Kind
	Size     int64 // content bytes, regular files only
	Mode     int64 // permission bits with setuid, setgid and sticky
	UID, GID int
	Link     string // symlink or hard-link target
}

// budget counts decompressed bytes across the layers of one image.
type budget struct {
	total   atomic.Int64
	entries atomic.Int64
	lim     Limits
}

// countReader counts decompressed bytes and stops at the limits.
type countReader struct {
	r     io.Reader
	n     int64
	b     *budget
	layer string
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.b.lim.MaxLayerBytes {
		return n, fmt.Errorf("layer %s: more than %d bytes decompressed (a decompression bomb?): %w", c.layer, c.b.lim.MaxLayerBytes, ErrLimit)
	}
	if t := c.b.total.Add(int64(n)); t > c.b.lim.MaxTotalBytes {
		return n, fmt.Errorf("layer %s: image over %d bytes decompressed in all: %w", c.layer, c.b.lim.MaxTotalBytes, ErrLimit)
	}
	return n, err
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// minParallelInflate is the smallest gzip layer (compressed bytes) that
// Options.InflateWorkers applies to: below it, a chunk or two would be all
// there is to share.
var minParallelInflate int64 = 64 << 20

// inflateOptions are the parallel inflater's, but for Workers (tests make
// its chunks small); inflateHook, when set by a test, sees each layer's
// inflater count.
var (
	inflateOptions inflate.Options
	inflateHook    func(workers int)
)

// decompress returns the uncompressed stream of r, recognising gzip and
// zstd by their magic numbers (media types lie more often than bytes do), or
// r itself for an uncompressed tar. A gzip stream is inflated on workers
// goroutines when there are 2 or more (internal/inflate); if that fails,
// reading it fails with inflate.ErrRetry and the caller reads it again
// with 1.
func decompress(r io.Reader, workers int) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	gz := len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gz && inflateHook != nil {
		inflateHook(workers)
	}
	switch {
	case gz && workers > 1:
		o := inflateOptions
		o.Workers = workers
		zr := inflate.NewReader(br, o)
		return zr, func() { zr.Close() }, nil
	case gz:
		zr, err := inflate.NewGzip(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case bytes.Equal(magic, zstdMagic):
		// One goroutine and a bounded window: memory stays small whatever
		// the frame header claims.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// cleanPath turns a tar entry name into a clean relative path, refusing
// names that leave the root. It returns "" for the root itself.
func cleanPath(name string) (string, error) {
	if len(name) > MaxPathLength {
		return "", fmt.Errorf("entry name of %d bytes: %w", len(name), ErrHostile)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute entry name %q: %w", name, ErrHostile)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("entry name %q holds a NUL byte: %w", name, ErrHostile)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry name %q escapes the root: %w", name, ErrHostile)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// WalkLayer reads a layer (gzip, zstd or uncompressed tar) as a stream and
// calls fn with each entry, in tar order, and a reader over its content
// (regular files; fn may read part of it or none). It fails with ErrHostile
// on a path that escapes the root and ErrLimit past lim. It reads r to its
// end, so that a verifying reader under it sees every byte.
func WalkLayer(ctx context.Context, r io.Reader, lim Limits, fn func(e *Entry, content io.Reader) error) error {
	_, err := walkLayer(ctx, r, "", 1, &budget{lim: lim.withDefaults()}, fn)
	return err
}

// walkLayer is WalkLayer under the budget of an image, inflating a gzip
// layer on workers goroutines (see decompress); it returns the number of
// bytes it decompressed.
func walkLayer(ctx context.Context, r io.Reader, name string, workers int, b *budget, fn func(e *Entry, content io.Reader) error) (int64, error) {
	dr, closeFn, err := decompress(r, workers)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	cr := &countReader{r: dr, b: b, layer: name}
	tr := tar.NewReader(cr)
	var e Entry
	for {
		if err := ctx.Err(); err != nil {
			return cr.n, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cr.n, fmt.Errorf("tar: %w", err)
		}
		if b.entries.Add(1) > int64(b.lim.MaxEntries) {
			return cr.n, fmt.Errorf("more than %d entries: %w", b.lim.MaxEntries, ErrLimit)
		}
		p, err := cleanPath(hdr.Name)
		if err != nil {
			return cr.n, err
		}
		e = Entry{Path: p, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
			e.Kind, e.Size = KindFile, hdr.Size
		case tar.TypeDir:
			e.Kind = KindDir
		case tar.TypeSymlink:
			e.Kind, e.Link = KindSymlink, hdr.Linkname
		case tar.TypeLink:
			l, err := cleanPath(hdr.Linkname)
			if err != nil || l == "" {
				return cr.n, fmt.Errorf("hard link %q -> %q: %w", hdr.Name, hdr.Linkname, ErrHostile)
			}
			e.Kind, e.Link = KindHardlink, l
		default:
			e.Kind = KindOther
		}
		if e.Size < 0 {
			return cr.n, fmt.Errorf("entry %q: negative size: %w", hdr.Name, ErrHostile)
		}
		if p == "" {
			continue // the root directory itself
		}
		if base := path.Base(p); strings.HasPrefix(base, ".wh.") {
			dir := path.Dir(p)
			if dir == "." {
				dir = ""
			}
			if base == ".wh..wh..opq" {
				e.Kind, e.Path, e.Size = KindOpaque, dir, 0
			} else {
				target := base[len(".wh."):]
				if target == "" || target == "." || target == ".." || strings.HasPrefix(target, ".wh.") {
					return cr.n, fmt.Errorf("whiteout %q: %w", hdr.Name, ErrHostile)
				}
				e.Kind, e.Path, e.Size = KindWhiteout, path.Join(dir, target), 0
			}
		}
		var content io.Reader = noContent{}
		if e.Kind == KindFile {
			content = tr
		}
		if err := fn(&e, content); err != nil {
			return cr.n, err
		}
	}
	// Whatever follows the end-of-archive marker still belongs to the blob.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, fmt.Errorf("after the tar end: %w", err)
	}
	return cr.n, nil
}

// noContent is the content of entries that have none.
type noContent struct{}

func (noContent) Read([]byte) (int, error) { return 0, io.EOF }
