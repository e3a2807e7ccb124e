package lint

import (
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"mvdan.cc/sh/v3/syntax"
)

// pathCommands take paths as arguments: an unquoted variable there splits
// on spaces and expands globs.
var pathCommands = map[string]bool{"rm": true, "cp": true, "mv": true, "chown": true, "chmod": true, "mkdir": true, "ln": true, "cd": true, "tar": true, "touch": true, "rmdir": true, "install": true}

// shellRules returns the small shell pass over a RUN program: visitors of
// its syntax tree, walked with the walk that reads the tree for the model
// (see parseScript), and stmts, run once that walk is done, with the
// tree's top-level statements.
func shellRules(d *dockerfile, in *instr, s *script) (visitors []func(syntax.Node) bool, stmts func([]*syntax.Stmt)) {
	line := func(n syntax.Node) int { return in.line + s.lineOffset + int(n.Pos().Line()) - 1 }
	// GL701: unquoted variables in path arguments, unless Docker
	// knows the value (ARG/ENV) and it has no spaces.
	unquoted := func(n syntax.Node) bool {
		c, ok := n.(*syntax.CallExpr)
		if !ok || len(c.Args) < 2 || !pathCommands[path.Base(c.Args[0].Lit())] {
			return true
		}
		for _, w := range c.Args[1:] {
			v := unquotedVar(w)
			if v == "" {
				continue
			}
			if val, known := in.vars.Get(v); known && !strings.ContainsAny(val, " \t*?[") {
				continue
			}
			d.add("GL701", in, "quote \"$%s\" in %s: unquoted, it splits on spaces and expands globs", v, c.Args[0].Lit())
			return false
		}
		return true
	}
	// GL704 and GL705.
	lists := func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			if n.Background {
				d.addAt("GL704", in, line(n), 1, "do not start background processes in RUN: they are killed when the step ends")
				return false
			}
		case *syntax.BinaryCmd:
			if n.Op == syntax.OrStmt {
				if x, ok := n.X.Cmd.(*syntax.BinaryCmd); ok && x.Op == syntax.AndStmt && !benignFallback(n.Y) {
					d.addAt("GL705", in, line(n), 1, "use if-then-else: in A && B || C, C also runs when B fails")
					return false
				}
			}
		}
		return true
	}
	// GL702 and GL703, which need the script's calls (set -e).
	stmts = func(stmts []*syntax.Stmt) {
		errexit := setsOption(s, "errexit") || hasFlag(shellFlags(in.shell), 'e', "errexit")
		for i, st := range stmts {
			last := i == len(stmts)-1
			if c, ok := st.Cmd.(*syntax.CallExpr); ok && len(c.Args) > 0 && c.Args[0].Lit() == "cd" && !last && !errexit {
				d.addAt("GL702", in, line(st), 1, "write `cd %s && ...` (or `|| exit 1`): if cd fails the rest runs in the wrong directory", render(c.Args[len(c.Args)-1], d.values(in)))
			}
			if !last && !errexit && !st.Background && !isSet(st) {
				d.addAt("GL703", in, line(st), 1, "join the commands of this RUN with && (or start it with set -e): only the last failure fails the build")
				break
			}
		}
	}
	return []func(syntax.Node) bool{unquoted, lists}, stmts
}

// walkAll walks the tree under n once for several visitors, each as
// syntax.Walk would call it alone: a visitor that returns false for a node
// is not called for the nodes under it, while the others go on. One walk
// of a RUN's tree instead of three: walking costs as much as parsing.
func walkAll(n syntax.Node, visitors ...func(syntax.Node) bool) {
	off := make([]int, len(visitors)) // depth+1 of the node a visitor refused, 0 if on
	depth := 0                        // nodes whose children are being walked
	syntax.Walk(n, func(m syntax.Node) bool {
		if m == nil { // the children of the node at depth-1 are done
			depth--
			for i := range off {
				if off[i] == depth+1 {
					off[i] = 0
				}
			}
			return true
		}
		descend := false
		for i, v := range visitors {
			if off[i] != 0 {
				continue
			}
			if v(m) {
				descend = true
			} else {
				off[i] = depth + 1
			}
		}
		if descend {
			depth++
			return true
		}
		for i := range off {
			if off[i] == depth+1 {
				off[i] = 0
			}
		}
		return false
	})
}

func shellFlags(sh []string) []string {
	if len(sh) < 2 {
		return nil
	}
	return sh[1:]
}

func isSet(st *syntax.Stmt) bool {
	c, ok := st.Cmd.(*syntax.CallExpr)
	return ok && len(c.Args) > 0 && c.Args[0].Lit() == "set"
}

// benignFallback is the right side of || that only reports or ends: exit,
// true, false, echo, :, return.
func benignFallback(st *syntax.Stmt) bool {
	c, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(c.Args) == 0 {
		return false
	}
	switch c.Args[0].Lit() {
	case "exit", "true", "false", "echo", ":", "return", "printf":
		return true
	}
	return false
}

// checkStructure finds what BuildKit rejects at build time in the file as
// a whole.
func checkStructure(d *dockerfile, _ *Options) {
	if len(d.stages) == 0 {
		if d.first != nil {
			d.add("GL906", d.first, "add a FROM instruction: a Dockerfile needs at least one stage")
		} else {
			d.findings.add(finding{id: "GL906", line: 1, col: 1, msg: "add a FROM instruction: the Dockerfile is empty"})
		}
	}
}

// structureRules finds what BuildKit rejects at build time in one
// instruction.
func structureRules(d *dockerfile, in *instr) {
	switch c := in.cmd.(type) {
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			p = d.expand(in, p, in.vars)
			if unresolved(p) {
				continue
			}
			if !validPort(p) {
				d.add("GL903", in, "fix EXPOSE %s: ports are 1-65535, optionally a range and /tcp, /udp or /sctp", p)
			}
		}
	case *instructions.CopyCommand:
		checkMultiSource(d, in, c.SourcesAndDest)
	case *instructions.AddCommand:
		checkMultiSource(d, in, c.SourcesAndDest)
	}
}

func checkMultiSource(d *dockerfile, in *instr, sd instructions.SourcesAndDest) {
	if len(sd.SourcePaths)+len(sd.SourceContents) > 1 && !strings.HasSuffix(sd.DestPath, "/") && sd.DestPath != "." && !unresolved(sd.DestPath) {
		d.add("GL905", in, "end the destination with / (%s/): several sources are copied into a directory", sd.DestPath)
	}
}

func validPort(p string) bool {
	p, proto, ok := strings.Cut(p, "/")
	if ok && proto != "tcp" && proto != "udp" && proto != "sctp" {
		return false
	}
	lo, hi, isRange := strings.Cut(p, "-")
	check := func(s string) bool {
		n, err := strconv.Atoi(s)
		return err == nil && n >= 1 && n <= 65535
	}
	if isRange {
		return check(lo) && check(hi)
	}
	return check(lo)
}
