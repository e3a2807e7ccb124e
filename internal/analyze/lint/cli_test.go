package lint_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/lint"
	"github.com/gantry-dev/gantry/internal/analyze/report/sariftest"
	"github.com/gantry-dev/gantry/internal/cli"
)

const (
	clean = "FROM alpine:3.20@sha256:0000000000000000000000000000000000000000000000000000000000000000\nUSER 10001\nHEALTHCHECK NONE\nCMD [\"/app\"]\n"
	warn  = "FROM alpine:3.20\nRUN apk add curl=8.9.1-r0\nUSER 10001\n"
	bad   = "FROM alpine:3.20\nRUN <<EOF\necho\n"
)

// gantry runs `gantry lint` in-process in dir and returns the exit code,
// stdout and stderr.
func gantry(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := cli.Main(t.Context(), append([]string{"lint"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCommand(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	dir := t.TempDir()
	write(t, dir, "clean", clean)
	write(t, dir, "warn", warn)
	write(t, dir, "bad", bad)

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"clean", []string{"clean"}, 0, nil},
		{"warning fails by default", []string{"warn"}, 1, []string{"warn:2:1 warning GL402"}},
		{"threshold error", []string{"--failure-threshold", "error", "warn"}, 0, []string{"GL402"}},
		{"threshold none", []string{"--failure-threshold", "none", "warn"}, 0, nil},
		{"ignore flag", []string{"--ignore", "GL402,DL3018", "--failure-threshold", "info", "warn"}, 1, []string{"GL103"}},
		{"parse error continues", []string{"bad", "warn"}, 2, []string{"bad:2:1 error GL900", "warn:2:1 warning GL402"}},
		{"missing file", []string{"nope", "clean"}, 2, nil},
		{"bad format", []string{"--format", "xml", "clean"}, 2, nil},
		{"bad threshold", []string{"--failure-threshold", "fatal", "clean"}, 2, nil},
		{"bad build arg", []string{"--build-arg", "NOEQUALS", "clean"}, 2, nil},
		{"unknown ignore", []string{"--ignore", "GL999", "clean"}, 2, nil},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			code, out, errs := gantry(t, dir, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestCommandJSONAndConfig(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	write(t, dir, "Dockerfile", warn)
	write(t, dir, ".gantry.yaml", "severity: {GL402: error}\ndigests: ignore\n")
	code, out, errs := gantry(t, dir, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	var got struct {
		Findings []struct {
			Rule, Severity, Message, File string
			Line                          int
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rules []string
	for _, f := range got.Findings {
		rules = append(rules, f.Rule+":"+f.Severity)
		if f.File != "Dockerfile" || f.Line < 1 || f.Message == "" {
			t.Errorf("finding %+v", f)
		}
	}
	if strings.Join(rules, " ") != "GL617:info GL402:error" {
		t.Errorf("findings %v, want the config's severity and digest policy applied", rules)
	}

	// An explicit --lint-config replaces ./.gantry.yaml; a broken one is a
	// usage error.
	write(t, dir, "strict.yaml", "ignores: [GL402]\n")
	if code, _, _ := gantry(t, dir, "--lint-config", "strict.yaml"); code != 2 {
		t.Errorf("broken --lint-config: exit %d, want 2", code)
	}
}

func TestCommandSARIF(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	write(t, dir, "Dockerfile", warn)
	_, out, _ := gantry(t, dir, "--format", "sarif")
	sariftest.Validate(t, []byte(out))
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
						Help    struct{ Text string }
					}
				}
			}
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Schema == "" || log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "gantry" {
		t.Fatalf("SARIF header: %s", out[:min(len(out), 300)])
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(lint.Rules()) {
		t.Errorf("%d rules in tool.driver, want %d", len(run.Tool.Driver.Rules), len(lint.Rules()))
	}
	for _, r := range run.Tool.Driver.Rules {
		if r.ID == "" || r.Help.Text == "" || !strings.Contains(r.HelpURI, "#"+strings.ToLower(r.ID)) {
			t.Errorf("rule %+v", r)
		}
	}
	if len(run.Results) == 0 {
		t.Fatal("no results")
	}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || res.Message.Text == "" || len(res.Locations) != 1 ||
			res.Locations[0].PhysicalLocation.ArtifactLocation.URI != "Dockerfile" || res.Locations[0].PhysicalLocation.Region.StartLine < 1 {
			t.Errorf("result %+v", res)
		}
	}
}

// TestCommandContext checks that gantry lint reads the entrypoint script
// from the Dockerfile's directory by default, from --context DIR when
// given, and from nowhere with --no-context or on stdin.
func TestCommandContext(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir, ctx := t.TempDir(), t.TempDir()
	df := "FROM debian:12\nCOPY start.sh /start.sh\nUSER 10001\nCMD [\"/start.sh\"]\n"
	script := "#!/bin/sh\nexec supervisord -n\n"
	write(t, dir, "Dockerfile", df)
	write(t, dir, "start.sh", script)
	write(t, ctx, "start.sh", script)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, sub, "Dockerfile", df)
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"the Dockerfile's directory", []string{"Dockerfile"}, true},
		{"no script next to the Dockerfile", []string{"sub/Dockerfile"}, false},
		{"--context", []string{"--context", ctx, "sub/Dockerfile"}, true},
		{"--no-context", []string{"--no-context", "Dockerfile"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, errOut := gantry(t, dir, append([]string{"--format", "json", "--failure-threshold", "none"}, tc.args...)...)
			if got := strings.Contains(out, `"GL201"`); got != tc.want {
				t.Errorf("GL201 reported=%v, want %v\n%s%s", got, tc.want, out, errOut)
			}
		})
	}
}
