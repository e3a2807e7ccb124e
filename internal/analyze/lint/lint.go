package lint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"iter"
	"math"
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
	// Context is the build context directory. When set, the process rules
	// read the scripts the image COPYs from it and runs as its ENTRYPOINT
	// or CMD, following exec chains; "" reads no file.
	Context string
}

// Lint checks one Dockerfile. name is used in findings. A Dockerfile that
// cannot be parsed returns a *ParseError and no findings; problems BuildKit
// would only reject when building (an invalid instruction, a duplicate stage
// name) are findings.
func Lint(name string, src []byte, opts Options) ([]report.Finding, error) {
	fs, _, err := run(name, src, opts, false)
	return fs, err
}

// Analyze is Lint and Shipped from one reading of the Dockerfile.
func Analyze(name string, src []byte, opts Options) ([]report.Finding, []Instruction, error) {
	return run(name, src, opts, true)
}

func run(name string, src []byte, opts Options, shipped bool) ([]report.Finding, []Instruction, error) {
	d, err := build(name, src, opts.Config.BuildArgs, &opts, shipped)
	if err != nil {
		return nil, nil, err
	}
	for _, check := range checks {
		check(d, &opts)
	}
	var ins []Instruction
	if shipped {
		ins = d.shippedRecords()
	}
	return d.finish(&opts), ins, nil
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

// finding is a finding before ignores and severity overrides apply. It
// names its instruction by line and stage, which is what ignores need, so
// that a finding does not keep its instruction alive.
type finding struct {
	id        string
	at        int    // the line of the instruction, 0 for none
	st        *stage // the stage of the instruction
	line, col int
	msg       string
}

func (d *dockerfile) add(id string, in *instr, format string, args ...any) {
	d.addAt(id, in, in.line, 1, format, args...)
}

func (d *dockerfile) addAt(id string, in *instr, line, col int, format string, args ...any) {
	f := finding{id: id, line: line, col: col, msg: fmt.Sprintf(format, args...)}
	if in != nil {
		f.at, f.st = in.line, in.stage
	}
	if d.sink != nil {
		*d.sink = append(*d.sink, f)
		return
	}
	d.findings.add(f)
}

// findingList holds a Dockerfile's findings in blocks of a fixed size: a
// 15 MB Dockerfile has over 100,000, and a slice grown by doubling would
// copy them at each step and leave up to half its array unused.
type findingList struct {
	blocks [][]finding
	n      int
}

const findingBlock = 4096

func (l *findingList) add(f finding) {
	if l.n%findingBlock == 0 {
		l.blocks = append(l.blocks, make([]finding, 0, min(findingBlock, max(l.n, 16))))
	}
	b := &l.blocks[len(l.blocks)-1]
	*b = append(*b, f)
	l.n++
}

// all returns the findings in the order they were added.
func (l *findingList) all() iter.Seq[finding] {
	return func(yield func(finding) bool) {
		for _, b := range l.blocks {
			for _, f := range b {
				if !yield(f) {
					return
				}
			}
		}
	}
}

var pragma = regexp.MustCompile(`^\s*#\s*(gantry|hadolint)\s+(global\s+|stage\s+)?ignore\s*=\s*([A-Za-z0-9,\s]+)$`)

// ignores holds the rule IDs inline pragmas switch off.
type ignores struct {
	global map[string]bool
	stage  map[*stage]map[string]bool
	line   map[int]map[string]bool // by the line of the instruction they precede
}

// pragmas reads the ignore comments before in (nil: after the last
// instruction). A comment applies to the next instruction when only
// comments and blank lines separate them; "global" applies to the file,
// "stage" to the stage of the next instruction. The lines of instructions
// (heredocs included) are not read.
func (d *dockerfile) pragmas(in *instr) {
	stop := math.MaxInt
	if in != nil {
		stop = in.line
	}
	ig := &d.ig
	for d.pragmaLine < stop && d.pragmaAt < len(d.src) {
		text := d.src[d.pragmaAt:]
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			text = text[:i+1]
		}
		d.pragmaAt += len(text)
		d.pragmaLine++
		if !bytes.Contains(text, []byte("ignore")) {
			continue
		}
		m := pragma.FindStringSubmatch(strings.TrimSuffix(string(text), "\n"))
		if m == nil {
			continue
		}
		var ids []string
		for _, id := range strings.Split(m[3], ",") {
			ids = append(ids, expandID(strings.TrimSpace(id))...)
		}
		switch strings.TrimSpace(m[2]) {
		case "global":
			for _, id := range ids {
				ig.global[id] = true
			}
		case "stage":
			if in == nil || in.stage == nil {
				continue
			}
			if ig.stage[in.stage] == nil {
				ig.stage[in.stage] = map[string]bool{}
			}
			for _, id := range ids {
				ig.stage[in.stage][id] = true
			}
		default:
			if in == nil {
				continue // lines outside instructions are comments or blank, so none sits between
			}
			if ig.line[in.line] == nil {
				ig.line[in.line] = map[string]bool{}
			}
			for _, id := range ids {
				ig.line[in.line][id] = true
			}
		}
	}
	if in != nil {
		// Skip the instruction's own lines.
		for d.pragmaLine <= in.end && d.pragmaAt < len(d.src) {
			i := bytes.IndexByte(d.src[d.pragmaAt:], '\n')
			if i < 0 {
				d.pragmaAt = len(d.src)
				break
			}
			d.pragmaAt += i + 1
			d.pragmaLine++
		}
	}
}

// onlyComments reports whether src has only comments and blank lines.
func onlyComments(src []byte) bool {
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
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
		ig = d.ig
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
	out := make([]report.Finding, 0, d.findings.n)
	// A finding reported twice (same rule, message and place) is listed
	// once. Findings are told apart by a hash of those, and the rare two
	// that share one by their text: a map of every finding's text was the
	// largest allocation after the model (some 7 MB for a 15 MB file).
	type key struct {
		id, msg   string
		line, col int
	}
	var mh maphash.Hash
	var place [16]byte
	seen := make(map[uint64]int32, d.findings.n)
	var clash map[key]bool
	for f := range d.findings.all() {
		if cfgIgnore[f.id] || ig.global[f.id] || (f.at != 0 && (ig.line[f.at][f.id] || ig.stage[f.st][f.id])) {
			continue
		}
		s := ruleIndex[f.id].sev
		if v, ok := sev[f.id]; ok {
			s = v
		}
		if s == report.None {
			continue
		}
		mh.Reset()
		mh.WriteString(f.id)
		mh.WriteString(f.msg)
		binary.LittleEndian.PutUint64(place[:8], uint64(f.line))
		binary.LittleEndian.PutUint64(place[8:], uint64(f.col))
		mh.Write(place[:])
		h := mh.Sum64()
		if i, ok := seen[h]; ok {
			if o := &out[i]; o.Rule == f.id && o.Message == f.msg && o.Line == f.line && o.Column == f.col {
				continue
			}
			k := key{f.id, f.msg, f.line, f.col}
			if clash[k] {
				continue
			}
			if clash == nil {
				clash = map[key]bool{}
			}
			clash[k] = true
		} else {
			seen[h] = int32(len(out))
		}
		out = append(out, report.Finding{Rule: f.id, Severity: s, Message: f.msg, File: d.name, Line: f.line, Column: f.col})
	}
	report.Sort(out)
	return out
}
