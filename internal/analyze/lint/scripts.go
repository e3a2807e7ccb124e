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

// binDirs are where a command named without a slash is found.
var binDirs = map[string]bool{"/usr/local/bin": true, "/usr/local/sbin": true, "/usr/bin": true, "/usr/sbin": true, "/bin": true, "/sbin": true}

// checkScripts follows the ENTRYPOINT/CMD of the shipped image into the
// scripts it copies from the build context (Options.Context), with
// FollowEntrypoint: a script that starts a process manager (GL201), or
// starts processes in the background and then waits or tails (GL202), or
// starts several services (GL203), makes the container a small VM as much
// as a CMD that does so. What the ENTRYPOINT/CMD line itself starts is
// checkProcess's, so only the program that runs the script is followed,
// not its arguments (checkProcess reports a process manager among them).
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
	argv := ps[0].args[:1]
	if a := ps[0].args; shellNames[path.Base(a[0])] && len(a) > 1 && !strings.HasPrefix(a[1], "-") {
		argv = a[:2] // sh /start.sh
	}
	files := &contextFiles{d: d, chain: d.stages[len(d.stages)-1].chain(), context: opts.Context, workdir: in.workdir}
	e := FollowEntrypoint(files, argv)
	if e.Script == "" {
		return // the command line itself: checkProcess's
	}
	kw := strings.ToUpper(in.kind)
	switch e.Kind {
	case EntrypointManager:
		d.add("GL201", in, "%s runs %s, which starts %s: run the one service as the container's process", kw, e.Script, e.Manager)
	case EntrypointBackground:
		d.add("GL202", in, "%s runs %s, which starts %d processes in the background and waits: run one process per container", kw, e.Script, e.Count)
	case EntrypointServices:
		d.add("GL203", in, "%s runs %s, which starts %d services: one container per service", kw, e.Script, e.Count)
	}
}

// contextFiles finds the programs of an entrypoint among the files the
// shipped image COPYs or ADDs from the build context: the ScriptFiles of
// gantry lint. It cannot see symbolic links, nor anything the base image
// or a RUN made.
type contextFiles struct {
	d       *dockerfile
	chain   []*stage
	context string
	workdir string
}

// Program implements ScriptFiles.
func (c *contextFiles) Program(prog string) (string, []byte) {
	file, shown := copiedScript(c.d, c.chain, c.context, prog, c.workdir)
	if file == "" {
		return "", nil
	}
	return shown, readFile(file)
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

// readFile returns a file of the build context of at most MaxScript
// bytes, nil if it is larger or cannot be read.
func readFile(file string) []byte {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxScript+1))
	if err != nil || len(b) > MaxScript {
		return nil
	}
	return b
}

// readScript parses a shell script of the build context; nil if it is too
// big, not shell, or does not parse.
func readScript(d *dockerfile, file string) (*syntax.File, string) {
	b := readFile(file)
	if b == nil || !ShellScript(b) || shellTokens(string(b)) > maxShellTokens {
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
