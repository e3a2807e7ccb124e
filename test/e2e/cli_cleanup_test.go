package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
)

// The CLI contract of docs/cli.md: commands that fail, or are interrupted,
// leave nothing behind.

// hangingRegistry accepts connections and never answers; it returns its
// address and a channel that receives once a client has connected.
func hangingRegistry(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 1)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), connected
}

// TestCLIInterrupt interrupts a copy that waits on a registry: gantry exits
// 130 after cleaning up, and the destination it never wrote to does not
// exist.
func TestCLIInterrupt(t *testing.T) {
	addr, connected := hangingRegistry(t)
	dst := filepath.Join(t.TempDir(), "dst")
	cmd := exec.Command(testenv.Gantry(t), "copy", addr+"/demo/app:1", "oci:"+dst+":demo/app:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("gantry never connected")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("exit %v, want 130\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("gantry did not exit after SIGINT\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupt") {
		t.Errorf("stderr does not say it was interrupted: %s", stderr.String())
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("interrupted copy left %s behind (%v)", dst, err)
	}
}

// TestCLINothingLeftBehind checks that failed commands create nothing:
// no destination store, no --root, no load target, and fsck does not turn
// a directory into a store.
func TestCLINothingLeftBehind(t *testing.T) {
	f := newCLIFixture(t)
	base := t.TempDir()
	data, err := os.ReadFile(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(base, "half.tar")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	refused := testenv.FreeAddr(t)

	tests := []struct {
		name     string
		args     []string
		absent   string // must not exist afterwards
		mentions []string
	}{
		{"copy from an unreachable registry", []string{"copy", refused + "/demo/app:1", "oci:" + filepath.Join(base, "dst1") + ":demo/app:1"},
			filepath.Join(base, "dst1"), []string{refused + "/demo/app:1"}},
		{"copy of a missing tag", []string{"copy", "oci:" + f.layout + ":demo/app:nope", "oci:" + filepath.Join(base, "dst2") + ":demo/app:1"},
			filepath.Join(base, "dst2"), []string{"nope"}},
		{"serve on a busy port", []string{"serve", "--addr", busy.Addr().String(), "--root", filepath.Join(base, "root")},
			filepath.Join(base, "root"), []string{busy.Addr().String()}},
		{"load of a truncated bundle", []string{"bundle", "load", truncated, "--root", filepath.Join(base, "load")},
			filepath.Join(base, "load"), []string{"truncated", "nothing written"}},
		{"fsck of a missing directory", []string{"fsck", filepath.Join(base, "missing")},
			filepath.Join(base, "missing"), []string{"not a gantry store"}},
		{"fsck of an empty directory", []string{"fsck", empty},
			filepath.Join(empty, "oci-layout"), []string{"not a gantry store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := gantry(t, tc.args...)
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1: %s", r.Code, r.Stderr)
			}
			line := errorLine(t, r.Stderr)
			if len(line) > 600 {
				t.Errorf("error is not one short line (%d bytes):\n%s", len(line), line)
			}
			for _, m := range tc.mentions {
				if c := strings.Count(line, m); c != 1 {
					t.Errorf("error names %q %d times, want once: %s", m, c, line)
				}
			}
			if _, err := os.Stat(tc.absent); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after the failure (%v)", tc.absent, err)
			}
		})
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("fsck wrote %d entries into an empty directory", len(entries))
	}
}

// errorLine returns the one line of stderr that reports the error (the
// others being progress), failing when there are several.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "gantry: ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Errorf("want one error line, got %d:\n%s", len(found), stderr)
		return stderr
	}
	return found[0]
}
