package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/report/sariftest"
)

func TestFails(t *testing.T) {
	fs := []Finding{{Rule: "A", Severity: Warning}}
	for _, tc := range []struct {
		threshold Severity
		want      bool
	}{{Error, false}, {Warning, true}, {Info, true}, {Style, true}, {None, false}} {
		if got := Fails(fs, tc.threshold); got != tc.want {
			t.Errorf("Fails(warning, %v) = %v, want %v", tc.threshold, got, tc.want)
		}
	}
}

func TestParseSeverity(t *testing.T) {
	for _, s := range []string{"error", "WARNING", "info", "style", "none"} {
		if _, err := ParseSeverity(s); err != nil {
			t.Errorf("ParseSeverity(%q): %v", s, err)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Error("ParseSeverity(fatal): no error")
	}
}

func sample() Report {
	return Report{
		Tool:  "gantry",
		Rules: []Rule{{ID: "GL101", Name: "BaseImageLatest", Severity: Warning, Summary: "pin the base", HelpURI: "https://example.com/rules#gl101"}},
		Findings: []Finding{
			{Rule: "GL101", Severity: Warning, Message: "pin it", File: "dir/Dockerfile", Line: 3, Column: 1},
			{Rule: "GX1", Severity: Info, Message: "big", Image: "reg/app:v1", Layer: "sha256:ab", Bytes: 12345},
		},
	}
}

func TestWriteTTY(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, TTY, sample(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "dir/Dockerfile:3:1 warning GL101 pin it\nreg/app:v1@sha256:ab info GX1 big (12.1 KiB)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, JSON, Report{}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"findings": []`) {
		t.Errorf("empty report: %s", b.String())
	}
	b.Reset()
	if err := Write(&b, JSON, sample(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got struct{ Findings []Finding }
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) != 2 || got.Findings[0].Severity != Warning || got.Findings[1].Layer != "sha256:ab" {
		t.Errorf("round trip: %+v", got.Findings)
	}
}

// TestWriteSARIF checks the properties SARIF 2.1.0's schema requires of
// what gantry writes: $schema and version at the top, tool.driver.name, rule
// ids, results with ruleId, a valid level and message.text, and regions with
// 1-based lines.
func TestWriteSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, SARIF, sample(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, b.Bytes())
	sariftest.Validate(t, b.Bytes())
}
