// Package atomicfile replaces whole files durably: a reader, or the file
// system after a crash, sees the old content or the new, never a mix. The
// stores' index.json, the bundles' inventories and similar small files are
// written this way.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write names its temporary file tempPrefix + the target's base name + "." +
// a random number + tempSuffix, so IsTemp can recognise what a killed Write
// left behind.
const (
	tempPrefix = "."
	tempSuffix = ".tmp"
)

// Options tune Write. The zero value works.
type Options struct {
	// TempDir holds the temporary file until it is renamed over the
	// target; it must be on the same file system. Default: the target's
	// directory (the temporary file is hidden, named ".NAME.*.tmp").
	TempDir string
	// Perm is the file's mode. Default 0644.
	Perm os.FileMode
}

// Write replaces path with data: temporary file, write, chmod, fsync,
// rename, fsync of the directory. On failure the temporary file is removed
// and path is left as it was.
func Write(path string, data []byte, opts Options) error {
	return replace(path, opts, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteFunc is Write for content too large to hold in memory at once:
// write streams it into the temporary file (through a buffer), and the
// replacement is as durable and atomic as Write's.
func WriteFunc(path string, write func(io.Writer) error, opts Options) error {
	return replace(path, opts, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// replace is Write and WriteFunc: fill writes the content into the
// temporary file.
func replace(path string, opts Options, fill func(*os.File) error) error {
	dir := opts.TempDir
	if dir == "" {
		dir = filepath.Dir(path)
	}
	perm := opts.Perm
	if perm == 0 {
		perm = 0o644
	}
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+".*"+tempSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// SyncDir fsyncs a directory, making the creation, removal or renaming of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsTemp reports whether name (a base name) has the form of Write's
// temporary files. A process killed during Write leaves its temporary file
// behind, as large as the data; only the caller knows when no Write is in
// progress in a directory (it holds a lock), so removing them is its job.
func IsTemp(name string) bool {
	return len(name) > len(tempPrefix)+len(tempSuffix) && strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}
