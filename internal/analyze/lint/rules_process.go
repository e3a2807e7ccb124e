package lint

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"path"
	"regexp"
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
	"my_init": true, "runsvinit": true, "circusd": true, "s6-svscanboot": true,
	"runit": true, "runit-init": true, "upstart": true, "s6-linux-init": true,
	"pm2-runtime": true, "pm2-docker": true,
}

// supervisorConf reports whether in is a COPY or ADD of a supervisord
// configuration: into /etc/supervisor or /etc/supervisord.d, or a file
// named supervisord*.conf.
func supervisorConf(d *dockerfile, in *instr) bool {
	var sd instructions.SourcesAndDest
	switch c := in.cmd.(type) {
	case *instructions.CopyCommand:
		sd = c.SourcesAndDest
	case *instructions.AddCommand:
		sd = c.SourcesAndDest
	default:
		return false
	}
	dest := absDest(d, in, sd.DestPath)
	if strings.HasPrefix(dest, "/etc/supervisor/") || strings.HasPrefix(dest, "/etc/supervisord.d/") || strings.HasPrefix(path.Base(dest), "supervisord") {
		return true
	}
	for _, src := range sd.SourcePaths {
		if b := path.Base(src); strings.HasPrefix(b, "supervisord") && strings.HasSuffix(b, ".conf") {
			return true
		}
	}
	return false
}

// startsScript reports whether a process is a script or program the
// image brings (an entrypoint or start script), which may start what the
// image configures.
func startsScript(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	b := path.Base(argv[0])
	if shellNames[b] && len(argv) > 1 && !strings.HasPrefix(argv[1], "-") {
		b = path.Base(argv[1])
	}
	return strings.HasSuffix(b, ".sh") || strings.HasSuffix(b, ".py") || strings.Contains(b, "start") || strings.Contains(b, "entry")
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
	if path.Base(p) == "busybox" && len(argv) > 1 && argv[1] == "init" {
		return "busybox init"
	}
	base := path.Base(p)
	if !processManagers[base] {
		return ""
	}
	if strings.HasPrefix(base, "pm2") && pm2OneApp(argv[1:]) {
		return ""
	}
	return base
}

// pm2OneApp reports whether pm2 runs one application: a script of its own
// (pm2-runtime app.js, pm2 start server.js) rather than an ecosystem
// file, which may declare several, or a cluster of it (-i).
func pm2OneApp(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "start" || a == "--no-daemon" || a == "--":
			continue
		case a == "-i" || a == "--instances":
			return false // a cluster of copies of it
		case strings.HasPrefix(a, "-"):
			continue
		}
		b := path.Base(a)
		if strings.Contains(b, "config") || strings.Contains(b, "ecosystem") || strings.Contains(b, "process") ||
			strings.HasSuffix(b, ".json") || strings.HasSuffix(b, ".yml") || strings.HasSuffix(b, ".yaml") {
			return false
		}
		for _, rest := range args[i+1:] {
			if rest == "-i" || rest == "--instances" || strings.HasPrefix(rest, "--instances=") {
				return false
			}
		}
		return true
	}
	return false
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
			pm := isProcessManager(p.args)
			for j := 1; j < len(p.args); j++ {
				a := p.args[j]
				// ENTRYPOINT ["/entrypoint", "/sbin/init"]: a process
				// manager by its path in a later position.
				if pm == "" && strings.HasPrefix(a, "/") && isProcessManager([]string{a}) != "" {
					pm = isProcessManager([]string{a})
				}
			}
			if pm != "" {
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
	supervised(d, entry, cmd)
	if entry == nil && cmd == nil && len(d.stages) > 0 {
		inheritedManager(d)
	}
}

// managedBase matches the repositories of well-known base images whose
// own ENTRYPOINT or CMD is a process manager: linuxserver.io's s6-overlay
// images, phusion's my_init, the systemd images.
var managedBase = regexp.MustCompile(`^(ghcr\.io/|lscr\.io/)?linuxserver/|^(docker\.io/)?phusion/(baseimage|passenger-)|^(docker\.io/)?jrei/systemd-|^(docker\.io/)?geerlingguy/docker-[^/]*-ansible$`)

// inheritedManager reports a shipped image that sets no ENTRYPOINT or CMD
// on a base image that starts a process manager (GL201).
func inheritedManager(d *dockerfile) {
	root := d.stages[len(d.stages)-1].chain()[0]
	if root.baseStage != nil || unresolved(root.base) {
		return
	}
	if repo := parseImageRef(root.base).repo; managedBase.MatchString(repo) {
		d.add("GL201", root.from, "%s starts a process manager and this image keeps its ENTRYPOINT/CMD: run the one service as the container's process", root.base)
	}
}

// supervised reports a shipped image that configures supervisord and
// whose ENTRYPOINT/CMD is a script of its own or the base image's command
// (GL201): the script, or the inherited command, starts supervisord.
func supervised(d *dockerfile, entry, cmd *instr) {
	if len(d.stages) == 0 {
		return
	}
	var conf *instr
	for _, s := range d.stages[len(d.stages)-1].chain() {
		if s.supervisorConf != nil {
			conf = s.supervisorConf
			break
		}
	}
	if conf == nil {
		return
	}
	first := entry
	if first == nil {
		first = cmd
	}
	if first != nil {
		ps := instrProcs(first)
		if len(ps) == 0 || !startsScript(ps[0].args) {
			return
		}
	}
	d.add("GL201", conf, "the image configures supervisord and its ENTRYPOINT/CMD starts it through a script or the base image: run the one service as the container's process")
}
