package lint

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"mvdan.cc/sh/v3/syntax"
)

// dockerfile is one Dockerfile as gantry models it. The model is built one
// instruction at a time: each instruction is checked while it is at hand
// and then dropped, so memory stays in proportion to what the rules keep
// (findings, per-stage summaries, ARG and ENV values), not to the file.
type dockerfile struct {
	name   string
	src    []byte
	escape rune
	lex    *shell.Lex
	script *syntax.Parser // parses the scripts read from the build context, made on first use

	first  *instr // the first instruction, nil for none
	stages []*stage
	byName map[string]*stage // stage names, lower case
	refs   []*instr          // instructions with a COPY --from or mount from=, checked once every stage is known

	findings findingList
	// sink, when set, receives what add reports instead of findings: the
	// findings of a stage that only count if the stage ships.
	sink *[]finding

	ig         ignores // inline ignore pragmas, read between instructions
	pragmaLine int     // the next line to read for pragmas
	pragmaAt   int     // its byte offset in src

	shipped bool                // build the Instruction records of every stage (for Shipped)
	context string              // Options.Context: where COPY'd scripts are read
	lists   map[string][]string // the words of list files xargs reads, by file of the context (see feedXargs)
	placing int                 // words placeHeavy has looked at, at most maxPlacing

	// expanded counts the bytes of variable values handed out by
	// expansions, against maxExpanded; overTotal is set once it is spent.
	expanded  int
	overTotal bool
}

// stage is one build stage. Whether a stage ships decides which rules apply:
// a package cache left in a builder stage costs nothing in the image.
type stage struct {
	index int
	name  string // lower case, "" if unnamed
	from  *instr

	base       string // FROM's image reference with variables resolved
	baseStage  *stage // the stage FROM names, nil for an image
	platform   string
	fromDollar bool // FROM's text has a $

	n    int    // instructions after FROM
	last *instr // the last of them

	final      bool // the last stage: what `docker build` ships by default
	shipped    bool // the final stage or one it is built on (FROM chain)
	copiedFrom bool // some COPY --from or RUN --mount from= names the stage
	usedAsBase bool // another stage's FROM names it

	// The state after the stage's last instruction, which a stage built
	// FROM this one starts with.
	endEnv     vars // ENV only: what a stage built FROM this one inherits
	endWorkdir string
	endShell   []string

	// What the rules about the shipped image need from the stage, kept as
	// the stage is read since only the end of the file says which stages
	// ship.
	pending             []finding       // findings that count if the stage ships
	entry, cmd          *instr          // the last ENTRYPOINT, and the last CMD after it
	lastCmd, lastHealth *instr          // for GL608 and GL618
	lastUser            *instr          // the last USER
	supervisorConf      *instr          // the first COPY/ADD of a supervisord configuration
	health              bool            // a HEALTHCHECK
	curlAt, wgetAt      *instr          // the first RUN that calls curl, wget
	layerEvents         []layerEvent    // COPY/ADD destinations and recursive chown/chmod, in order
	adds                int             // COPY/ADD events kept, at most maxAdded
	records             []Instruction   // for Shipped
	heavyUnlessRuns     []heavyDeferred // GL301 findings checkHeavy keeps unless the image runs the component
	placed              []placed        // heavy components the stage's RUNs put inside other directories
}

// layerEvent is a COPY or ADD (dest set) or a RUN's recursive chown or
// chmod (tool and targets set), for GL501.
type layerEvent struct {
	in      *instr
	dest    string
	tool    string
	targets []string
}

// chain returns the stages s is built on, base first, ending with s.
func (s *stage) chain() []*stage {
	var out []*stage
	for p := s; p != nil; p = p.baseStage {
		out = append([]*stage{p}, out...)
		if len(out) > 64 { // FROM cycles cannot happen (a stage names only earlier ones), but bound anyway
			break
		}
	}
	return out
}

// instr is one instruction with the state in force when it runs.
type instr struct {
	node  *parser.Node // BuildKit's node, dropped once the instruction is checked
	end   int          // the last line (a heredoc's body is part of its instruction)
	kind  string       // lower-case instruction keyword
	cmd   any          // *instructions.Stage for FROM, else an instructions.Command; nil if invalid
	stage *stage       // nil before the first FROM
	line  int

	vars    vars     // ARG and ENV values visible to the instruction
	workdir string   // WORKDIR in force, "" if none set in the Dockerfile
	shell   []string // SHELL in force

	run *script // RUN, and shell-form CMD and ENTRYPOINT

	overValue bool // an expansion in the instruction hit maxValue (GL908 said so)
}

