package disk

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// directAlign is the alignment O_DIRECT needs of file offsets, lengths and
// memory: the logical block size of any disk gantry meets is 4 KiB or less.
const directAlign = 4096

// directMin is the smallest write worth sending through O_DIRECT; smaller
// ones (manifests, configs, the ends of a blob) go through the page cache.
const directMin = 64 << 10

// alignedBuf returns n bytes starting at a directAlign boundary: an
// oversized slice cut at the first aligned offset.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	return b[off : off+n : off+n]
}

func isAligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0
}

// fileWriter writes a file front to back. The whole 4 KiB blocks of each
// write go through a second, O_DIRECT descriptor of the file: the kernel
// DMAs them from the (aligned) buffer to the disk instead of copying them
// into the page cache first, which on the project's VMs was two thirds of
// a push's CPU (bench/registry/RESULTS.md), and leaves the final fsync
// little to do. The unaligned head (up to the next block boundary: a
// resumed upload's file may end anywhere) and the tail of a write go
// through the normal descriptor, so the file holds every byte written as
// soon as write returns and nothing is carried in memory between writes.
// Where the file system refuses O_DIRECT, every byte goes through the
// normal descriptor and writeback is started every writebackEvery bytes.
type fileWriter struct {
	path    string
	f       *os.File // the normal descriptor, not O_APPEND
	d       *os.File // the O_DIRECT descriptor; nil until needed or if refused
	refused bool     // opening d failed: the page cache for good
	off     int64    // bytes in the file: where the next write goes
	synced  int64    // writeback requested up to here (page-cache path)
	scratch *[]byte  // aligned copy of unaligned memory, from bufPool
}

// write writes b at w.off and advances it by what was written.
func (w *fileWriter) write(b []byte) (int, error) {
	if len(b) >= directMin && w.d == nil && !w.refused {
		d, err := openDirect(w.path)
		if err != nil {
			w.refused = true
		}
		w.d = d
	}
	if w.d == nil {
		n, err := w.f.WriteAt(b, w.off)
		w.off += int64(n)
		if w.off-w.synced >= writebackEvery {
			startWriteback(w.f, w.synced, w.off-w.synced)
			w.synced = w.off
		}
		return n, err
	}
	total := 0
	buffered := func(p []byte) error {
		n, err := w.f.WriteAt(p, w.off)
		w.off += int64(n)
		total += n
		return err
	}
	if r := int(w.off % directAlign); r != 0 {
		k := min(len(b), directAlign-r)
		if err := buffered(b[:k]); err != nil {
			return total, err
		}
		b = b[k:]
	}
	for len(b) >= directAlign {
		p := b[:len(b)&^(directAlign-1)]
		if !isAligned(p) {
			if w.scratch == nil {
				w.scratch = bufPool.Get().(*[]byte)
			}
			p = (*w.scratch)[:copy(*w.scratch, p)] // len(*w.scratch) is a multiple of directAlign
		}
		n, err := w.d.WriteAt(p, w.off)
		w.off += int64(n)
		total += n
		b = b[n:]
		if errors.Is(err, syscall.EINVAL) && n == 0 {
			// Refused after all (an alignment stricter than 4 KiB, a
			// file system that accepts the flag but not the write).
			w.d.Close()
			w.d, w.refused = nil, true
			k, err := w.write(b)
			return total + k, err
		}
		if err != nil {
			// A failed O_DIRECT write may have stored part of what it
			// did not count (or extended the file): cut the file back to
			// what was acknowledged, so its size stays the truth.
			w.f.Truncate(w.off)
			return total, err
		}
	}
	if len(b) > 0 {
		if err := buffered(b); err != nil {
			return total, err
		}
	}
	return total, nil
}

// closeDirect closes the O_DIRECT descriptor, if open, and returns the
// scratch buffer; f is the caller's to close.
func (w *fileWriter) closeDirect() {
	if w.d != nil {
		w.d.Close()
		w.d = nil
	}
	if w.scratch != nil {
		bufPool.Put(w.scratch)
		w.scratch = nil
	}
}
