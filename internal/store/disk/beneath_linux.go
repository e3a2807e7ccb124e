package disk

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openBeneath opens rel under dir with openat2(2): RESOLVE_BENEATH keeps
// the walk inside dir and RESOLVE_NO_SYMLINKS refuses a symbolic link in
// any component, the last included. Kernels before 5.6 (ENOSYS) and
// sandboxes that filter the call (EPERM) fall back to O_NOFOLLOW, which
// refuses a link in the last component only.
func openBeneath(d *os.File, dir, rel string, flag int) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   uint64(flag | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(int(d.Fd()), rel, &how)
		switch {
		case err == nil:
			// O_NONBLOCK kept a planted FIFO from blocking the open; a
			// regular file ignores it, but clear it for clarity.
			_ = unix.SetNonblock(fd, false)
			return os.NewFile(uintptr(fd), filepath.Join(dir, rel)), nil
		case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
			return os.OpenFile(filepath.Join(dir, rel), flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		}
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(dir, rel), Err: err}
	}
}

// isLinkRefusal reports whether an open failed because it met a symbolic
// link (ELOOP) or would have left the directory (EXDEV).
func isLinkRefusal(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV)
}
