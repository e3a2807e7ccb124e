package swarm

import "syscall"

const lowatSupported = true

func setLowat(fd uintptr, v int) {
	_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
}
