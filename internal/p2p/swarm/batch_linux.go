package swarm

import "golang.org/x/sys/unix"

const (
	lowatSupported   = true
	notsentSupported = true
)

func setLowat(fd uintptr, v int) {
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, v)
}

func setNotsent(fd uintptr, v int) {
	_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, v)
}
