package lint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/report"
)

// testCase is one Dockerfile of a rule's testdata file: the rule must fire
// on it, or must not.
type testCase struct {
	name string
	fire bool
	src  string
}

// readCases reads testdata/rules/ID.txt: sections "-- fire: NAME --" and
// "-- pass: NAME --", each followed by a Dockerfile.
func readCases(t *testing.T, path string) []testCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []testCase
	for _, line := range strings.SplitAfter(string(b), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "-- ") && strings.HasSuffix(trim, " --") {
			kind, name, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(trim, "-- "), " --"), ": ")
			if !ok || (kind != "fire" && kind != "pass") {
				t.Fatalf("%s: bad section %q", path, trim)
			}
			out = append(out, testCase{name: name, fire: kind == "fire"})
			continue
		}
		if len(out) == 0 {
			continue
		}
		out[len(out)-1].src += line
	}
	return out
}

// ruleOptions are the settings a rule needs to be active at all.
var ruleOptions = map[string]Options{
	"GL104": {Config: Config{AllowedRegistries: []string{"ghcr.io/acme"}}},
}

func TestRules(t *testing.T) {
	for _, r := range ruleTable {
		t.Run(r.id, func(t *testing.T) {
			cases := readCases(t, filepath.Join("testdata", "rules", r.id+".txt"))
			var fires, passes int
			for _, tc := range cases {
				if tc.fire {
					fires++
				} else {
					passes++
				}
				t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
					fs, err := Lint("Dockerfile", []byte(tc.src), ruleOptions[r.id])
					got := false
					var pe *ParseError
					switch {
					case r.id == "GL900":
						got = errors.As(err, &pe)
					case err != nil:
						t.Fatalf("Lint: %v", err)
					}
					for _, f := range fs {
						if f.Rule == r.id {
							got = true
							if f.Line < 1 || f.Message == "" || f.Severity == report.None {
								t.Errorf("malformed finding %+v", f)
							}
						}
					}
					if got != tc.fire {
						t.Errorf("%s fired=%v, want %v; findings:\n%s\nDockerfile:\n%s", r.id, got, tc.fire, dump(fs), tc.src)
					}
				})
			}
			if fires == 0 || passes == 0 {
				t.Errorf("%s needs cases that fire and cases that pass (have %d, %d)", r.id, fires, passes)
			}
		})
	}
}

// messagesOf returns the messages of the findings of rule.
func messagesOf(fs []report.Finding, rule string) []string {
	var ms []string
	for _, f := range fs {
		if f.Rule == rule {
			ms = append(ms, f.Message)
		}
	}
	return ms
}

func dump(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Location() + " " + f.Rule + " " + f.Message + "\n")
	}
	return b.String()
}
