package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The CLI contract of docs/cli.md: exit codes, and errors that are one
// line naming the thing once and saying what to do.

// TestCLIExitCodes checks unknown commands and typos at every level,
// usage errors, --version and version.
func TestCLIExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		mentions []string
	}{
		{"typo in a bundle subcommand", []string{"bundle", "pussh"}, 2, []string{`unknown command "pussh"`, "did you mean", "push"}},
		{"typo in a command", []string{"chekc", "x"}, 2, []string{`unknown command "chekc"`, "did you mean", "check"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`, "gantry --help"}},
		{"unknown bundle command", []string{"bundle", "frobnicate"}, 2, []string{`unknown command "frobnicate"`, "gantry bundle --help"}},
		{"argument to version", []string{"version", "extra"}, 2, []string{"extra"}},
		{"too many fsck arguments", []string{"fsck", "a", "b"}, 2, []string{"fsck"}},
		{"unknown flag", []string{"bundle", "inspect", "--frob"}, 2, []string{"--frob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := gantry(t, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("stderr does not mention %q: %s", m, r.Stderr)
				}
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		v := mustGantry(t, "--version").Stdout
		if !strings.HasPrefix(v, "gantry ") {
			t.Errorf("--version: %q", v)
		}
		long := mustGantry(t, "version").Stdout
		for _, m := range []string{"commit ", runtime.Version()} {
			if !strings.Contains(long, m) {
				t.Errorf("version %q does not show %q", long, m)
			}
		}
	})
}

// TestCLIConfigUnknownKey checks that a misspelt key of the config file is
// an error naming it and the key meant, and that a good file works.
func TestCLIConfigUnknownKey(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		code       int
		mentions   []string
	}{
		{"good", "log-level: info\ncopy:\n  concurrency: 8\nbundle:\n  create:\n    split: 4GiB\n", 0, nil},
		{"misspelt flag in a section", "copy:\n  concurency: 8\n", 2, []string{"concurency", "concurrency"}},
		{"misspelt top-level key", "log-levle: debug\n", 2, []string{"log-levle", "log-level"}},
		{"misspelt section", "bundel:\n  create:\n    split: 4GiB\n", 2, []string{"bundel", "bundle"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := gantry(t, "--config", cfg, "version")
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.Code, tc.code, r.Stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("stderr does not mention %q: %s", m, r.Stderr)
				}
			}
		})
	}
}

// TestCLIErrors checks one-line errors that say what to do: a registry
// whose certificate does not verify names --insecure, a missing file says
// it is missing, and an unreadable image is reported once.
func TestCLIErrors(t *testing.T) {
	f := newCLIFixture(t)
	dir := t.TempDir()
	t.Run("tls", func(t *testing.T) {
		ip := nonLoopbackIP(t)
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Listener = ln
		srv.TLS = &tls.Config{}
		srv.StartTLS()
		defer srv.Close()
		host := ln.Addr().String()
		for _, args := range [][]string{
			{"copy", host + "/demo/app:1", "oci:" + filepath.Join(dir, "tls") + ":demo/app:1"},
			{"inventory", host, "-o", filepath.Join(dir, "have.json")},
		} {
			r := gantry(t, args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "--insecure") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("%s: exit %d, want 1 and one line naming --insecure: %s", args[0], r.Code, r.Stderr)
			}
		}
	})
	t.Run("missing files", func(t *testing.T) {
		missing := filepath.Join(dir, "nosuch.tar")
		for _, args := range [][]string{
			{"bundle", "inspect", missing},
			{"bundle", "verify", missing},
			{"lint", missing},
			{"check", "--dockerfile", missing, f.ref},
		} {
			r := gantry(t, args...)
			line := strings.TrimSpace(r.Stderr)
			if r.Code == 0 || !strings.Contains(line, missing) || !strings.Contains(line, "no such file") || strings.Contains(line, "\n") {
				t.Errorf("%v: exit %d, want one line saying %s is missing: %s", args, r.Code, missing, line)
			}
		}
	})
	t.Run("unreadable image reported once", func(t *testing.T) {
		r := gantry(t, "check", "oci:"+f.layout+":demo/app:nope")
		if r.Code != 1 || strings.Contains(r.Stderr, "level=ERROR") {
			t.Errorf("exit %d; an unreadable image is a GC000 finding, not also a log line: %s", r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "GC000") {
			t.Errorf("no GC000 finding: %s", r.Stdout)
		}
	})
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// which gantry reaches over verified HTTPS.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return ""
}
