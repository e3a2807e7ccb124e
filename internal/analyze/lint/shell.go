package lint

import (
	"path"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"mvdan.cc/sh/v3/syntax"
)

// script is the shell program of a RUN, or of a shell-form CMD or
// ENTRYPOINT, parsed with mvdan.cc/sh so rules see commands, pipes and
// lists rather than text.
type script struct {
	exec   bool     // exec form (JSON array)
	argv   []string // exec form arguments
	text   string   // shell text, "" if none could be found
	parsed bool     // text is a shell program that parsed

	// What rules need from the syntax tree, taken while it is at hand:
	// the tree itself is dropped, as it costs some 40 times the bytes of
	// the text it parses.
	calls  []*call
	pipes  []pipe
	top    [][]string // top-level commands (see topCalls)
	procs  []proc     // what a CMD or ENTRYPOINT starts
	mounts []*instructions.Mount
	cache  bool // a --mount=type=cache: caches live in the mount, not the layer

	lineOffset int // lines between the instruction and the script's first line (1 for a heredoc)
}

// call is one simple command with its words rendered: literal text, quotes
// removed, Dockerfile ARG and ENV values substituted; anything else
// (command substitution, unknown variables) kept as "$NAME" or "$(...)".
type call struct {
	args   []string
	line   int // line within the script, from 1
	nested bool
	// stdin is the file the command reads on its standard input, when the
	// script names it: "< FILE", or "cat FILE |" (or grep -v) piped in.
	stdin string
	// listed is the file of the build context whose words xargs added to
	// args (see feedXargs), "" if none.
	listed string
}

// feeds records the files the script's commands read on their standard
// input (call.stdin), as the syntax tree is walked: a statement and a pipe
// come before the command they hold.
type feeds map[*syntax.CallExpr]string

// note looks at n for a redirection or pipe that feeds xargs a file, and
// records it in *f, made on first use.
func (f *feeds) note(n syntax.Node, vs *expansion) {
	switch n := n.(type) {
	case *syntax.Stmt:
		ce, ok := n.Cmd.(*syntax.CallExpr)
		if !ok || len(n.Redirs) == 0 || !runsXargs(ce) {
			return
		}
		for _, r := range n.Redirs {
			if r.Op == syntax.RdrIn && r.Word != nil && r.N == nil {
				f.set(ce, render(r.Word, vs))
			}
		}
	case *syntax.BinaryCmd:
		if n.Op != syntax.Pipe || n.X == nil || n.Y == nil {
			return
		}
		left, ok := n.X.Cmd.(*syntax.CallExpr)
		right, ok2 := n.Y.Cmd.(*syntax.CallExpr)
		if !ok || !ok2 || len(n.X.Redirs) > 0 || !runsXargs(right) {
			return
		}
		a := make([]string, 0, len(left.Args))
		for _, w := range left.Args {
			a = append(a, render(w, vs))
		}
		if file := catFile(a); file != "" {
			f.set(right, file)
		}
	}
}

func (f *feeds) set(ce *syntax.CallExpr, file string) {
	if *f == nil {
		*f = feeds{}
	}
	(*f)[ce] = file
}

// runsXargs reports whether a command is xargs (or sudo xargs), by its
// literal first words.
func runsXargs(ce *syntax.CallExpr) bool {
	for i, w := range ce.Args {
		if i > 1 || len(w.Parts) != 1 {
			return false
		}
		lit, ok := w.Parts[0].(*syntax.Lit)
		if !ok {
			return false
		}
		switch path.Base(lit.Value) {
		case "xargs":
			return true
		case "sudo":
			continue
		}
		return false
	}
	return false
}

