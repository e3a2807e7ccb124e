package lint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"go.yaml.in/yaml/v3"
)

// HelpBase is the documentation page rules link to; a rule's anchor is its
// lower-case ID.
const HelpBase = "https://github.com/gantry-dev/gantry/blob/main/docs/rules.md"

// Config is the policy a project keeps in .gantry.yaml.
type Config struct {
	// Ignore lists rule IDs (GL..., or hadolint's DL... mapped to gantry's)
	// never reported.
	Ignore []string `yaml:"ignore"`
	// Severity overrides rule severities: ID to error, warning, info,
	// style, or none to turn the rule off.
	Severity map[string]string `yaml:"severity"`
	// AllowedRegistries, when not empty, lists the registries (and
	// optionally repository prefixes: "ghcr.io/acme") images may come
	// from; "docker.io" is Docker Hub.
	AllowedRegistries []string `yaml:"allowed-registries"`
	// Digests is the digest policy for base images: "require" (GL103 is an
	// error), "prefer" (info, the default) or "ignore".
	Digests string `yaml:"digests"`
	// BuildArgs gives ARG values as `docker build --build-arg` would.
	BuildArgs map[string]string `yaml:"build-args"`
}

// LoadConfig reads a .gantry.yaml file. Unknown keys are errors, so a typo
// in a policy does not silently disable it.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("lint config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("lint config %s: %w", path, err)
	}
	return c, c.Validate()
}

// Validate checks rule IDs, severities and the digest policy.
func (c Config) Validate() error {
	var errs []error
	for id, s := range c.Severity {
		if _, err := report.ParseSeverity(s); err != nil {
			errs = append(errs, fmt.Errorf("severity of %s: %w", id, err))
		}
		if len(expandID(id)) == 0 {
			errs = append(errs, fmt.Errorf("severity: unknown rule %s", id))
		}
	}
	for _, id := range c.Ignore {
		if len(expandID(id)) == 0 {
			errs = append(errs, fmt.Errorf("ignore: unknown rule %s", id))
		}
	}
	switch c.Digests {
	case "", "require", "prefer", "ignore":
	default:
		errs = append(errs, fmt.Errorf("digests %q: want require, prefer or ignore", c.Digests))
	}
	return errors.Join(errs...)
}

// Options tune Lint. The zero value applies every rule at its default
// severity and honours inline ignore pragmas.
type Options struct {
	// Config is the project policy.
	Config Config
	// DisableIgnorePragma makes Lint ignore `# gantry ignore=` and
	// `# hadolint ignore=` comments, for policy enforced centrally.
	DisableIgnorePragma bool
}

// Lint checks one Dockerfile. name is used in findings. A Dockerfile that
// cannot be parsed returns a *ParseError and no findings; problems BuildKit
// would only reject when building (an invalid instruction, a duplicate stage
// name) are findings.
func Lint(name string, src []byte, opts Options) ([]report.Finding, error) {
	d, err := load(name, src, opts.Config.BuildArgs)
	if err != nil {
		return nil, err
	}
	for _, check := range checks {
		check(d, &opts)
	}
	return d.finish(&opts), nil
}

// Rules returns every rule gantry lint reports, ordered by ID.
func Rules() []report.Rule {
	out := make([]report.Rule, 0, len(ruleTable))
	for _, r := range ruleTable {
		out = append(out, report.Rule{
			ID: r.id, Name: r.name, Severity: r.sev, Summary: r.summary,
			HelpURI: HelpBase + "#" + strings.ToLower(r.id),
		})
	}
	return out
}

// finding is a finding before ignores and severity overrides apply.
type finding struct {
	id        string
	in        *instr
	line, col int
	msg       string
}

func (d *dockerfile) add(id string, in *instr, format string, args ...any) {
	d.addAt(id, in, in.line, 1, format, args...)
}

func (d *dockerfile) addAt(id string, in *instr, line, col int, format string, args ...any) {
	d.findings = append(d.findings, finding{id: id, in: in, line: line, col: col, msg: fmt.Sprintf(format, args...)})
}

