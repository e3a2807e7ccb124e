package cli

import (
	"context"
	"errors"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// A SIGTERM repeated after the command has returned, while the process
// exits, is ignored: a server that drained its requests exits 0, not by
// the signal.
func TestRepeatedTermAfterStopIgnored(t *testing.T) {
	t.Cleanup(func() { signal.Reset(syscall.SIGTERM) })
	ctx, stop := NotifyContext(context.Background(), syscall.SIGTERM)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	var in Interrupted
	if !errors.As(context.Cause(ctx), &in) {
		t.Fatalf("cause %v, want Interrupted", context.Cause(ctx))
	}
	stop()
	if !signal.Ignored(syscall.SIGTERM) {
		t.Fatal("after the first SIGTERM and stop, a second SIGTERM would kill the process")
	}
}
