package lint

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"mvdan.cc/sh/v3/syntax"
)

// windowsPath matches a drive letter: C:\\app is absolute on Windows images.
var windowsPath = regexp.MustCompile(`^[A-Za-z]:`)

var archive = regexp.MustCompile(`\.(tar|tar\.(gz|bz2|xz|zst)|tgz|tbz2?|txz|tzst)$`)

func remote(src string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://", "ssh://"} {
		if strings.HasPrefix(src, p) {
			return true
		}
	}
	return strings.HasSuffix(src, ".git")
}

// secretName matches variable names that hold secrets; secretFile the names
// that only point at one (a path, a file name, a toggle).
var (
	secretName  = regexp.MustCompile(`(?i)(passw(or)?d|(^|_)pass$|secret|token|api_?key|access_?key|private_?key|credential|(^|_)auth$|client_?secret|(^|_)pwd$)`)
	secretFile  = regexp.MustCompile(`(?i)(_file|_path|_dir|_length|_ttl|_url|_endpoint|_header|_type|_name|_env|_policy|_enabled?)$`)
	secretValue = regexp.MustCompile(`(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|gh[pousr]_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20}|xox[bpas]-[A-Za-z0-9-]{10,}|sk_live_[0-9a-zA-Z]{20,})`)
)

func isRoot(u string) bool {
	user, _, _ := strings.Cut(u, ":")
	return user == "root" || user == "0"
}

var pointless = map[string]bool{"ssh": true, "vim": true, "vi": true, "nano": true, "shutdown": true, "reboot": true, "ps": true, "free": true, "top": true, "htop": true, "kill": true, "mount": true, "ifconfig": true, "service": true, "systemctl": true}

// instrRules holds the rules of one instruction alone, run as it is read.
func instrRules(d *dockerfile, in *instr) {
	switch c := in.cmd.(type) {
	case *instructions.AddCommand:
		local := false
		for _, src := range c.SourcePaths {
			src = d.expand(in, src, in.vars)
			if !remote(src) && !archive.MatchString(src) && !unresolved(src) {
				local = true
			}
		}
		if local && c.Checksum == "" {
			d.add("GL601", in, "use COPY instead of ADD for local files and directories")
		}
		checkCopyDest(d, in, c.DestPath)
	case *instructions.CopyCommand:
		checkCopyDest(d, in, c.DestPath)
	case *instructions.MaintainerCommand:
		d.add("GL614", in, "replace MAINTAINER with LABEL org.opencontainers.image.authors=%q", c.Maintainer)
	case *instructions.WorkdirCommand:
		p := d.expand(in, c.Path, in.vars)
		if !strings.HasPrefix(p, "/") && !unresolved(p) && !windowsPath.MatchString(p) {
			d.add("GL610", in, "make WORKDIR %s absolute (/%s)", p, strings.TrimPrefix(p, "./"))
		}
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			if secretName.MatchString(kv.Key) && !secretFile.MatchString(kv.Key) {
				d.add("GL606", in, "do not pass %s as ARG (it stays in the image history): use RUN --mount=type=secret,id=%s", kv.Key, strings.ToLower(kv.Key))
			} else if kv.Value != nil && secretValue.MatchString(*kv.Value) {
				d.add("GL606", in, "remove the credential in ARG %s: use RUN --mount=type=secret", kv.Key)
			}
		}
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			v := d.expand(in, kv.Value, in.vars)
			if secretValue.MatchString(v) || (v != "" && secretName.MatchString(kv.Key) && !secretFile.MatchString(kv.Key)) {
				d.add("GL606", in, "do not set %s with ENV (it ships in the image config): use RUN --mount=type=secret at build time or inject it at run time", kv.Key)
			}
		}
	case *instructions.RunCommand:
		checkRun(d, in)
	}
}