// catFile returns the one file a command prints, cat FILE or grep -v
// PATTERN FILE (comment lines dropped), or "".
func catFile(a []string) string {
	if len(a) < 2 {
		return ""
	}
	var files []string
	switch path.Base(a[0]) {
	case "cat":
		for _, x := range a[1:] {
			if !strings.HasPrefix(x, "-") {
				files = append(files, x)
			}
		}
	case "grep", "egrep":
		if !hasFlag(a[1:], 'v', "invert-match") {
			return ""
		}
		pattern := false
		for i := 1; i < len(a); i++ {
			x := a[i]
			switch {
			case x == "-e" || x == "-f":
				i++
				pattern = true
			case strings.HasPrefix(x, "-"):
			case !pattern:
				pattern = true
			default:
				files = append(files, x)
			}
		}
	}
	if len(files) != 1 || files[0] == "-" {
		return ""
	}
	return files[0]
}

// pipe is one | or |& of a script: the commands on each side.
type pipe struct{ left, right [][]string }

// maxShellTokens bounds the operators and brackets of a shell program
// gantry parses. mvdan.cc/sh parses an "a && b && c" chain into a tree as
// deep as the chain and nested brackets by recursion, and every walk of
// the tree recurses as deep: a 400,000-link chain overflowed the stack.
// Real programs have a few hundred.
const maxShellTokens = 10000

// shellTokens counts, in one pass over the text, everything that can add
// a level to the syntax tree: the list and pipe operators (each & and |
// byte), the openers of subshells, groups, tests and substitutions, and
// the keywords that open compound commands. Quotes are not understood, so
// this is an upper bound of the depth, cheap to take before parsing.
func shellTokens(text string) int {
	n := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '&', '|', '(', '{', '[', '`':
			n++
		case 'i', 'w', 'u', 'f', 'c', 's':
			if i > 0 && !strings.ContainsRune(" \t\n;&|(){}`", rune(text[i-1])) {
				continue
			}
			for _, kw := range compoundKeywords {
				if strings.HasPrefix(text[i:], kw) && (i+len(kw) == len(text) || strings.ContainsRune(" \t\n;", rune(text[i+len(kw)]))) {
					n++
					break
				}
			}
		}
	}
	return n
}

var compoundKeywords = []string{"if", "while", "until", "for", "case", "select"}

// name returns the command's base name after wrappers that run another
// command (sudo, env, exec, nohup, time, command).
func (c *call) name() string {
	a := c.argv()
	if len(a) == 0 {
		return ""
	}
	return path.Base(a[0])
}

// argv returns the arguments from the command name on, wrappers skipped.
func (c *call) argv() []string {
	a := c.args
	for len(a) > 0 {
		switch path.Base(a[0]) {
		case "sudo":
			a = a[1:]
			for len(a) > 0 && strings.HasPrefix(a[0], "-") {
				if a[0] == "-u" || a[0] == "-g" {
					a = a[1:]
				}
				if len(a) > 0 {
					a = a[1:]
				}
			}
		case "env":
			a = a[1:]
			for len(a) > 0 && (strings.Contains(a[0], "=") || strings.HasPrefix(a[0], "-")) {
				a = a[1:]
			}
		case "exec", "nohup", "time", "command":
			a = a[1:]
		default:
			return a
		}
	}
	return a
}

// wrapped reports whether the command runs under sudo.
func (c *call) sudo() bool {
	return len(c.args) > 0 && path.Base(c.args[0]) == "sudo"
}

var shellNames = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true, "ksh": true}

var heredocStart = regexp.MustCompile(`^\s*((/usr)?(/bin/)?(ba|a|da|z)?sh\s+(-[a-z]+\s+)*)?<<-?['"]?[A-Za-z_]`)

// program is the shell program of a RUN, CMD or ENTRYPOINT, found and
// parsed as soon as the instruction is read, by the goroutine that parsed
// its piece of the Dockerfile (see eachNode): the text depends on the
// instruction alone.
type program struct {
	exec       bool     // exec form (JSON array)
	argv       []string // exec form arguments
	text       string   // shell text, "" if none could be found
	lineOffset int      // lines between the instruction and the text's first line
	tokens     int      // shellTokens(text); over maxShellTokens, text is not parsed
	file       *syntax.File
}

