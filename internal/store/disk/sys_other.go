//go:build unix && !linux

package disk

import (
	"os"
	"syscall"
)

func flock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func fdatasync(f *os.File) error { return f.Sync() }

func preallocate(*os.File, int64) error { return nil }

func startWriteback(*os.File, int64, int64) {}

var openDirect = func(string) (*os.File, error) { return nil, syscall.EINVAL }