// expand resolves variables in word, a word of instruction in, the way
// BuildKit does for FROM, COPY, WORKDIR and ENV; unset variables stay as
// written so rules can tell a resolved value from an unknown one. Values
// are handed out within bounds (see expansion); a result over maxValue is
// dropped for the word as written.
func (d *dockerfile) expand(in *instr, word string, vs vars) string {
	if !strings.ContainsAny(word, "$'\"\\") {
		return word
	}
	x := &expansion{d: d, in: in, vs: vs, max: maxValue}
	if replaces.MatchString(word) {
		// ${V/a/b} and ${V//a/b} can multiply a value by the length of
		// what they put in: hand out that much less.
		x.max = maxValue / len(word)
	}
	out, _, err := d.lex.ProcessWord(word, x)
	if err != nil {
		return word
	}
	if len(out) > maxValue {
		d.overflow(in, "")
		return word
	}
	return out
}

// replaces matches a pattern substitution, ${NAME/...}.
var replaces = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*/`)

// ParseError is a Dockerfile BuildKit cannot parse at all.
type ParseError struct {
	// File is the name given to Lint.
	File string
	// Line and Column locate the error, from 1.
	Line, Column int
	// Err is BuildKit's error.
	Err error
}

// Error returns "file:line:col: message".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
}

// Unwrap returns BuildKit's error.
func (e *ParseError) Unwrap() error { return e.Err }

func location(err error) (line, col int) {
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, rs := range le.Locations {
			for _, r := range rs {
				return r.Start.Line, max(r.Start.Character+1, 1)
			}
		}
	}
	return 0, 0
}

// load parses src and builds the model: stages, resolved variables, WORKDIR
// and SHELL per instruction, stage roles. With opts set it runs the rules
// too (see check), and with shipped it keeps the Instruction records of
// every stage.
func load(name string, src []byte, buildArgs map[string]string) (*dockerfile, error) {
	return build(name, src, buildArgs, nil, false)
}

func build(name string, src []byte, buildArgs map[string]string, opts *Options, shipped bool) (*dockerfile, error) {
	d := &dockerfile{
		name:       name,
		src:        src,
		byName:     map[string]*stage{},
		shipped:    shipped,
		pragmaLine: 1,
		ig:         ignores{global: map[string]bool{}, stage: map[*stage]map[string]bool{}, line: map[int]map[string]bool{}},
	}
	if opts != nil {
		d.context = opts.Context
	}
	meta := newScope(vars{}) // ARGs before the first FROM
	var cur *stage
	var sc, envSc *scope // a stage's ARG and ENV values, and its ENV alone
	var workdir string
	var sh []string
	esc, err := eachNode(src, chunkSize, func(p *parsed, esc rune) error {
		n := p.node
		if d.lex == nil {
			d.lex = shell.NewLex(esc)
			d.lex.SkipUnsetEnv = true
		}
		in := &instr{node: n, end: n.EndLine, kind: strings.ToLower(n.Value), line: n.StartLine, stage: cur}
		if d.first == nil {
			d.first = in
		}
		cmd, perr := p.cmd, p.err
		if perr != nil {
			d.addAt("GL904", in, n.StartLine, 1, "fix the %s instruction: %s", strings.ToUpper(in.kind), cleanErr(perr))
		} else {
			in.cmd = cmd
		}
		if in.kind == "from" {
			if cur != nil {
				cur.lastCmd, cur.lastHealth = nil, nil // the stage has ended
				if !d.nameable(cur) {
					cur.drop()
				}
			}
			cur = &stage{index: len(d.stages), from: in, fromDollar: strings.Contains(n.Original, "$")}
			d.stages = append(d.stages, cur)
			in.stage = cur
			d.pragmas(in)
			if st, ok := in.cmd.(*instructions.Stage); ok {
				cur.name = st.Name
				cur.platform = st.Platform
				cur.base = d.expand(in, st.BaseName, meta.view())
				if b, ok := d.byName[strings.ToLower(cur.base)]; ok {
					cur.baseStage = b
					b.usedAsBase = true
				}
				if st.Name != "" {
					if prev, dup := d.byName[st.Name]; dup {
						d.add("GL902", in, "rename stage %q: line %d already defines it", st.Name, prev.from.line)
					} else {
						d.byName[st.Name] = cur
					}
				}
			}
			// A stage starts with its base stage's WORKDIR, SHELL and ENV
			// (an image base's are unknown). ARGs do not carry over: a
			// stage sees a global ARG only if it declares it again.
			workdir, sh = "", nil
			var inherited vars
			if b := cur.baseStage; b != nil {
				workdir, sh, inherited = b.endWorkdir, b.endShell, b.endEnv
			}
			sc, envSc = newScope(inherited), newScope(inherited)
			in.vars, in.workdir, in.shell = sc.view(), workdir, sh
			cur.endEnv, cur.endWorkdir, cur.endShell = envSc.view(), workdir, sh
			d.done(in, opts)
			return nil
		}
		d.pragmas(in)
		if cur == nil {
			in.vars = meta.view()
			if a, ok := in.cmd.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					meta.set(kv.Key, argValue(d, in, kv, buildArgs, meta.view()))
				}
			} else if in.cmd != nil || perr == nil {
				d.add("GL901", in, "move %s after the first FROM: only ARG may come before it", strings.ToUpper(in.kind))
			}
			d.done(in, opts)
			return nil
		}
		cur.n++
		cur.last = in
		in.vars, in.workdir, in.shell = sc.view(), workdir, sh
		// State changes apply to the instructions after this one: each
		// instruction keeps the view it saw.
		switch c := in.cmd.(type) {
		case *instructions.ArgCommand:
			for _, kv := range c.Args {
				if kv.Value == nil {
					if v, ok := buildArgs[kv.Key]; ok {
						sc.set(kv.Key, v)
					} else if v, ok := meta.view().Get(kv.Key); ok {
						sc.set(kv.Key, v)
					}
					continue
				}
				sc.set(kv.Key, argValue(d, in, kv, buildArgs, sc.view()))
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				v := d.expand(in, kv.Value, in.vars)
				sc.set(kv.Key, v)
				envSc.set(kv.Key, v)
			}
		case *instructions.WorkdirCommand:
			p := d.expand(in, c.Path, sc.view())
			if !strings.HasPrefix(p, "/") && workdir != "" {
				p = strings.TrimSuffix(workdir, "/") + "/" + p
			}
			workdir = p
		case *instructions.ShellCommand:
			sh = c.Shell
		case *instructions.RunCommand:
			// Mount options other than from= are only parsed once
			// variables can be expanded.
			v := in.vars
			if len(n.Flags) == 0 {
				break // no mounts (see parseInstruction)
			}
			if err := c.Expand(func(w string) (string, error) { return d.expand(in, w, v), nil }); err != nil {
				d.add("GL904", in, "fix the RUN --mount option: %s", cleanErr(err))
			}
		}
		cur.endEnv, cur.endWorkdir, cur.endShell = envSc.view(), workdir, sh
		switch in.kind {
		case "run", "cmd", "entrypoint":
			in.run = parseScript(d, in, p.program())
		}
		if c, ok := in.cmd.(*instructions.RunCommand); ok {
			// BuildKit's RunCommand keeps its flag parser and every flag's
			// state (some 700 bytes a RUN); rules need the command line,
			// and the mounts, which the script holds.
			in.cmd = &instructions.RunCommand{ShellDependantCmdLine: c.ShellDependantCmdLine, FlagsUsed: c.FlagsUsed}
		}
		d.done(in, opts)
		return nil
	})
	if err != nil && d.first == nil && onlyComments(src) {
		// An empty Dockerfile parses as a structure error (GL906), not
		// a syntax error.
		err = nil
	}
	if err != nil {
		line, col := location(err)
		return nil, &ParseError{File: name, Line: max(line, 1), Column: max(col, 1), Err: err}
	}
	d.escape = esc
	if d.lex == nil {
		d.lex = shell.NewLex(esc)
		d.lex.SkipUnsetEnv = true
	}
	d.pragmas(nil)
	if len(d.stages) > 0 {
		last := d.stages[len(d.stages)-1]
		last.final = true
		for _, s := range last.chain() {
			s.shipped = true
		}
	}
	d.markCopiedFrom()
	return d, nil
}

// parseInstruction is BuildKit's instructions.ParseInstruction, except for
// a RUN, CMD or ENTRYPOINT without flags: their command line is built from
// the node the way BuildKit builds it (BuildKit v0.34's
// parseShellDependentCommand), which cannot fail. BuildKit's parse of a
// RUN sets up every flag a RUN may take, with their state, whether it has
// flags or not: over half the time of instruction parsing in a large
// Dockerfile, and its garbage. The commands built here carry only their
// command line (gantry reads no String, Name or Location of a command),
// and such a RUN has no mount state (its mounts are none): it is not
// expanded, and instructions.GetMounts is not called on it.
// TestParseInstruction and FuzzParseInstruction compare the two parsers.
func parseInstruction(n *parser.Node) (any, error) {
	kind := strings.ToLower(n.Value)
	if len(n.Flags) > 0 || kind != "run" && kind != "cmd" && kind != "entrypoint" {
		return instructions.ParseInstruction(n)
	}
	var cl instructions.ShellDependantCmdLine
	args := nodeArgs(n)
	cl.PrependShell = !n.Attributes["json"]
	switch {
	case len(args) == 0 && kind == "entrypoint":
		// BuildKit keeps an ENTRYPOINT without arguments as nil.
	case len(args) == 0:
		cl.CmdLine = []string{}
	case cl.PrependShell:
		cl.CmdLine = []string{strings.Join(args, " ")}
	default:
		cl.CmdLine = args
	}
	for _, h := range n.Heredocs {
		cl.Files = append(cl.Files, instructions.ShellInlineFile{Name: h.Name, Data: h.Content, Chomp: h.Chomp})
	}
	switch kind {
	case "run":
		return &instructions.RunCommand{ShellDependantCmdLine: cl, FlagsUsed: []string{}}, nil
	case "cmd":
		return &instructions.CmdCommand{ShellDependantCmdLine: cl}, nil
	}
	return &instructions.EntrypointCommand{ShellDependantCmdLine: cl}, nil
}

// nodeArgs is the arguments of an instruction's node as BuildKit's
// instruction parser reads them.
func nodeArgs(n *parser.Node) []string {
	result := []string{}
	for ; n.Next != nil; n = n.Next {
		arg := n.Next
		switch len(arg.Children) {
		case 0:
			result = append(result, arg.Value)
		case 1:
			result = append(result, arg.Children[0].Value)
			result = append(result, nodeArgs(arg.Children[0])...)
		}
	}
	return result
}

func argValue(d *dockerfile, in *instr, kv instructions.KeyValuePairOptional, buildArgs map[string]string, vs vars) string {
	if v, ok := buildArgs[kv.Key]; ok {
		return v
	}
	if kv.Value == nil {
		return ""
	}
	return d.expand(in, *kv.Value, vs)
}

// stageRef returns the stage a COPY --from or mount from= value names (a
// stage name or index), or nil.
func (d *dockerfile) stageRef(ref string) *stage {
	if s, ok := d.byName[strings.ToLower(ref)]; ok {
		return s
	}
	var n int
	if _, err := fmt.Sscanf(ref, "%d", &n); err == nil && fmt.Sprint(n) == ref && n >= 0 && n < len(d.stages) {
		return d.stages[n]
	}
	return nil
}

func (d *dockerfile) markCopiedFrom() {
	for _, in := range d.refs {
		for _, ref := range in.fromRefs(d) {
			if s := d.stageRef(ref); s != nil {
				s.copiedFrom = true
			}
		}
	}
}

// done finishes with an instruction: it runs the instruction's rules (with
// opts set), keeps what the rules about stages and the shipped image need,
// and drops BuildKit's node and the script's commands, which no rule reads
// afterwards.
func (d *dockerfile) done(in *instr, opts *Options) {
	if opts != nil {
		instrRules(d, in)
		structureRules(d, in)
		if in.stage != nil && in.kind != "from" {
			stageRules(d, in.stage, in)
		}
	}
	if in.names() {
		d.refs = append(d.refs, in)
	}
	if d.shipped && in.stage != nil && in.cmd != nil {
		in.stage.records = append(in.stage.records, record(d, in))
	}
	in.node = nil
	if s := in.run; s != nil {
		s.calls, s.pipes, s.top, s.text = nil, nil, nil, ""
	}
}

// nameable reports whether a later FROM can name s: only a stage that
// holds its name (the first to take it) can be built on, so any other
// stage ships only if it is the last.
func (d *dockerfile) nameable(s *stage) bool {
	return s.name != "" && d.byName[s.name] == s
}

// drop forgets what s keeps for the rules about the shipped image, once
// it is known that s does not ship: neither last nor nameable.
func (s *stage) drop() {
	s.pending, s.layerEvents, s.records = nil, nil, nil
	s.entry, s.cmd, s.lastUser, s.curlAt, s.wgetAt = nil, nil, nil, nil, nil
	s.endEnv, s.endShell = vars{}, nil
}

// names reports whether the instruction has a COPY --from or a mount
// from=.
func (in *instr) names() bool {
	switch c := in.cmd.(type) {
	case *instructions.CopyCommand:
		return c.From != ""
	case *instructions.RunCommand:
		for _, m := range in.mounts() {
			if m.From != "" {
				return true
			}
		}
	}
	return false
}

// fromRefs returns the stage or image names an instruction reads from:
// COPY --from and RUN --mount from=, with variables resolved.
func (in *instr) fromRefs(d *dockerfile) []string {
	var out []string
	switch c := in.cmd.(type) {
	case *instructions.CopyCommand:
		if c.From != "" {
			out = append(out, d.expand(in, c.From, in.vars))
		}
	case *instructions.RunCommand:
		for _, m := range in.mounts() {
			if m.From != "" {
				out = append(out, d.expand(in, m.From, in.vars))
			}
		}
	}
	return out
}

// mounts returns a RUN's --mount options, nil before the first FROM (not
// analyzed further).
func (in *instr) mounts() []*instructions.Mount {
	if in.run == nil {
		return nil
	}
	return in.run.mounts
}

// cleanErr drops BuildKit's stack decorations from an error message.
func cleanErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