// prepareProgram finds the shell program of a RUN, CMD or ENTRYPOINT
// command into p and parses it with sh; it reports false for other
// commands.
func prepareProgram(p *program, cmd any, sh *syntax.Parser) bool {
	var cl *instructions.ShellDependantCmdLine
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		cl = &c.ShellDependantCmdLine
	case *instructions.CmdCommand:
		cl = &c.ShellDependantCmdLine
	case *instructions.EntrypointCommand:
		cl = &c.ShellDependantCmdLine
	default:
		return false
	}
	*p = program{}
	if !cl.PrependShell {
		p.exec = true
		p.argv = cl.CmdLine
		// ["sh", "-c", "script"] is a shell program too.
		if len(p.argv) >= 3 && shellNames[path.Base(p.argv[0])] && strings.HasPrefix(p.argv[1], "-") && strings.Contains(p.argv[1], "c") {
			p.text = p.argv[2]
		}
	} else {
		p.text = strings.Join(cl.CmdLine, " ")
		if len(cl.Files) > 0 && heredocStart.MatchString(p.text) {
			p.text = cl.Files[0].Data
			p.lineOffset = 1
		} else if len(cl.Files) > 0 {
			p.text = "" // a heredoc fed to another interpreter: not shell
		}
	}
	if p.text == "" {
		return true
	}
	if p.tokens = shellTokens(p.text); p.tokens > maxShellTokens {
		return true
	}
	if f, err := sh.Parse(strings.NewReader(p.text), ""); err == nil {
		p.file = f
	}
	return true
}

// parseScript makes the script of a RUN, CMD or ENTRYPOINT from its
// program, prog (see prepareProgram), and runs the shell rules on it.
func parseScript(d *dockerfile, in *instr, prog *program) *script {
	s := &script{}
	switch c := in.cmd.(type) {
	case *instructions.RunCommand:
		if len(in.node.Flags) == 0 {
			break // no mount state (see parseInstruction)
		}
		s.mounts = instructions.GetMounts(c)
		for _, m := range s.mounts {
			if m.Type == instructions.MountTypeCache {
				s.cache = true
			}
		}
	case *instructions.CmdCommand, *instructions.EntrypointCommand:
	default:
		return nil
	}
	if prog == nil {
		return s
	}
	s.exec, s.argv, s.text, s.lineOffset = prog.exec, prog.argv, prog.text, prog.lineOffset
	if s.text == "" {
		return s
	}
	if n := prog.tokens; n > maxShellTokens {
		d.add("GL907", in, "split this %s: its shell program has %d operators and brackets, more than the %d gantry analyzes, so its shell rules were not checked", strings.ToUpper(in.kind), n, maxShellTokens)
		return s
	}
	f := prog.file
	if f == nil {
		return s
	}
	s.parsed = true
	var depth int
	vals := d.values(in) // render starts its bound afresh for every word
	var fed feeds        // made for the first file fed to xargs
	var walk func(syntax.Node) bool
	walk = func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				c := &call{line: int(n.Pos().Line()), nested: depth > 0, args: make([]string, 0, len(n.Args)), stdin: fed[n]}
				for _, w := range n.Args {
					c.args = appendFields(c.args, w, vals)
				}
				s.calls = append(s.calls, c)
			}
		case *syntax.Stmt:
			fed.note(n, vals)
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				s.pipes = append(s.pipes, pipe{callsIn(n.X), callsIn(n.Y)})
				fed.note(n, vals)
			}
		case *syntax.CmdSubst, *syntax.ProcSubst:
			depth++
			syntax.Walk(n, func(m syntax.Node) bool {
				if m == n {
					return true
				}
				return walk(m)
			})
			depth--
			return false
		}
		return true
	}
	switch in.kind {
	case "run":
		rules, stmts := shellRules(d, in, s)
		walkAll(f, append(rules, walk)...)
		s.top = topCalls(f.Stmts)
		stmts(f.Stmts)
	case "cmd", "entrypoint":
		syntax.Walk(f, walk)
		s.procs = stmtProcs(f.Stmts, false, 0)
	}
	return s
}

