package lint

import (
	"bytes"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// MaxScript bounds the bytes of a shell script the entrypoint analysis
// reads (FollowEntrypoint); maxExecDepth the exec chain it follows from
// script to script.
const (
	MaxScript    = 1 << 20
	maxExecDepth = 3
)

// ScriptFiles is the filesystem an ENTRYPOINT or CMD runs in, as
// FollowEntrypoint sees it: for gantry lint the build context, through the
// COPY and ADD lines of the shipped image; for gantry check the image's
// final filesystem.
type ScriptFiles interface {
	// Program finds the program prog names (a path, or a bare name looked
	// up as the runtime would) and returns the path it is at, symbolic
	// links followed where the filesystem has them ("" when it is not
	// found), and its content when it is a file that may be read as a
	// shell script of at most MaxScript bytes (nil otherwise). The content
	// is checked again (ShellScript) before it is parsed.
	Program(prog string) (target string, script []byte)
}

// EntrypointKind is what FollowEntrypoint found a container to start.
type EntrypointKind int

// What an entrypoint may start that makes a container a small VM.
const (
	EntrypointNone EntrypointKind = iota
	// EntrypointManager: it starts a process manager (systemd, init,
	// supervisord, s6, runit, ...).
	EntrypointManager
	// EntrypointBackground: it starts processes in the background (&) and
	// then waits for them (wait, tail -f, sleep infinity).
	EntrypointBackground
	// EntrypointServices: it starts several services (service x start).
	EntrypointServices
)

// Entrypoint is what FollowEntrypoint learnt about what a container runs.
type Entrypoint struct {
	Kind EntrypointKind
	// Script is the path of the script that does it ("" for the command
	// line itself, as in sh -c "a & b & wait").
	Script string
	// Manager names the process manager (EntrypointManager).
	Manager string
	// Count is the processes started in the background
	// (EntrypointBackground) or the services started
	// (EntrypointServices).
	Count int
	// Read lists the scripts read, in exec order.
	Read []string
}

// FollowEntrypoint follows argv, the ENTRYPOINT and CMD of an image as the
// runtime joins them, through sh -c, the wrappers that exec one child
// (tini, dumb-init, gosu, su-exec) and the shell scripts files holds: into
// the script argv runs, and from there along the command each script ends
// with (exec or not) into the next one, at most three scripts deep. A
// script's "$@" is the arguments it was run with, so an entrypoint that
// ends with exec "$@" runs its CMD. It reports the first script (or the
// command line) that starts a process manager, starts processes in the
// background and waits for them, or starts several services; Kind is
// EntrypointNone when none does. gantry lint and gantry check both call it,
// each with its own ScriptFiles.
func FollowEntrypoint(files ScriptFiles, argv []string) Entrypoint {
	var out Entrypoint
	ps := procs(argv, 0)
	var parser *syntax.Parser
	seen := map[string]bool{}
	for depth := 0; ; depth++ {
		bg, services, waits := 0, 0, false
		var next []string
		for _, p := range ps {
			if pm := isProcessManager(p.args); pm != "" {
				out.Kind, out.Manager = EntrypointManager, programManager(files, p.args, pm)
				return out
			}
			switch {
			case p.bg:
				bg++
			case isKeepAlive(p) || waitsForChildren(p.args):
				waits = waits || bg > 0
			case isServiceStart(p.args):
				services++
			}
			if !p.bg {
				next = p.args
			}
		}
		switch {
		case bg > 0 && waits:
			out.Kind, out.Count = EntrypointBackground, bg
			return out
		case services > 1:
			out.Kind, out.Count = EntrypointServices, services
			return out
		}
		if len(next) == 0 || depth == maxExecDepth {
			return Entrypoint{Read: out.Read}
		}
		prog, args := next[0], next[1:]
		if shellNames[path.Base(prog)] && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			prog, args = args[0], args[1:] // sh /start.sh
		}
		target, text := files.Program(prog)
		if target == "" {
			return Entrypoint{Read: out.Read}
		}
		// /usr/local/bin/start -> /usr/bin/supervisord: the program by
		// what it is.
		if pm := isProcessManager(resolved(target, next[0], args)); pm != "" {
			out.Kind, out.Manager = EntrypointManager, pm
			return out
		}
		if text == nil || seen[target] || !ShellScript(text) || len(text) > MaxScript || shellTokens(string(text)) > maxShellTokens {
			return Entrypoint{Read: out.Read}
		}
		seen[target] = true
		if parser == nil {
			parser = newShellParser()
		}
		f, err := parser.Parse(bytes.NewReader(text), "")
		if err != nil {
			return Entrypoint{Read: out.Read}
		}
		out.Script = target
		out.Read = append(out.Read, target)
		ps = positional(stmtProcs(f.Stmts, false, 0), args)
	}
}

// programManager names the process manager argv starts, pm by its name,
// by the program it resolves to in files where that says more: /sbin/init
// is systemd, or busybox init.
func programManager(files ScriptFiles, argv []string, pm string) string {
	target, _ := files.Program(argv[0])
	if target == "" || target == argv[0] {
		return pm
	}
	if real := isProcessManager(resolved(target, argv[0], argv[1:])); real != "" {
		return real
	}
	return pm
}

// ProgramManager returns the process manager argv starts, by the name of
// its program or by the file files resolves that to (/usr/local/bin/start
// -> /usr/bin/supervisord; busybox called as init), or "" when it starts
// none or its program is not in files.
func ProgramManager(files ScriptFiles, argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	target, _ := files.Program(argv[0])
	if target == "" {
		return ""
	}
	if pm := isProcessManager(argv); pm != "" {
		return programManager(files, argv, pm)
	}
	return isProcessManager(resolved(target, argv[0], argv[1:]))
}

// resolved is the command line of prog run as target, the file a symbolic
// link leads to: busybox runs the applet it was called as.
func resolved(target, prog string, args []string) []string {
	if path.Base(target) == "busybox" {
		return append([]string{target, path.Base(prog)}, args...)
	}
	return append([]string{target}, args...)
}

// positional puts the arguments a script was run with in place of "$@"
// and "$*" in what it starts, looking through wrappers and sh -c again in
// what they become.
func positional(ps []proc, args []string) []proc {
	var out []proc
	for _, p := range ps {
		var sub []string
		found := false
		for _, a := range p.args {
			if a == "$@" || a == "$*" {
				sub = append(sub, args...)
				found = true
				continue
			}
			sub = append(sub, a)
		}
		if !found {
			out = append(out, p)
			continue
		}
		if len(sub) == 0 {
			out = append(out, proc{bg: p.bg}) // exec "$@" with no arguments runs nothing
			continue
		}
		for _, q := range procs(sub, 1) {
			q.bg = q.bg || p.bg
			out = append(out, q)
		}
	}
	return out
}

// ShellScript reports whether a file that begins with head is read as a
// shell script: its #! line names a shell (directly or through env), or it
// has none.
func ShellScript(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	if !bytes.HasPrefix(line, []byte("#!")) {
		return true
	}
	fields := strings.Fields(string(line[2:]))
	if len(fields) > 0 && path.Base(fields[0]) == "env" {
		fields = fields[1:]
		for len(fields) > 0 && strings.HasPrefix(fields[0], "-") {
			fields = fields[1:] // env -S
		}
	}
	return len(fields) > 0 && shellNames[path.Base(fields[0])]
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
