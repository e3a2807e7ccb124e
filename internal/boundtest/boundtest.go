// Package boundtest runs a test's reproduction of hostile input in a child
// process (the test binary itself) under an address-space limit and a
// timeout, and reports the child's peak memory and time. A reproduction
// that still exhausts memory or overflows the stack then fails its test
// instead of taking the machine, or the rest of the test run, down.
package boundtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envCase = "GANTRY_BOUNDTEST_CASE"

// Limits bound the child.
type Limits struct {
	// AddressSpace is the child's RLIMIT_AS in bytes (default 4 GiB: the Go runtime reserves address space well beyond what it uses).
	AddressSpace int64
	// Timeout ends the child (default 60 s).
	Timeout time.Duration
}

// Result is what the child did.
type Result struct {
	// Output is the child's standard output and error.
	Output string
	// MaxRSS is the child's peak resident memory, in bytes: the test
	// binary's own (VmHWM) when it called Measure, since the kernel's
	// account of a child started by vfork and exec also holds the
	// parent's peak, which a long test run raises past any bound.
	MaxRSS int64
	// Elapsed is the wall time of the work the child measured (see
	// Measure), or of the whole child.
	Elapsed time.Duration
	// CPU is the processor time (user and system, every thread) of the
	// work the child measured, or of the whole child. On a shared machine
	// it is the steadier of the two.
	CPU time.Duration
	// Err is the child's exit error, nil when it passed.
	Err error
}

// Case returns the case the child runs, "" in the parent.
func Case() string { return os.Getenv(envCase) }

// Run runs the test named test (the child, which reads Case) in a child
// process for the case name, under lim. It skips when the child could not
// be measured: under the race detector (its shadow memory needs far more
// address space than any limit worth setting) and in -short runs.
func Run(t *testing.T, test, name string, lim Limits) Result {
	t.Helper()
	if testing.Short() {
		t.Skip("hostile-input reproductions are not short")
	}
	if raceEnabled {
		t.Skip("the race detector needs more address space than the limit")
	}
	if lim.AddressSpace <= 0 {
		lim.AddressSpace = 4 << 30
	}
	if lim.Timeout <= 0 {
		lim.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(t.Context(), lim.Timeout)
	defer cancel()
	// ulimit -v counts KiB; exec keeps the limit for the test binary.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `ulimit -v "$1" && shift && exec "$@"`, "sh",
		strconv.FormatInt(lim.AddressSpace>>10, 10), os.Args[0], "-test.run", "^"+test+"$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), envCase+"="+name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := Result{Output: out.String(), Elapsed: time.Since(start), Err: err}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("killed after %v: %w", lim.Timeout, ctx.Err())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss << 10
		r.CPU = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	}
	if i := strings.Index(r.Output, reportPrefix); i >= 0 {
		var wall, cpu, hwm int64
		if n, _ := fmt.Sscanf(r.Output[i+len(reportPrefix):], "%d %d %d", &wall, &cpu, &hwm); n >= 2 {
			r.Elapsed, r.CPU = time.Duration(wall), time.Duration(cpu)
			if n == 3 && hwm > 0 {
				r.MaxRSS = hwm
			}
		}
	}
	return r
}

const reportPrefix = "boundtest wall and cpu ns, peak RSS bytes: "

// Measure, called by the child, starts measuring the work under test
// (without the time to build its input); the function it returns stops
// and reports to Run, with the child's peak resident memory so far.
func Measure() (stop func()) {
	start, cpu := time.Now(), cpuTime()
	return func() {
		fmt.Printf("%s%d %d %d\n", reportPrefix, time.Since(start).Nanoseconds(), (cpuTime() - cpu).Nanoseconds(), peakRSS())
	}
}

// peakRSS returns the process's peak resident memory (VmHWM of
// /proc/self/status, which exec starts afresh), or 0 where it cannot be
// read.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}
