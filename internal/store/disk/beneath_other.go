//go:build unix && !linux

package disk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// openBeneath opens rel under dir refusing a symbolic link in the last
// component (O_NOFOLLOW); openat2's stricter walk is Linux's.
func openBeneath(_ *os.File, dir, rel string, flag int) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, rel), flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

func isLinkRefusal(err error) bool { return errors.Is(err, syscall.ELOOP) }
