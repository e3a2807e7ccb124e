package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/spf13/cobra"
)

// The output contract (docs/cli.md): a command that prints a report takes
// --format tty|json (and sarif where it reports findings), and --json as
// short for --format json. The report goes to stdout, in one piece; with
// json, stdout holds one JSON document and nothing else, and the progress
// and summary lines that tty prints on stderr are left out.

// outputFormat is the value of --format, which --json sets too. Its Set
// refuses a format the command does not write, so a wrong value is a
// usage error (exit 2) from flag parsing, the environment or the config
// file alike, before the command runs.
type outputFormat struct {
	f       report.Format
	allowed []report.Format
}

// addFormatFlags registers --format and --json on cmd: tty (the default)
// and json, plus the extra formats given (report.SARIF for the commands
// that report findings).
func addFormatFlags(cmd *cobra.Command, extra ...report.Format) *outputFormat {
	o := &outputFormat{f: report.TTY, allowed: append([]report.Format{report.TTY, report.JSON}, extra...)}
	fl := cmd.Flags()
	fl.Var(o, "format", "output format: "+o.choices()+" (json: one JSON document on stdout, no progress on stderr)")
	j := fl.VarPF(jsonFlag{o}, "json", "", "short for --format json")
	j.NoOptDefVal = "true"
	return o
}

// format returns the format chosen; a nil outputFormat is tty.
func (o *outputFormat) format() report.Format {
	if o == nil {
		return report.TTY
	}
	return o.f
}

// json reports whether the output is JSON.
func (o *outputFormat) json() bool { return o.format() == report.JSON }

// choices lists the formats: "tty or json", "tty, json or sarif".
func (o *outputFormat) choices() string {
	s := make([]string, len(o.allowed))
	for i, f := range o.allowed {
		s[i] = string(f)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// String implements pflag.Value.
func (o *outputFormat) String() string { return string(o.f) }

// Type implements pflag.Value.
func (o *outputFormat) Type() string { return "format" }

// Set implements pflag.Value.
func (o *outputFormat) Set(s string) error {
	f, err := report.ParseFormat(s)
	if err != nil || !slices.Contains(o.allowed, f) {
		return fmt.Errorf("want %s", o.choices())
	}
	o.f = f
	return nil
}

// jsonFlag is --json: true selects json, false (--json=false) tty.
type jsonFlag struct{ o *outputFormat }

func (j jsonFlag) String() string   { return strconv.FormatBool(j.o != nil && j.o.f == report.JSON) }
func (j jsonFlag) Type() string     { return "bool" }
func (j jsonFlag) IsBoolFlag() bool { return true }
func (j jsonFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	switch {
	case b:
		j.o.f = report.JSON
	case j.o.f == report.JSON:
		j.o.f = report.TTY
	}
	return nil
}

// writeJSON prints v as indented JSON: the json format of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
