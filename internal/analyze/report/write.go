package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format is an output format: tty, json or sarif.
type Format string

// Output formats.
const (
	TTY   Format = "tty"
	JSON  Format = "json"
	SARIF Format = "sarif"
)

// ParseFormat parses tty, json or sarif.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case TTY, JSON, SARIF:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want tty, json or sarif", s)
}

// Report is everything a writer needs: the findings and, for SARIF, the tool
// and the rules they refer to.
type Report struct {
	// Tool names the producer in SARIF output, e.g. "gantry".
	Tool string
	// Version is the tool version; empty leaves it out.
	Version string
	// InformationURI is the tool's home page; empty leaves it out.
	InformationURI string
	// Rules lists every rule the tool may report (SARIF tool.driver.rules).
	Rules []Rule
	// Findings are written in the order given; call Sort first for stable
	// output.
	Findings []Finding
}

// WriteOptions tune Write. The zero value writes plain text.
type WriteOptions struct {
	// Color adds ANSI colors to the tty format; set it when stdout is a
	// terminal.
	Color bool
}

// Write writes r in format f.
func Write(w io.Writer, f Format, r Report, opts WriteOptions) error {
	switch f {
	case TTY, "":
		return writeTTY(w, r, opts)
	case JSON:
		return writeJSON(w, r)
	case SARIF:
		return writeSARIF(w, r)
	}
	return fmt.Errorf("unknown format %q", f)
}

var ansi = map[Severity]string{
	Error:   "\x1b[31m",
	Warning: "\x1b[33m",
	Info:    "\x1b[36m",
	Style:   "\x1b[2m",
}

// writeTTY writes one line per finding: "location severity RULE message",
// the shape editors and grep understand.
func writeTTY(w io.Writer, r Report, opts WriteOptions) error {
	for _, f := range r.Findings {
		sev := f.Severity.String()
		if opts.Color {
			sev = ansi[f.Severity] + sev + "\x1b[0m"
		}
		msg := f.Message
		if f.Bytes > 0 {
			msg += fmt.Sprintf(" (%s)", Bytes(f.Bytes))
		}
		if _, err := fmt.Fprintf(w, "%s %s %s %s\n", f.Location(), sev, f.Rule, msg); err != nil {
			return err
		}
	}
	return nil
}

// jsonReport is the JSON format: an object, so fields can be added later
// without breaking readers of the findings array.
type jsonReport struct {
	Findings []Finding `json:"findings"`
}

func writeJSON(w io.Writer, r Report) error {
	fs := r.Findings
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Findings: fs})
}
