package swarm

import (
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	lowatSupported   = true
	notsentSupported = true
)

func setLowat(fd uintptr, v int) {
	_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
}

func setNotsent(fd uintptr, v int) {
	_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, v)
}
