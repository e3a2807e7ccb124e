package lint

import (
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// proc is one command a container's ENTRYPOINT or CMD starts.
type proc struct {
	args []string
	bg   bool // started with &
	loop bool // a while loop that only sleeps
}

// processManagers are the init systems and supervisors that make a container
// a small VM. Keyed by base name, except s6-overlay's /init, matched by path.
var processManagers = map[string]bool{
	"systemd": true, "init": true, "supervisord": true, "s6-svscan": true,
	"runsvdir": true, "openrc": true, "openrc-init": true, "monit": true, "pm2": true,
}

// unwrap skips the minimal inits and privilege droppers that exec one child:
// tini, dumb-init, gosu, su-exec, s6-setuidgid, and exec/env.
func unwrap(a []string) []string {
	for len(a) > 0 {
		switch path.Base(a[0]) {
		case "tini", "tini-static", "dumb-init", "catatonit":
			a = a[1:]
			for len(a) > 0 && strings.HasPrefix(a[0], "-") {
				if a[0] == "--" {
					a = a[1:]
					break
				}
				a = a[1:]
			}
		case "gosu", "su-exec", "s6-setuidgid", "chpst":
			if len(a) < 2 {
				return nil
			}
			a = a[2:]
		case "exec", "env", "nohup", "sudo":
			a = (&call{args: a}).argv()
			if len(a) > 0 && path.Base(a[0]) == "exec" {
				a = a[1:]
			}
			return unwrapOnce(a)
		default:
			return a
		}
	}
	return a
}

func unwrapOnce(a []string) []string {
	if len(a) > 0 {
		switch path.Base(a[0]) {
		case "tini", "tini-static", "dumb-init", "catatonit", "gosu", "su-exec", "s6-setuidgid", "chpst":
			return unwrap(a)
		}
	}
	return a
}

// procs lists what a command line starts, looking through sh -c and
// wrappers.
func procs(argv []string, depth int) []proc {
	argv = unwrap(argv)
	if len(argv) == 0 || depth > 4 {
		return nil
	}
	if shellNames[path.Base(argv[0])] && len(argv) >= 3 && strings.HasPrefix(argv[1], "-") && strings.Contains(argv[1], "c") {
		if shellTokens(argv[2]) > maxShellTokens {
			return []proc{{args: argv}} // too deep to parse safely (see maxShellTokens)
		}
		f, err := syntax.NewParser().Parse(strings.NewReader(argv[2]), "")
		if err != nil {
			return []proc{{args: argv}}
		}
		return stmtProcs(f.Stmts, false, depth)
	}
	return []proc{{args: argv}}
}

func stmtProcs(stmts []*syntax.Stmt, bg bool, depth int) []proc {
	var out []proc
	for _, st := range stmts {
		b := bg || st.Background
		switch c := st.Cmd.(type) {
		case *syntax.CallExpr:
			var args []string
			for _, w := range c.Args {
				args = append(args, render(w, nil))
			}
			for _, p := range procs(args, depth+1) {
				p.bg = p.bg || b
				out = append(out, p)
			}
		case *syntax.BinaryCmd:
			out = append(out, stmtProcs([]*syntax.Stmt{c.X, c.Y}, b, depth)...)
		case *syntax.Block:
			out = append(out, stmtProcs(c.Stmts, b, depth)...)
		case *syntax.Subshell:
			out = append(out, stmtProcs(c.Stmts, b, depth)...)
		case *syntax.WhileClause:
			body := stmtProcs(c.Do, false, depth)
			onlySleep := len(body) > 0
			for _, p := range body {
				if len(p.args) == 0 || path.Base(p.args[0]) != "sleep" {
					onlySleep = false
				}
			}
			if onlySleep {
				out = append(out, proc{loop: true, bg: b})
			} else {
				out = append(out, body...)
			}
		case *syntax.IfClause:
			for cl := c; cl != nil; cl = cl.Else {
				out = append(out, stmtProcs(cl.Then, b, depth)...)
			}
		}
	}
	return out
}

// isProcessManager returns the process manager argv starts, or "".
func isProcessManager(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	p := argv[0]
	if p == "/init" {
		return "s6-overlay's /init"
	}
	if base := path.Base(p); processManagers[base] {
		return base
	}
	return ""
}

func isServiceStart(a []string) bool {
	if len(a) >= 3 && (path.Base(a[0]) == "service" || path.Base(a[0]) == "rc-service") && a[2] == "start" {
		return true
	}
	return len(a) >= 2 && strings.HasPrefix(a[0], "/etc/init.d/") && a[1] == "start"
}

func isKeepAlive(p proc) bool {
	if p.loop {
		return true
	}
	a := p.args
	if len(a) == 0 {
		return false
	}
	switch path.Base(a[0]) {
	case "tail":
		return len(a) >= 3 && hasFlag(a[1:], 'f', "follow") && a[len(a)-1] == "/dev/null"
	case "sleep":
		return len(a) == 2 && (a[1] == "infinity" || a[1] == "inf")
	}
	return false
}

// effective returns the ENTRYPOINT and CMD instructions in force for the
// shipped image.
func effective(d *dockerfile) (entry, cmd *instr) {
	if len(d.stages) == 0 {
		return nil, nil
	}
	for _, s := range d.stages[len(d.stages)-1].chain() {
		if s.entry != nil {
			entry, cmd = s.entry, s.cmd // a new ENTRYPOINT resets an inherited CMD
		} else if s.cmd != nil {
			cmd = s.cmd
		}
	}
	return entry, cmd
}

func instrProcs(in *instr) []proc {
	s := in.run
	if s == nil {
		return nil
	}
	if s.exec {
		return procs(s.argv, 0)
	}
	return s.procs
}

func checkProcess(d *dockerfile, _ *Options) {
	entry, cmd := effective(d)
	for _, in := range []*instr{entry, cmd} {
		if in == nil {
			continue
		}
		ps := instrProcs(in)
		kw := strings.ToUpper(in.kind)
		bg, services := 0, 0
		for i, p := range ps {
			if pm := isProcessManager(p.args); pm != "" {
				d.add("GL201", in, "%s starts %s: run the one service as the container's process (tini or dumb-init if it needs an init)", kw, pm)
			}
			if isKeepAlive(p) {
				d.add("GL203", in, "%s keeps the container alive artificially: run the service in the foreground as the container's process", kw)
			}
			if isServiceStart(p.args) {
				services++
				if i < len(ps)-1 {
					d.add("GL203", in, "%s starts services with `%s` and then runs more: one container per service", kw, strings.Join(p.args, " "))
				}
			}
			if p.bg {
				bg++
			}
		}
		if bg > 0 && len(ps) > 1 {
			d.add("GL202", in, "%s starts %d processes, %d in the background: run one process per container", kw, len(ps), bg)
		}
	}
}
