//go:build !linux

package testenv

import "os/exec"

// DieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's: a test process that dies leaves the server running.
func DieWithParent(*exec.Cmd) {}
