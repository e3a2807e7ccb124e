//go:build !linux

package swarm

const (
	lowatSupported   = false
	notsentSupported = false
)

func setLowat(uintptr, int) {}

func setNotsent(uintptr, int) {}