// stageRules keeps, for an instruction of stage s, what the rules about
// the stage and the shipped image need, and reports what is known: an
// earlier CMD, ENTRYPOINT or HEALTHCHECK a later one replaces (GL608,
// GL618).
func stageRules(d *dockerfile, s *stage, in *instr) {
	replaced := func(prev *instr) {
		if prev != nil {
			d.add(map[bool]string{true: "GL618", false: "GL608"}[prev.kind == "healthcheck"], prev, "remove this %s: a later one in the stage replaces it", strings.ToUpper(prev.kind))
		}
	}
	switch in.cmd.(type) {
	case *instructions.CmdCommand:
		replaced(s.lastCmd)
		s.lastCmd, s.cmd = in, in
	case *instructions.EntrypointCommand:
		replaced(s.entry)
		s.entry, s.cmd = in, nil // a new ENTRYPOINT resets an inherited CMD
	case *instructions.HealthCheckCommand:
		replaced(s.lastHealth)
		s.lastHealth = in
	}
	if (in.kind == "cmd" || in.kind == "entrypoint") && in.run != nil && !in.run.exec {
		kw := strings.ToUpper(in.kind)
		d.pend(s, func() {
			d.add("GL607", in, "write %s in JSON form (%s [\"executable\", \"arg\"]) so the process gets signals", kw, kw)
		})
	}
	if c, ok := in.cmd.(*instructions.CopyCommand); ok && c.From != "" {
		d.pend(s, func() { heavyCopy(d, in, c) })
	}
	if c, ok := in.cmd.(*instructions.AddCommand); ok {
		d.pend(s, func() { heavyAdd(d, in, c) })
	}
	if s.supervisorConf == nil && supervisorConf(d, in) {
		s.supervisorConf = in
	}
	switch in.kind {
	case "user":
		s.lastUser = in
	case "healthcheck":
		s.health = true
	case "run":
		if in.run == nil {
			return
		}
		for _, c := range in.run.calls {
			switch c.name() {
			case "curl":
				s.curlAt = first(s.curlAt, in)
			case "wget":
				s.wgetAt = first(s.wgetAt, in)
			}
		}
		placeHeavy(d, s, in)
		d.pend(s, func() {
			ops := pkgOps(feedXargs(d, in, in.run.calls))
			heavyRun(d, in, in.run)
			checkRunPackages(d, in, ops)
		})
	}
	layerEvents(s, in)
}

// pend runs report with what it adds kept as findings of s, which count
// only if s ships.
func (d *dockerfile) pend(s *stage, report func()) {
	d.sink = &s.pending
	report()
	d.sink = nil
}

// checkInstructions holds the rules that need every stage known: COPY
// --from and mount from= names, and the shipped image's USER, HEALTHCHECK
// and download tools.
func checkInstructions(d *dockerfile, _ *Options) {
	for _, in := range d.refs {
		switch c := in.cmd.(type) {
		case *instructions.CopyCommand:
			checkCopyFrom(d, in, c)
		case *instructions.RunCommand:
			for _, m := range in.mounts() {
				if m.From != "" && d.stageRef(d.expand(in, m.From, in.vars)) == in.stage && in.stage != nil {
					d.add("GL613", in, "mount from another stage: --mount from=%s is this stage", m.From)
				}
			}
		}
	}
	// The shipped image.
	if len(d.stages) == 0 {
		return
	}
	final := d.stages[len(d.stages)-1]
	var lastUser *instr
	health := false
	var curlAt, wgetAt *instr
	for _, s := range final.chain() {
		if s.lastUser != nil {
			lastUser = s.lastUser
		}
		health = health || s.health
		curlAt, wgetAt = first(curlAt, s.curlAt), first(wgetAt, s.wgetAt)
	}
	if lastUser != nil {
		if u, ok := lastUser.cmd.(*instructions.UserCommand); ok && isRoot(d.expand(lastUser, u.User, lastUser.vars)) {
			d.add("GL603", lastUser, "end with USER set to an unprivileged user (e.g. USER 10001), not root")
		}
	} else if !unresolved(final.chain()[0].base) && !strings.Contains(final.chain()[0].base, "nonroot") {
		d.add("GL604", final.from, "add USER with an unprivileged user (e.g. USER 10001) to the final stage")
	}
	if !health {
		d.add("GL617", final.from, "add a HEALTHCHECK to the final stage (or HEALTHCHECK NONE to say there is none)")
	}
	if curlAt != nil && wgetAt != nil {
		later := curlAt
		if wgetAt.line > curlAt.line {
			later = wgetAt
		}
		d.add("GL620", later, "use either curl or wget, not both")
	}
}

func first(a, b *instr) *instr {
	if a != nil {
		return a
	}
	return b
}

func checkCopyDest(d *dockerfile, in *instr, dest string) {
	dest = d.expand(in, dest, in.vars)
	if !strings.HasPrefix(dest, "/") && in.workdir == "" && !unresolved(dest) && !windowsPath.MatchString(dest) {
		d.add("GL611", in, "set WORKDIR before this %s or copy to an absolute path", strings.ToUpper(in.kind))
	}
}

// checkCopyFrom checks what COPY --from names, once every stage is known.
func checkCopyFrom(d *dockerfile, in *instr, c *instructions.CopyCommand) {
	if c.From == "" {
		return
	}
	from := d.expand(in, c.From, in.vars)
	switch src := d.stageRef(from); {
	case src != nil && src == in.stage:
		d.add("GL613", in, "COPY --from=%s names this stage: copy from an earlier stage", from)
	case src == nil && isIndex(from):
		d.add("GL612", in, "COPY --from=%s: there is no stage %s (stages count from 0)", from, from)
	case src == nil && !unresolved(from) && !strings.ContainsAny(from, ":/.@"):
		d.add("GL612", in, "COPY --from=%s names no stage: define the stage, or write the image with its tag (%s:<version>)", from, from)
	}
}

