package disk

import (
	"os"
	"syscall"
)

// flock takes an exclusive lock on f without waiting. The lock belongs to
// the open file description: a second Open in the same process is refused
// too, and closing f releases it.
func flock(f *os.File) error {
	return ignoreEINTR(func() error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) })
}

// fdatasync flushes f's data and the metadata needed to read it back.
func fdatasync(f *os.File) error {
	return ignoreEINTR(func() error { return syscall.Fdatasync(int(f.Fd())) })
}

// preallocate reserves size bytes for f, so a full disk shows at the start
// of a push rather than after gigabytes were written, and the file system
// can lay the blob out in one piece. File systems without fallocate are
// fine: the writes reserve the space.
func preallocate(f *os.File, size int64) error {
	if size <= 0 {
		return nil
	}
	err := ignoreEINTR(func() error { return syscall.Fallocate(int(f.Fd()), 0, 0, size) })
	if err == syscall.EOPNOTSUPP || err == syscall.ENOSYS {
		return nil
	}
	return err
}

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, without waiting, so the final fsync of a large blob has little left
// to do: hashing and disk writes overlap.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}

func ignoreEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}

// openDirect opens the file at p for writing with O_DIRECT. File systems
// without it (tmpfs before Linux 6.6, some FUSE ones) answer EINVAL; it is
// a variable so that tests can refuse it on any file system.
var openDirect = func(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|syscall.O_DIRECT|syscall.O_NOFOLLOW, 0)
}