var pragma = regexp.MustCompile(`^\s*#\s*(gantry|hadolint)\s+(global\s+|stage\s+)?ignore\s*=\s*([A-Za-z0-9,\s]+)$`)

// ignores holds the rule IDs inline pragmas switch off.
type ignores struct {
	global map[string]bool
	stage  map[*stage]map[string]bool
	line   map[int]map[string]bool // by the line of the instruction they precede
}

// pragmas reads ignore comments. A comment applies to the next instruction
// when only comments and blank lines separate them; "global" applies to the
// file, "stage" to the stage of the next instruction.
func (d *dockerfile) pragmas() ignores {
	ig := ignores{global: map[string]bool{}, stage: map[*stage]map[string]bool{}, line: map[int]map[string]bool{}}
	inside := make([]bool, len(d.lines)+2) // lines that belong to an instruction (heredocs included)
	next := make([]*instr, len(d.lines)+2) // the instruction starting at or after each line
	for _, in := range d.instrs {
		for l := in.node.StartLine; l <= in.node.EndLine && l < len(inside); l++ {
			inside[l] = true
		}
	}
	var after *instr
	k := len(d.instrs) - 1
	for l := len(d.lines); l >= 1; l-- {
		for k >= 0 && d.instrs[k].node.StartLine >= l {
			after = d.instrs[k]
			k--
		}
		next[l] = after
	}
	for i, text := range d.lines {
		l := i + 1
		if inside[l] {
			continue
		}
		m := pragma.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		var ids []string
		for _, id := range strings.Split(m[3], ",") {
			ids = append(ids, expandID(strings.TrimSpace(id))...)
		}
		target := next[l]
		switch strings.TrimSpace(m[2]) {
		case "global":
			for _, id := range ids {
				ig.global[id] = true
			}
		case "stage":
			if target == nil || target.stage == nil {
				continue
			}
			if ig.stage[target.stage] == nil {
				ig.stage[target.stage] = map[string]bool{}
			}
			for _, id := range ids {
				ig.stage[target.stage][id] = true
			}
		default:
			if target == nil {
				continue // lines outside instructions are comments or blank, so none sits between
			}
			if ig.line[target.line] == nil {
				ig.line[target.line] = map[string]bool{}
			}
			for _, id := range ids {
				ig.line[target.line][id] = true
			}
		}
	}
	return ig
}

func onlyComments(lines []string) bool {
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// expandID maps an ID to gantry rule IDs: itself if it is one, the
// equivalent rules for a hadolint DL rule, none if unknown.
func expandID(id string) []string {
	id = strings.ToUpper(id)
	if _, ok := ruleIndex[id]; ok {
		return []string{id}
	}
	return hadolintMap[id]
}

// finish applies ignores and severity overrides and returns the findings
// sorted.
func (d *dockerfile) finish(opts *Options) []report.Finding {
	var ig ignores
	if !opts.DisableIgnorePragma {
		ig = d.pragmas()
	}
	cfgIgnore := map[string]bool{}
	for _, id := range opts.Config.Ignore {
		for _, g := range expandID(id) {
			cfgIgnore[g] = true
		}
	}
	sev := map[string]report.Severity{}
	if opts.Config.Digests == "require" {
		sev["GL103"] = report.Error
	}
	for id, s := range opts.Config.Severity {
		v, err := report.ParseSeverity(s)
		if err != nil {
			continue
		}
		for _, g := range expandID(id) {
			sev[g] = v
		}
	}
	out := make([]report.Finding, 0, len(d.findings))
	seen := map[string]bool{}
	for _, f := range d.findings {
		if cfgIgnore[f.id] || ig.global[f.id] || (f.in != nil && (ig.line[f.in.line][f.id] || ig.stage[f.in.stage][f.id])) {
			continue
		}
		s := ruleIndex[f.id].sev
		if v, ok := sev[f.id]; ok {
			s = v
		}
		if s == report.None {
			continue
		}
		key := fmt.Sprint(f.id, f.line, f.col, f.msg)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, report.Finding{Rule: f.id, Severity: s, Message: f.msg, File: d.name, Line: f.line, Column: f.col})
	}
	report.Sort(out)
	return out
}