// render turns a word into the text the shell would see, as far as it can
// be known without running anything. vs gives the values of Dockerfile
// variables; nil substitutes none.
func render(w *syntax.Word, vs *expansion) string {
	if vs != nil {
		vs.got = 0 // the bound is per word
	}
	if len(w.Parts) == 1 {
		// Most words are one literal: no copy.
		switch p := w.Parts[0].(type) {
		case *syntax.Lit:
			return p.Value
		case *syntax.SglQuoted:
			return p.Value
		}
	}
	var b strings.Builder
	renderParts(&b, w.Parts, vs)
	return b.String()
}

// appendFields appends to args the arguments the shell makes of a word of
// a command line: the value of a variable expanded outside quotes is split
// at blanks (the default IFS), so after ENV DEPS="gcc make", install $DEPS
// has two package arguments, and an empty one disappears. Quoted text and
// unknown values stay whole.
func appendFields(args []string, w *syntax.Word, vs *expansion) []string {
	split := false
	for _, p := range w.Parts {
		if pe, ok := p.(*syntax.ParamExp); ok && pe.Param != nil {
			split = true
			break
		}
	}
	if !split {
		return append(args, render(w, vs))
	}
	if vs != nil {
		vs.got = 0 // the bound is per word
	}
	var b strings.Builder
	open := false // b holds a field, maybe empty ("" is an argument)
	flush := func() {
		if open {
			args = append(args, b.String())
			b.Reset()
			open = false
		}
	}
	for _, p := range w.Parts {
		if _, ok := p.(*syntax.ParamExp); !ok {
			renderParts(&b, []syntax.WordPart{p}, vs)
			open = true
			continue
		}
		var v strings.Builder
		renderParts(&v, []syntax.WordPart{p}, vs)
		val := v.String()
		if val != "" && isBlank(val[0]) {
			flush()
		}
		fs := strings.FieldsFunc(val, func(r rune) bool { return r < 0x80 && isBlank(byte(r)) })
		for i, f := range fs {
			if i > 0 {
				flush()
			}
			b.WriteString(f)
			open = true
		}
		if val != "" && isBlank(val[len(val)-1]) {
			flush()
		}
	}
	flush()
	return args
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

func renderParts(b *strings.Builder, parts []syntax.WordPart, vs *expansion) {
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			renderParts(b, p.Parts, vs)
		case *syntax.ParamExp:
			if p.Param != nil {
				if v, ok := vs.get(p.Param.Value); ok && p.Exp == nil && p.Repl == nil && p.Index == nil && !p.Length && !p.Excl {
					b.WriteString(v)
				} else {
					b.WriteString("$" + p.Param.Value)
				}
			}
		default:
			b.WriteString("$(...)")
		}
	}
}

// unquotedVar returns the name of a variable expanded outside quotes in w,
// or "".
func unquotedVar(w *syntax.Word) string {
	for _, p := range w.Parts {
		if pe, ok := p.(*syntax.ParamExp); ok && pe.Param != nil {
			return pe.Param.Value
		}
	}
	return ""
}

// callsIn returns the calls of a statement (and everything nested in it).
func callsIn(n syntax.Node) [][]string {
	var out [][]string
	syntax.Walk(n, func(m syntax.Node) bool {
		if c, ok := m.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			var args []string
			for _, w := range c.Args {
				args = append(args, render(w, nil))
			}
			out = append(out, (&call{args: args}).argv())
		}
		return true
	})
	return out
}

// flags returns the short and long options of args: "-qy" gives q and y.
func hasFlag(args []string, short byte, long ...string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[2:], "=")
			for _, l := range long {
				if name == l {
					return true
				}
			}
			continue
		}
		if short != 0 && len(a) > 1 && a[0] == '-' && strings.IndexByte(a[1:], short) >= 0 && !strings.ContainsAny(a[1:], "=/") {
			return true
		}
	}
	return false
}
