package lint

import (
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"mvdan.cc/sh/v3/syntax"
)

// maxScript bounds the bytes of an entrypoint script gantry reads from the
// build context; maxExecDepth the exec chain it follows from script to
// script.
const (
	maxScript    = 1 << 20
	maxExecDepth = 3
)

// binDirs are where a command named without a slash is found.
var binDirs = map[string]bool{"/usr/local/bin": true, "/usr/local/sbin": true, "/usr/bin": true, "/usr/sbin": true, "/bin": true, "/sbin": true}

// checkScripts follows the ENTRYPOINT/CMD of the shipped image into the
// scripts it copies from the build context (Options.Context): a script
// that starts a process manager (GL201), or starts processes in the
// background and then waits or tails (GL202), or starts several services
// (GL203), makes the container a small VM as much as a CMD that does so.
func checkScripts(d *dockerfile, opts *Options) {
	if opts.Context == "" || len(d.stages) == 0 {
		return
	}
	entry, cmd := effective(d)
	in := entry
	if in == nil {
		in = cmd
	}
	if in == nil {
		return
	}
	ps := instrProcs(in)
	if len(ps) == 0 || len(ps[0].args) == 0 {
		return
	}
	kw := strings.ToUpper(in.kind)
	prog := ps[0].args[0]
	seen := map[string]bool{}
	for depth := 0; depth < maxExecDepth && prog != ""; depth++ {
		file, shown := copiedScript(d, d.stages[len(d.stages)-1].chain(), opts.Context, prog, in.workdir)
		if file == "" || seen[file] {
			return
		}
		seen[file] = true
		procs, ok := scriptProcs(d, file)
		if !ok {
			return
		}
		bg, services, waits := 0, 0, false
		next := ""
		for _, p := range procs {
			if pm := isProcessManager(p.args); pm != "" {
				d.add("GL201", in, "%s runs %s, which starts %s: run the one service as the container's process", kw, shown, pm)
				return
			}
			switch {
			case p.bg:
				bg++
			case isKeepAlive(p) || waitsForChildren(p.args):
				waits = waits || bg > 0
			case isServiceStart(p.args):
				services++
			}
			if len(p.args) > 0 && !p.bg {
				next = p.args[0]
			}
		}
		switch {
		case bg > 0 && waits:
			d.add("GL202", in, "%s runs %s, which starts %d processes in the background and waits: run one process per container", kw, shown, bg)
			return
		case services > 1:
			d.add("GL203", in, "%s runs %s, which starts %d services: one container per service", kw, shown, services)
			return
		}
		prog = next // follow exec chains into the next copied script
	}
}

// waitsForChildren reports a command that keeps a script alive for its
// background children: wait, or tail -f of logs.
func waitsForChildren(a []string) bool {
	if len(a) == 0 {
		return false
	}
	switch path.Base(a[0]) {
	case "wait":
		return true
	case "tail":
		return hasFlag(a[1:], 'f', "follow") || hasFlag(a[1:], 'F')
	}
	return false
}

// copiedScript finds the build-context file that a COPY or ADD of the
// shipped image put at prog (a path, or a name looked up in the usual bin
// directories), and returns it with the path to show, or "".
func copiedScript(d *dockerfile, chain []*stage, context, prog, workdir string) (file, shown string) {
	if strings.Contains(prog, "$") {
		return "", ""
	}
	bare := !strings.Contains(prog, "/")
	if !bare {
		prog = absPath(workdir, prog)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		evs := chain[i].layerEvents
		for j := len(evs) - 1; j >= 0; j-- {
			ev := evs[j]
			var sd instructions.SourcesAndDest
			switch c := ev.in.cmd.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				sd = c.SourcesAndDest
			case *instructions.AddCommand:
				sd = c.SourcesAndDest
			default:
				continue
			}
			dest := absDest(d, ev.in, sd.DestPath)
			// COPY x . copies into the WORKDIR, a directory.
			dirDest := strings.HasSuffix(sd.DestPath, "/") || sd.DestPath == "." || strings.HasSuffix(sd.DestPath, "/.") || len(sd.SourcePaths) > 1
			for _, src := range sd.SourcePaths {
				src = d.expand(ev.in, src, ev.in.vars)
				if remote(src) || strings.ContainsAny(src, "*?[$") {
					continue
				}
				rel := path.Clean("/" + src)[1:]
				local := filepath.Join(context, filepath.FromSlash(rel))
				st, err := os.Stat(local)
				if err != nil {
					continue
				}
				if st.IsDir() {
					under := strings.TrimSuffix(dest, "/") + "/"
					if !bare && strings.HasPrefix(prog, under) {
						f := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(prog, under)))
						if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
							return f, prog
						}
					}
					continue
				}
				target := dest
				if dirDest {
					target = strings.TrimSuffix(dest, "/") + "/" + path.Base(rel)
				}
				if target == prog || (bare && path.Base(target) == prog && binDirs[path.Dir(target)]) {
					return local, target
				}
			}
		}
	}
	return "", ""
}

// scriptProcs reads a shell script and returns what its top level starts
// (see stmtProcs); false if it is too big, not shell, or does not parse.
func scriptProcs(d *dockerfile, file string) ([]proc, bool) {
	prog, _ := readScript(d, file)
	if prog == nil {
		return nil, false
	}
	return stmtProcs(prog.Stmts, false, 0), true
}

// runScript returns the commands of a script a RUN runs, with the RUN's
// ARG and ENV values, as a script of its own for the package rules.
func runScript(d *dockerfile, in *instr, file string) *script {
	prog, text := readScript(d, file)
	if prog == nil {
		return nil
	}
	s := &script{text: text, parsed: true}
	vals := d.values(in)
	var fed feeds
	syntax.Walk(prog, func(n syntax.Node) bool {
		fed.note(n, vals)
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			x := &call{line: int(c.Pos().Line()), stdin: fed[c]}
			for _, w := range c.Args {
				x.args = appendFields(x.args, w, vals)
			}
			s.calls = append(s.calls, x)
		}
		return true
	})
	return s
}

// readScript parses a shell script of the build context; nil if it is too
// big, not shell, or does not parse.
func readScript(d *dockerfile, file string) (*syntax.File, string) {
	f, err := os.Open(file)
	if err != nil {
		return nil, ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxScript+1))
	if err != nil || len(b) > maxScript {
		return nil, ""
	}
	if line, _, _ := bytes.Cut(b, []byte("\n")); bytes.HasPrefix(line, []byte("#!")) {
		fields := strings.Fields(string(line[2:]))
		if len(fields) > 0 && path.Base(fields[0]) == "env" {
			fields = fields[1:]
		}
		if len(fields) == 0 || !shellNames[path.Base(fields[0])] {
			return nil, ""
		}
	}
	if shellTokens(string(b)) > maxShellTokens {
		return nil, ""
	}
	if d.script == nil {
		d.script = newShellParser()
	}
	prog, err := d.script.Parse(bytes.NewReader(b), "")
	if err != nil {
		return nil, ""
	}
	return prog, string(b)
}
