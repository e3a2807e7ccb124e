package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity ranks findings. The zero value, None, ranks below every finding:
// as a threshold it means "never fail".
type Severity int

// Severities, from the least to the most serious.
const (
	None Severity = iota
	Style
	Info
	Warning
	Error
)

var severityNames = [...]string{None: "none", Style: "style", Info: "info", Warning: "warning", Error: "error"}

// String returns the lower-case name used on the command line and in output.
func (s Severity) String() string {
	if s < None || s > Error {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses error, warning, info, style or none (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return None, fmt.Errorf("severity %q: want error, warning, info, style or none", s)
}

// MarshalText encodes s by name, so JSON and YAML carry "warning", not 3.
func (s Severity) MarshalText() ([]byte, error) {
	if s < None || s > Error {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one problem found in a Dockerfile or an image.
type Finding struct {
	// Rule is the stable rule ID, e.g. "GL101".
	Rule string `json:"rule"`
	// Severity is the rule's severity after configuration overrides.
	Severity Severity `json:"severity"`
	// Message says what is wrong and what to do, on one line.
	Message string `json:"message"`
	// File, Line and Column locate the finding in a file; Line and Column
	// count from 1, and 0 means unknown.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Image and Layer locate the finding in an image: a reference and the
	// digest of one of its layers.
	Image string `json:"image,omitempty"`
	Layer string `json:"layer,omitempty"`
	// Bytes is what the finding costs, when it can be priced (0 if not).
	Bytes int64 `json:"bytes,omitempty"`
}

// Location returns "file:line:col" or "image@layer", whichever is known.
func (f Finding) Location() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Line)
			if f.Column > 0 {
				fmt.Fprintf(&b, ":%d", f.Column)
			}
		}
	}
	if f.Image != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.Image)
		if f.Layer != "" {
			b.WriteString("@" + f.Layer)
		}
	}
	return b.String()
}

// Rule describes a rule for SARIF's tool.driver.rules and for help output.
type Rule struct {
	// ID is the stable identifier findings refer to.
	ID string
	// Name is a short CamelCase name, e.g. "BaseImageLatest".
	Name string
	// Severity is the default severity.
	Severity Severity
	// Summary is a one-line description.
	Summary string
	// HelpURI points at the rule's documentation.
	HelpURI string
}

// Sort orders findings by file, line, column, image, layer, then rule, so
// output is stable whatever order rules ran in.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Image, b.Image),
			cmp.Compare(a.Layer, b.Layer),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
}

// Fails reports whether any finding is at or above threshold. A threshold of
// None never fails.
func Fails(fs []Finding, threshold Severity) bool {
	if threshold == None {
		return false
	}
	for _, f := range fs {
		if f.Severity >= threshold {
			return true
		}
	}
	return false
}
