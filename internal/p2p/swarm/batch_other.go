//go:build !linux

package swarm

const lowatSupported = false

func setLowat(uintptr, int) {}
