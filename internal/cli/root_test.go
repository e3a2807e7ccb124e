package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runProbe runs a probe subcommand with a --depth flag (default 1) under the
// real root and returns the value the command saw.
func runProbe(t *testing.T, args ...string) (string, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	root := newRoot(e)
	var depth string
	probe := &cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }}
	probe.Flags().StringVar(&depth, "depth", "1", "")
	root.AddCommand(probe)
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 1
		stderr.WriteString(err.Error())
	}
	return depth, code, stderr.String()
}

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("depth: 3\nprobe:\n  depth: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(dir, "top.yaml")
	if err := os.WriteFile(top, []byte("depth: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no default config file
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"default", "", []string{"probe"}, "1"},
		{"config top level", "", []string{"--config", top, "probe"}, "3"},
		{"config section beats top level", "", []string{"--config", cfg, "probe"}, "4"},
		{"env beats config", "5", []string{"--config", cfg, "probe"}, "5"},
		{"flag beats env", "5", []string{"--config", cfg, "probe", "--depth", "6"}, "6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("GANTRY_DEPTH", tc.env)
			}
			got, code, stderr := runProbe(t, tc.args...)
			if code != 0 || got != tc.want {
				t.Fatalf("depth = %q (exit %d, %s), want %q", got, code, stderr, tc.want)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  depth: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GANTRY_CONFIG", cfg)
	if got, _, stderr := runProbe(t, "probe"); got != "9" {
		t.Fatalf("depth = %q (%s), want 9 from GANTRY_CONFIG", got, stderr)
	}
}

func TestSettingsErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("depth: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		mention string
	}{
		{"missing config file", nil, []string{"--config", "/nonexistent/gantry.yaml", "probe"}, "/nonexistent/gantry.yaml"},
		{"malformed config", nil, []string{"--config", bad, "probe"}, bad},
		{"bad log level", map[string]string{"GANTRY_LOG_LEVEL": "loud"}, []string{"probe"}, "--log-level"},
		{"bad log format", nil, []string{"--log-format", "xml", "probe"}, "--log-format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, code, stderr := runProbe(t, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.mention) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", code, stderr, tc.mention)
			}
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "gantry ") {
		t.Fatalf("version: exit %d, out %q, err %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := Main(t.Context(), []string{"--no-such-flag"}, nil, &out, &errb); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2 (%s)", code, errb.String())
	}
	errb.Reset()
	if code := Main(t.Context(), []string{"version", "extra"}, nil, &out, &errb); code == 0 {
		t.Fatalf("version with an argument succeeded")
	}
}

func TestUnknownCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tests := []struct {
		args     []string
		code     int
		mentions []string
	}{
		{[]string{"bundle", "pussh"}, 2, []string{`unknown command "pussh" for "gantry bundle"`, "did you mean push?"}},
		{[]string{"bundel"}, 2, []string{"did you mean bundle?"}},
		{[]string{"agent", "containerd-confg"}, 2, []string{"did you mean containerd-config?"}},
		{[]string{"nothing-like-it"}, 2, []string{"gantry --help lists the commands"}},
		{[]string{"version", "x"}, 2, []string{"gantry version"}},
		{[]string{"version", "--format", "sarif"}, 2, []string{"want tty or json"}},
		{[]string{"lint", "--failure-threshold", "loud"}, 2, []string{"--failure-threshold"}},
		{[]string{"copy", "--concurrency", "0", "a", "b"}, 2, []string{"1 or more"}},
		{[]string{"bundle"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(t.Context(), tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errb.String())
			}
			for _, m := range tc.mentions {
				if !strings.Contains(errb.String(), m) {
					t.Errorf("stderr %q does not mention %q", errb.String(), m)
				}
			}
		})
	}
}

func TestConfigUnknownKeys(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tests := []struct {
		yaml string
		want string // "" for no error
	}{
		{"log-level: info\nconcurrency: 4\nbundle:\n  concurrency: 2\n  create:\n    split: 1GiB\n", ""},
		{"probe:\n  depht: 2\n", `unknown key "depht" in section "probe"; did you mean "depth"?`},
		{"bundle:\n  craete:\n    split: 1GiB\n", `did you mean "create"?`},
		{"zzzzzzzz: 1\n", `unknown key "zzzzzzzz" at the top level; its keys are the flags of gantry`},
	}
	for i, tc := range tests {
		cfg := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, code, stderr := runProbe(t, "--config", cfg, "probe")
		switch {
		case tc.want == "" && code != 0:
			t.Errorf("%d: exit %d: %s", i, code, stderr)
		case tc.want != "" && !strings.Contains(stderr, tc.want):
			t.Errorf("%d: stderr %q does not mention %q", i, stderr, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"push", "pussh", 1}, {"check", "chekc", 2}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestVersionFlagNotFromEnv(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GANTRY_VERSION", "1.2.3")
	var out, errb bytes.Buffer
	if code := Main(t.Context(), nil, strings.NewReader(""), &out, &errb); code != 0 || strings.Contains(out.String(), "(commit ") {
		t.Fatalf("GANTRY_VERSION in the environment: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