// checkRun holds the RUN rules that read the shell program as a whole.
func checkRun(d *dockerfile, in *instr) {
	s := in.run
	if s == nil {
		return
	}
	for _, c := range s.calls {
		if c.sudo() {
			d.add("GL605", in, "remove sudo: RUN already runs as the USER in force; switch USER around the commands that need root")
			break
		}
	}
	for _, c := range s.calls {
		a := c.argv()
		switch c.name() {
		case "useradd":
			uid := ""
			for i := 1; i < len(a); i++ {
				switch {
				case (a[i] == "-u" || a[i] == "--uid") && i+1 < len(a):
					uid = a[i+1]
				case strings.HasPrefix(a[i], "--uid="):
					uid = strings.TrimPrefix(a[i], "--uid=")
				}
			}
			if n, err := strconv.ParseInt(uid, 10, 64); err == nil && n > 99999 && !hasFlag(a[1:], 'l', "no-log-init") {
				d.add("GL616", in, "add -l (--no-log-init) to useradd -u %s", uid)
			}
		case "ln":
			if len(a) >= 3 && hasFlag(a[1:], 's', "symbolic") && (a[len(a)-1] == "/bin/sh" || a[len(a)-1] == "/usr/bin/sh") {
				d.add("GL621", in, "use SHELL [\"/bin/bash\", \"-c\"] instead of relinking /bin/sh")
			}
		}
		if pointless[c.name()] && !c.nested {
			d.add("GL619", in, "drop %s from RUN: it has no effect in an image build", c.name())
		}
	}
	// curl | sh, and sh -c "$(curl ...)".
	for _, p := range s.pipes {
		left, right := p.left, p.right
		if downloads(left) && len(right) > 0 && len(right[0]) > 0 && interpreter(right[0][0]) {
			d.add("GL602", in, "do not pipe a download into %s: download to a file, verify its checksum, then run it", path.Base(right[0][0]))
			break
		}
	}
	for _, c := range s.calls {
		if interpreter(c.name()) && !c.nested && strings.Contains(strings.Join(c.args, " "), "$(...)") {
			var nested [][]string
			for _, n := range s.calls {
				if n.nested {
					nested = append(nested, n.argv())
				}
			}
			if downloads(nested) {
				d.add("GL602", in, "do not run a downloaded script with %s -c \"$(curl ...)\": download, verify, then run", c.name())
			}
		}
	}
	// Piped RUN without pipefail.
	if len(s.pipes) > 0 && !s.exec && !pipefail(in.shell) && !setsOption(s, "pipefail") {
		d.add("GL615", in, "start this RUN with `set -o pipefail &&` or set SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]")
	}
	// cd at the top level of a RUN.
	{
		top := s.top
		for i, c := range top {
			if i < len(top)-1 && len(c) > 0 && c[0] == "cd" {
				d.add("GL609", in, "replace cd %s with WORKDIR %s", strings.Join(c[1:], " "), strings.Join(c[1:], " "))
				break
			}
		}
	}
}

func downloads(calls [][]string) bool {
	for _, c := range calls {
		if len(c) > 0 && (path.Base(c[0]) == "curl" || path.Base(c[0]) == "wget") {
			return true
		}
	}
	return false
}

func interpreter(name string) bool {
	name = path.Base(name)
	return shellNames[name] || strings.HasPrefix(name, "python") || name == "perl" || name == "ruby" || name == "node"
}

func pipefail(shell []string) bool {
	return strings.Contains(strings.Join(shell, " "), "pipefail")
}

// setsOption reports whether the script runs `set` with an option: set -o
// pipefail, set -euo pipefail, set -e.
func setsOption(s *script, opt string) bool {
	for _, c := range s.calls {
		a := c.argv()
		if len(a) < 2 || a[0] != "set" {
			continue
		}
		for _, x := range a[1:] {
			if x == opt || (opt == "errexit" && strings.HasPrefix(x, "-") && !strings.HasPrefix(x, "--") && strings.Contains(x, "e")) {
				return true
			}
		}
	}
	return false
}

// topCalls lists the top-level commands of a script, looking into && and
// || chains but not into subshells or blocks. Only the name of a command
// other than cd is rendered: GL609 reads the arguments of cd alone.
func topCalls(stmts []*syntax.Stmt) [][]string {
	var out [][]string
	var walk func(st *syntax.Stmt)
	walk = func(st *syntax.Stmt) {
		switch c := st.Cmd.(type) {
		case *syntax.CallExpr:
			var args []string
			for i, w := range c.Args {
				args = append(args, render(w, nil))
				if i == 0 && args[0] != "cd" {
					break
				}
			}
			out = append(out, args)
		case *syntax.BinaryCmd:
			if c.Op == syntax.AndStmt || c.Op == syntax.OrStmt || c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
				walk(c.X)
				walk(c.Y)
			}
		}
	}
	for _, st := range stmts {
		walk(st)
	}
	return out
}
