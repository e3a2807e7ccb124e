package testenv

import (
	"os/exec"
	"syscall"
)

// DieWithParent has the kernel kill cmd's process when the test process
// dies without running its cleanups (a panic in a test, or a SIGKILL of
// the test binary, ends it at once): servers a test starts do not outlive
// it holding their ports and files.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
