package lint

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/catalog"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// pkgOp is one package manager invocation.
type pkgOp struct {
	mgr     string   // apt-get, apt, apk, yum, dnf, microdnf, zypper, pip, npm, yarn, gem, go
	sub     string   // the subcommand: install, add, update, ...
	opts    []string // options anywhere on the line
	pkgs    []string // package arguments after the subcommand
	virtual string   // apk add --virtual NAME
}

// optsWithValue are the options whose value is the next argument, per
// manager, so the value is not taken for a package.
var optsWithValue = map[string]map[string]bool{
	"apt":    {"-o": true, "-t": true, "-c": true, "--option": true, "--target-release": true, "--config-file": true},
	"apk":    {"-t": true, "--virtual": true, "-X": true, "--repository": true, "-p": true, "--root": true, "--arch": true, "--cache-dir": true},
	"rpm":    {"-c": true, "--config": true, "--installroot": true, "--releasever": true, "--repo": true, "--enablerepo": true, "--disablerepo": true, "--setopt": true},
	"zypper": {"-r": true, "--repo": true, "--root": true, "-R": true},
	"pip": {"-r": true, "-c": true, "-e": true, "-i": true, "-f": true, "-t": true, "--index-url": true, "--extra-index-url": true,
		"--find-links": true, "--target": true, "--prefix": true, "--root": true, "--requirement": true, "--constraint": true,
		"--editable": true, "--trusted-host": true, "--platform": true, "--python-version": true, "--only-binary": true, "--no-binary": true, "--src": true},
	"npm":  {"--prefix": true, "--registry": true, "--cache": true, "-w": true, "--workspace": true},
	"yarn": {"--cwd": true, "--cache-folder": true, "--modules-folder": true},
	"gem":  {"-v": true, "--version": true, "-i": true, "--install-dir": true, "--source": true, "-s": true, "-n": true, "--bindir": true},
	"go":   {"-o": true, "-tags": true, "-ldflags": true, "-gcflags": true},
}

var familyOf = map[string]string{
	"apt-get": "apt", "apt": "apt", "aptitude": "apt", "apk": "apk",
	"yum": "rpm", "dnf": "rpm", "microdnf": "rpm", "tdnf": "rpm", "zypper": "zypper",
	"pip": "pip", "pip3": "pip", "npm": "npm", "yarn": "yarn", "gem": "gem", "go": "go",
}

// parsePkg reads a call as a package manager invocation, or returns nil.
func parsePkg(c *call) *pkgOp {
	a := c.argv()
	if len(a) == 0 {
		return nil
	}
	name := path.Base(a[0])
	if strings.HasPrefix(name, "python") && len(a) >= 3 && a[1] == "-m" && a[2] == "pip" {
		name, a = "pip", a[2:]
	}
	if strings.HasPrefix(name, "pip") {
		name = "pip"
	}
	fam, ok := familyOf[name]
	if !ok {
		return nil
	}
	op := &pkgOp{mgr: name}
	vals := optsWithValue[fam]
	for i := 1; i < len(a); i++ {
		x := a[i]
		if strings.HasPrefix(x, "-") && x != "-" {
			op.opts = append(op.opts, x)
			if vals[x] && i+1 < len(a) {
				if x == "--virtual" || (x == "-t" && fam == "apk") {
					op.virtual = a[i+1]
				}
				op.opts = append(op.opts, a[i+1])
				i++
			}
			continue
		}
		if op.sub == "" {
			op.sub = x
			continue
		}
		if name == "yarn" && op.sub == "global" && x == "add" {
			op.sub = "add"
			continue
		}
		op.pkgs = append(op.pkgs, x)
	}
	if name == "yarn" && op.sub == "" {
		op.sub = "install"
	}
	return op
}

func (op *pkgOp) installs() bool {
	switch op.mgr {
	case "apt-get", "apt", "aptitude", "yum", "dnf", "microdnf", "tdnf", "pip", "gem", "go":
		return op.sub == "install"
	case "zypper":
		return op.sub == "install" || op.sub == "in"
	case "apk":
		return op.sub == "add"
	case "npm":
		return op.sub == "install" || op.sub == "i" || op.sub == "ci" || op.sub == "add"
	case "yarn":
		return op.sub == "install" || op.sub == "add"
	}
	return false
}

// removes returns what an invocation uninstalls in the same RUN.
func (op *pkgOp) removes() []string {
	switch op.sub {
	case "purge", "remove", "del", "erase", "rm", "uninstall":
		return op.pkgs
	}
	return nil
}

// pinned reports whether a package argument names a version.
func pinned(mgr, p string) bool {
	if strings.Contains(p, "$") || strings.Contains(p, "://") || strings.HasPrefix(p, ".") || strings.HasPrefix(p, "/") {
		return true // a variable, a URL or a local file
	}
	switch mgr {
	case "apt-get", "apt", "aptitude", "apk":
		return strings.Contains(p, "=") || strings.HasSuffix(p, ".deb") || strings.HasSuffix(p, ".apk")
	case "pip":
		return strings.ContainsAny(p, "=<>~@") || strings.HasSuffix(p, ".whl") || strings.HasSuffix(p, ".tar.gz")
	case "npm", "yarn":
		return strings.LastIndexByte(p, '@') > 0 || strings.Contains(p, ":") || strings.HasSuffix(p, ".tgz")
	case "gem":
		return strings.Contains(p, ":")
	case "go":
		at := strings.LastIndexByte(p, '@')
		return at > 0 && p[at+1:] != "latest"
	case "yum", "dnf", "microdnf", "tdnf", "zypper":
		return rpmVersion.MatchString(p) || strings.ContainsAny(p, "=<>") || strings.HasSuffix(p, ".rpm")
	}
	return true
}

var rpmVersion = regexp.MustCompile(`-[0-9][^/]*$`)

// heavyAdvice is what a GL301 or GL302 finding says after naming the
// component: what it is, its typical size and what to use instead, from
// the catalogue.
func heavyAdvice(e *catalog.Entry) string {
	return fmt.Sprintf("%s, typically %s installed: instead, %s", e.What, e.Size, e.Instead)
}

// heavyURLs returns the heavy components whose download addresses a RUN
// names, each once, in order: addresses are read from the RUN as written
// and from its commands with ARG and ENV values substituted.
func heavyURLs(cat *catalog.Catalog, text string, calls []*call) []*catalog.Entry {
	var out []*catalog.Entry
	add := func(s string) {
		for _, e := range urlsIn(cat, s) {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	add(text)
	for _, c := range calls {
		for _, a := range c.args {
			add(a)
		}
	}
	return out
}

// urlsIn looks up every http(s) or ftp address in s.
func urlsIn(cat *catalog.Catalog, s string) []*catalog.Entry {
	var out []*catalog.Entry
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			return out
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + 3
		for end < len(s) && !strings.ContainsRune(" \t\n\"'`;|&()<>\\", rune(s[end])) {
			end++
		}
		if scheme := strings.ToLower(s[start:i]); scheme == "http" || scheme == "https" || scheme == "ftp" {
			if e := cat.URL(s[start:end]); e != nil {
				out = append(out, e)
			}
		}
		s = s[end:]
	}
}

func isSchemeByte(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// heavyDownload returns the heavy components a RUN (or a script it runs)
// downloads and unpacks (tar, unzip, dpkg, or apt-get install of a .deb),
// or has a command fetch (playwright install, sdkmanager), each once.
func heavyDownload(cat *catalog.Catalog, run *script) []*catalog.Entry {
	unpacks := false
	var out []*catalog.Entry
	for _, c := range run.calls {
		a := c.argv()
		switch c.name() {
		case "tar", "unzip", "dpkg", "bsdtar", "7z", "gunzip", "xz":
			unpacks = true
		case "apt-get", "apt", "yum", "dnf", "rpm", "zypper":
			for _, x := range a[1:] {
				unpacks = unpacks || strings.HasSuffix(x, ".deb") || strings.HasSuffix(x, ".rpm")
			}
		}
		if e := cat.Command(a); e != nil && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if !unpacks {
		return out
	}
	for _, e := range heavyURLs(cat, run.text, run.calls) {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// heavyCopy reports COPY --from of a heavy component's directory (GL301):
// a toolchain, a JDK, a browser. A directory the source image holds as
// something lighter (a JRE image's /opt/java/openjdk) is not reported.
func heavyCopy(d *dockerfile, in *instr, c *instructions.CopyCommand) {
	cat := catalog.Default()
	for _, src := range c.SourcePaths {
		src = d.expand(in, src, in.vars)
		e := cat.CopyDir(src)
		if e == nil {
			continue
		}
		if ref, ok := copySource(d, in, c.From); ok && e.Excludes(ref.repo, ref.tag) {
			continue
		}
		d.add("GL301", in, "COPY --from=%s copies %s, %s", c.From, src, heavyAdvice(e))
		return
	}
	// A directory the build stage filled: golang's alpine image moves
	// the toolchain to /target/usr/local/go and copies /target/ to /.
	dest := d.expand(in, c.DestPath, in.vars)
	from := d.stageRef(d.expand(in, c.From, in.vars))
	if from == nil || !strings.HasPrefix(dest, "/") {
		return
	}
	for _, src := range c.SourcePaths {
		src = d.expand(in, src, in.vars)
		if !strings.HasPrefix(src, "/") || unresolved(src) {
			continue
		}
		src = path.Clean(src)
		for _, s := range from.chain() {
			for _, p := range s.placed {
				rel, ok := below(p.path, src)
				if !ok {
					continue
				}
				if p.unpacked || cat.CopyDir(path.Join(dest, rel)) == p.entry {
					d.add("GL301", in, "COPY --from=%s copies %s, where %s put %s, %s", c.From, src, p.by, p.path, heavyAdvice(p.entry))
					return
				}
			}
		}
	}
}

// placed is a heavy component a RUN put inside a directory other than its
// usual one: moved there (mv /usr/local/go /target/usr/local/go), where
// a COPY --from of a directory above it ships it when the copy lands it
// at its usual place; or unpacked there (tar -C /target -xzf jdk.tgz),
// where a COPY --from of that directory or one above it ships it.
type placed struct {
	path     string
	entry    *catalog.Entry
	unpacked bool
	by       string // "RUN at line N"
}

// Bounds on placeHeavy: what a stage keeps, the words of a Dockerfile it
// looks at (each costs a catalogue lookup per directory level), their
// length and the levels tried.
const (
	maxPlaced    = 64
	maxPlacing   = 1024
	maxPlaceWord = 256
	maxPlaceLevs = 8
)

// placeHeavy records the heavy components RUN in puts inside other
// directories, for a later COPY --from of the stage: the paths that mv,
// cp, ln and rsync name, and where tar unpacks a download.
func placeHeavy(d *dockerfile, s *stage, in *instr) {
	cat := catalog.Default()
	by := fmt.Sprintf("the RUN at line %d", in.line)
	add := func(p placed) {
		if len(s.placed) < maxPlaced {
			p.by = by
			s.placed = append(s.placed, p)
		}
	}
	var unpacked []*catalog.Entry
	for _, c := range in.run.calls {
		name := c.name()
		if name != "mv" && name != "cp" && name != "ln" && name != "rsync" && name != "tar" {
			continue
		}
		a := c.argv()
		for i, w := range a {
			if !strings.HasPrefix(w, "/") || len(w) > maxPlaceWord || unresolved(w) {
				continue
			}
			if d.placing++; d.placing > maxPlacing {
				return
			}
			w = path.Clean(w)
			for j, levs := 1, 0; j < len(w) && levs < maxPlaceLevs && name != "tar"; j++ {
				if w[j] != '/' {
					continue
				}
				levs++
				if e := cat.CopyDir(w[j:]); e != nil {
					add(placed{path: w, entry: e})
					break
				}
			}
			if name == "tar" && i > 0 && (a[i-1] == "-C" || a[i-1] == "--directory") {
				if unpacked == nil {
					unpacked = heavyDownload(cat, in.run)
				}
				for _, e := range unpacked {
					add(placed{path: w, entry: e, unpacked: true})
				}
			}
		}
	}
}

// below returns p's path below dir ("/usr/local/go" for
// "/target/usr/local/go" below "/target"), and whether p is dir or below
// it.
func below(p, dir string) (string, bool) {
	if dir == "/" {
		return p, true
	}
	if p == dir {
		return "/", true
	}
	rest, ok := strings.CutPrefix(p, dir+"/")
	return "/" + rest, ok
}

// copySource returns the image a COPY --from takes its files from: the
// image it names, or the image the named (or numbered) stage is built on.
func copySource(d *dockerfile, in *instr, from string) (imageRef, bool) {
	from = d.expand(in, from, in.vars)
	s, ok := d.byName[strings.ToLower(from)]
	if n, err := strconv.Atoi(from); err == nil && !ok && n >= 0 && n < len(d.stages) {
		s, ok = d.stages[n], true
	}
	if ok {
		from = s.chain()[0].base
	}
	if from == "" || unresolved(from) {
		return imageRef{}, false
	}
	return parseImageRef(from), true
}

// heavyAdd reports an ADD of a heavy component's archive by its URL
// (GL301): the archive itself stays in the layer.
func heavyAdd(d *dockerfile, in *instr, c *instructions.AddCommand) {
	cat := catalog.Default()
	for _, src := range c.SourcePaths {
		if src = d.expand(in, src, in.vars); remote(src) {
			if e := cat.URL(src); e != nil {
				d.add("GL301", in, "ADD downloads %s, %s", src, heavyAdvice(e))
				return
			}
		}
	}
}

func checkHeavy(d *dockerfile, _ *Options) {
	if len(d.stages) == 0 {
		return
	}
	chain := d.stages[len(d.stages)-1].chain()
	if root := chain[0]; root.baseStage == nil && !unresolved(root.base) {
		ref := parseImageRef(root.base)
		if e := catalog.Default().Image(ref.repo, ref.tag); e != nil {
			d.add("GL302", root.from, "ship a runtime image, not %s: it carries %s", root.base, heavyAdvice(e))
		}
	}
	// Components that are the image's runtime when its ENTRYPOINT or CMD
	// runs them (a node tarball under CMD ["node"]) are only known to be
	// dead weight once the file has been read.
	var runs map[string]bool
	for _, s := range chain {
		for _, h := range s.heavyUnlessRuns {
			if runs == nil {
				runs = entryPrograms(d)
			}
			if !runsAny(runs, h.entry.UnlessRuns) {
				d.add("GL301", h.in, "%s", h.msg)
			}
		}
	}
}

// entryPrograms returns the base names of every word of the shipped
// image's ENTRYPOINT and CMD.
func entryPrograms(d *dockerfile) map[string]bool {
	out := map[string]bool{}
	entry, cmd := effective(d)
	for _, in := range []*instr{entry, cmd} {
		if in == nil {
			continue
		}
		for _, p := range instrProcs(in) {
			for _, a := range p.args {
				out[path.Base(a)] = true
			}
		}
	}
	return out
}

func runsAny(runs map[string]bool, progs []string) bool {
	for _, p := range progs {
		if runs[p] {
			return true
		}
	}
	return false
}

// heavyDeferred is a GL301 finding that counts only if the image does not
// run the component (catalog.Entry.UnlessRuns), decided by checkHeavy.
type heavyDeferred struct {
	in    *instr
	entry *catalog.Entry
	msg   string
}

// reportHeavy adds a GL301 finding of entry e at in, or keeps it for
// checkHeavy when the entry has programs that make it the runtime, or
// drops it when a variable that stops the download is set.
func reportHeavy(d *dockerfile, in *instr, run *script, e *catalog.Entry, format string, args ...any) {
	for _, v := range e.UnlessEnv {
		if _, ok := in.vars.Get(v); ok || strings.Contains(run.text, v) {
			return
		}
	}
	msg := fmt.Sprintf(format, args...) + " " + heavyAdvice(e)
	if len(e.UnlessRuns) > 0 && in.stage != nil {
		in.stage.heavyUnlessRuns = append(in.stage.heavyUnlessRuns, heavyDeferred{in: in, entry: e, msg: msg})
		return
	}
	d.add("GL301", in, "%s", msg)
}

// heavyRun reports the heavy components a RUN of the shipped image
// leaves installed (GL301): packages that survive the RUN (also those an
// xargs reads from a file of the build context), archives of heavy
// components it downloads and unpacks, and browsers or SDKs a command
// fetches; and the same for the install script a RUN runs when a COPY put
// it there from the build context.
func heavyRun(d *dockerfile, in *instr, run *script) {
	cat := catalog.Default()
	got := heavyDownload(cat, run)
	for _, e := range got {
		reportHeavy(d, in, run, e, "this RUN downloads")
	}
	for _, p := range survivors(feedXargs(d, in, run.calls)) {
		// A .deb the RUN downloaded and installs by name is one finding.
		if e := cat.Package(familyOf[p.op.mgr], p.name); e != nil && !slices.Contains(got, e) {
			reportHeavy(d, in, run, e, "%s%s is", p.name, listedIn(p))
		}
	}
	if d.context == "" {
		return
	}
	// RUN /install/chrome.sh: the script COPY'd from the build context
	// installs as much as the RUN would.
	for _, c := range run.calls {
		a := c.argv()
		if c.nested || len(a) == 0 || !(strings.Contains(a[0], "/") || strings.HasSuffix(a[0], ".sh")) {
			continue
		}
		file, shown := copiedScript(d, in.stage.chain(), d.context, a[0], in.workdir)
		if file == "" {
			continue
		}
		sc := runScript(d, in, file)
		if sc == nil {
			continue
		}
		got := heavyDownload(cat, sc)
		for _, e := range got {
			reportHeavy(d, in, sc, e, "%s downloads", shown)
		}
		for _, p := range survivors(feedXargs(d, in, sc.calls)) {
			if e := cat.Package(familyOf[p.op.mgr], p.name); e != nil && !slices.Contains(got, e) {
				reportHeavy(d, in, sc, e, "%s installs %s%s,", shown, p.name, listedIn(p))
			}
		}
	}
}

func listedIn(p installed) string {
	if p.listed == "" {
		return ""
	}
	return " (listed in " + p.listed + ")"
}

// maxListed bounds the words gantry takes from a file xargs reads.
const maxListed = 10000

// feedXargs returns calls with each xargs that reads a file of the build
// context (xargs -a FILE, xargs CMD < FILE, cat FILE | xargs CMD) replaced
// by the command it runs with the file's words as arguments: what
// `xargs apt-get install -y < packages.txt` installs. A file that is not
// at hand (no context, not COPY'd from it, a variable in its name) leaves
// the call as it is: nothing is guessed.
func feedXargs(d *dockerfile, in *instr, calls []*call) []*call {
	if d.context == "" || in.stage == nil {
		return calls
	}
	var out []*call // made at the first xargs fed a file
	for i, c := range calls {
		f := fedCall(d, in, c)
		if f != nil && out == nil {
			out = append(make([]*call, 0, len(calls)), calls[:i]...)
		}
		switch {
		case f != nil:
			out = append(out, f)
		case out != nil:
			out = append(out, c)
		}
	}
	if out == nil {
		return calls
	}
	return out
}

// fedCall returns the command an xargs call runs with the words of the
// build-context file it reads, or nil.
func fedCall(d *dockerfile, in *instr, c *call) *call {
	a := c.argv()
	if len(a) == 0 || path.Base(a[0]) != "xargs" {
		return nil
	}
	file := c.stdin
	for j := 1; j < len(a) && strings.HasPrefix(a[j], "-"); j++ {
		switch {
		case a[j] == "-a" || a[j] == "--arg-file":
			if j+1 < len(a) {
				file = a[j+1]
			}
		case strings.HasPrefix(a[j], "--arg-file="):
			file = strings.TrimPrefix(a[j], "--arg-file=")
		case strings.HasPrefix(a[j], "-a") && len(a[j]) > 2:
			file = a[j][2:]
		}
	}
	cmd, _ := unxargs(a)
	if file == "" || len(cmd) == 0 {
		return nil
	}
	local, shown := copiedScript(d, in.stage.chain(), d.context, absPath(in.workdir, file), in.workdir)
	if local == "" {
		return nil
	}
	words, ok := d.lists[local]
	if !ok {
		// Each list file is read once per Dockerfile, however many RUNs
		// feed it to xargs.
		words = listWords(local)
		if d.lists == nil {
			d.lists = map[string][]string{}
		}
		d.lists[local] = words
	}
	if len(words) == 0 {
		return nil
	}
	args := append(append(make([]string, 0, len(cmd)+len(words)), cmd...), words...)
	return &call{args: args, line: c.line, nested: c.nested, listed: shown}
}

// listWords returns the words of a list file of the build context, as
// xargs splits them (at blanks and newlines), without comment lines; nil
// if the file cannot be read or is over MaxScript bytes. At most
// maxListed words are taken.
func listWords(file string) []string {
	b := readFile(file)
	if b == nil {
		return nil
	}
	var words []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, w := range strings.Fields(line) {
			if len(words) == maxListed {
				return words
			}
			words = append(words, strings.Trim(w, `"'`))
		}
	}
	return words
}

// installed is a package a RUN installs, while the RUN is followed.
type installed struct {
	op     *pkgOp // the install
	name   string // the package, version removed
	auto   bool   // apt-mark auto: an autoremove takes it
	gone   bool
	listed string // the build-context file xargs read the name from, "" if none
}

// survivors returns the packages a RUN installs that are still installed
// when it ends, in order: what the layer ships, not what the RUN mentions.
// It follows the RUN's commands in order: a named remove, purge, del,
// erase or uninstall; apk del of a --virtual group; and the official
// images' idiom of marking every package automatic (apt-mark auto '.*',
// or apt-mark showmanual | xargs apt-mark auto), marking some manual
// again by name, and purging with --auto-remove (or apt-get autoremove).
func survivors(calls []*call) []installed {
	var pkgs []installed
	for _, c := range calls {
		a, fed := unxargs(c.argv())
		if len(a) > 1 && path.Base(a[0]) == "apt-mark" {
			aptMark(pkgs, a[1], a[2:], fed)
			continue
		}
		op := parsePkg(&call{args: a})
		if op == nil {
			continue
		}
		if op.installs() {
			for _, p := range op.pkgs {
				if strings.HasPrefix(p, "$") {
					continue // unknown until the build runs
				}
				pkgs = append(pkgs, installed{op: op, name: pkgName(op.mgr, p), listed: c.listed})
			}
			continue
		}
		fam := familyOf[op.mgr]
		for _, r := range op.removes() {
			for i := range pkgs {
				p := &pkgs[i]
				if familyOf[p.op.mgr] == fam && (p.name == pkgName(op.mgr, r) || (fam == "apk" && p.op.virtual == r)) {
					p.gone = true
				}
			}
		}
		if fam == "apt" && (op.sub == "autoremove" || ((op.sub == "purge" || op.sub == "remove") && hasFlag(op.opts, 0, "auto-remove", "autoremove"))) {
			for i := range pkgs {
				if p := &pkgs[i]; p.auto && familyOf[p.op.mgr] == "apt" {
					p.gone = true
				}
			}
		}
	}
	out := pkgs[:0]
	for _, p := range pkgs {
		if !p.gone {
			out = append(out, p)
		}
	}
	return out
}

// aptMark applies apt-mark SUB ARGS to the packages installed so far: fed
// is true when xargs supplies more arguments (apt-mark showmanual | xargs
// apt-mark auto marks every package).
func aptMark(pkgs []installed, sub string, args []string, fed bool) {
	var auto bool
	switch sub {
	case "auto", "markauto":
		auto = true
	case "manual", "unmarkauto":
	default:
		return
	}
	all := auto && fed
	names := map[string]bool{}
	for _, x := range args {
		switch {
		case strings.HasPrefix(x, "-"), strings.HasPrefix(x, "$"):
		case strings.ContainsAny(x, "*?[^"):
			all = all || auto // a pattern: apt-mark auto '.*'
		default:
			names[x] = true
		}
	}
	for i := range pkgs {
		if p := &pkgs[i]; familyOf[p.op.mgr] == "apt" && (all || names[p.name]) {
			p.auto = auto
		}
	}
}

// unxargs returns the command xargs runs, and whether xargs runs it, or
// argv itself.
func unxargs(a []string) ([]string, bool) {
	if len(a) == 0 || path.Base(a[0]) != "xargs" {
		return a, false
	}
	i := 1
	for i < len(a) && strings.HasPrefix(a[i], "-") {
		switch a[i] {
		case "-I", "-n", "-L", "-d", "-a", "-E", "-P", "-s":
			i++
		}
		i++
	}
	if i >= len(a) {
		return nil, true
	}
	return a[i:], true
}

// pkgName removes the version from a package argument.
func pkgName(mgr, p string) string {
	name, _, _ := strings.Cut(p, "=")
	switch familyOf[mgr] {
	case "apk":
		name, _, _ = strings.Cut(name, "~")
	case "npm", "yarn":
		if i := strings.LastIndexByte(name, '@'); i > 0 {
			name = name[:i] // puppeteer@22, @scope/name@1
		}
	}
	return name
}

func hasCleanup(calls []*call, match func(a []string) bool) bool {
	for _, c := range calls {
		if match(c.argv()) {
			return true
		}
	}
	return false
}

func rmOf(prefixes ...string) func([]string) bool {
	return func(a []string) bool {
		if len(a) == 0 || path.Base(a[0]) != "rm" {
			return false
		}
		for _, x := range a[1:] {
			for _, p := range prefixes {
				if strings.HasPrefix(x, p) {
					return true
				}
			}
		}
		return false
	}
}

func subcmd(mgr string, subs ...string) func([]string) bool {
	return func(a []string) bool {
		if len(a) < 2 || path.Base(a[0]) != mgr {
			return false
		}
		for _, x := range a[1:] {
			if strings.HasPrefix(x, "-") {
				continue
			}
			for _, s := range subs {
				if x == s {
					return true
				}
			}
			return false
		}
		return false
	}
}

func either(fs ...func([]string) bool) func([]string) bool {
	return func(a []string) bool {
		for _, f := range fs {
			if f(a) {
				return true
			}
		}
		return false
	}
}

// checkShipped reports the findings of the stages that ship, kept while
// each stage was read (see stageRules).
func checkShipped(d *dockerfile, _ *Options) {
	for _, s := range d.stages {
		if s.shipped {
			for _, f := range s.pending {
				d.findings.add(f)
			}
		}
		s.pending = nil
	}
}

// pkgOps reads the package manager calls of a RUN, once for the rules
// that look at them, also those xargs runs: with the words of a list file
// when feedXargs fed them, with no packages when the list is not at hand
// (an install all the same, for the rules about its options and caches).
func pkgOps(calls []*call) []*pkgOp {
	var ops []*pkgOp
	for _, c := range calls {
		a, fed := unxargs(c.argv())
		if fed {
			c = &call{args: a, line: c.line, nested: c.nested, listed: c.listed}
		}
		if op := parsePkg(c); op != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// checkRunPackages holds the package manager rules of a RUN of the
// shipped image; ops are its package manager calls (see pkgOps).
func checkRunPackages(d *dockerfile, in *instr, ops []*pkgOp) {
	calls := in.run.calls
	if len(ops) == 0 {
		return
	}
	// Package manager rules look at what ships (the caller keeps what
	// they report for a stage that ships), and stay quiet under a cache
	// mount: there the caches, lists and downloads live in the mount, and
	// the step is written for speed rather than for its layer.
	if in.run.cache {
		return
	}
	for _, op := range ops {
		switch {
		case op.mgr == "apt":
			d.add("GL409", in, "use apt-get instead of apt (apt's interface is not stable for scripts)")
		}
		if !op.installs() && op.sub != "upgrade" && op.sub != "dist-upgrade" && op.sub != "remove" && op.sub != "purge" {
			continue
		}
		switch familyOf[op.mgr] {
		case "apt":
			if op.mgr != "aptitude" && !hasFlag(op.opts, 'y', "yes", "assume-yes") && !strings.Contains(strings.Join(op.opts, " "), "Assume-Yes") {
				d.add("GL408", in, "add -y to %s %s so it does not wait for a confirmation", op.mgr, op.sub)
			}
		case "rpm":
			if op.mgr != "microdnf" && !hasFlag(op.opts, 'y', "assumeyes") {
				d.add("GL408", in, "add -y to %s %s so it does not wait for a confirmation", op.mgr, op.sub)
			}
		case "zypper":
			if !hasFlag(op.opts, 'n', "non-interactive", "no-confirm") && !hasFlag(op.opts, 'y', "no-confirm") {
				d.add("GL408", in, "add -n (zypper -n %s) so it does not wait for a confirmation", op.sub)
			}
		}
	}
	var aptInstall, aptUpdate bool
	var unpinned []string
	for _, op := range ops {
		fam := familyOf[op.mgr]
		if op.sub == "dist-upgrade" || op.sub == "full-upgrade" || (fam == "zypper" && (op.sub == "dist-upgrade" || op.sub == "dup")) {
			d.add("GL411", in, "drop %s %s: rebuild on an updated base image instead", op.mgr, op.sub)
		}
		if fam == "apt" && op.sub == "update" {
			aptUpdate = true
		}
		if !op.installs() {
			continue
		}
		if fam == "apt" {
			aptInstall = true
			if !hasFlag(op.opts, 0, "no-install-recommends") && !strings.Contains(strings.Join(op.opts, " "), "Install-Recommends=") {
				d.add("GL407", in, "add --no-install-recommends to %s install", op.mgr)
			}
		}
		for _, p := range op.pkgs {
			if op.mgr == "gem" && hasFlag(op.opts, 'v', "version") {
				break
			}
			if !pinned(op.mgr, p) {
				unpinned = append(unpinned, p)
			}
		}
		if len(unpinned) > 0 {
			d.add("GL410", in, "pin the version of %s (%s)", strings.Join(unpinned, ", "), pinExample(op.mgr))
			unpinned = nil
		}
		switch {
		case fam == "apt":
			if !hasCleanup(calls, rmOf("/var/lib/apt/lists")) {
				d.add("GL401", in, "add `&& rm -rf /var/lib/apt/lists/*` at the end of this RUN")
			}
		case fam == "apk":
			if !hasFlag(op.opts, 0, "no-cache") && !hasCleanup(calls, either(rmOf("/var/cache/apk"), subcmd("apk", "cache"))) {
				d.add("GL402", in, "use apk add --no-cache")
			}
		case fam == "rpm" || fam == "zypper":
			if !hasCleanup(calls, either(subcmd(op.mgr, "clean", "cc"), rmOf("/var/cache/yum", "/var/cache/dnf", "/var/cache/zypp", "/var/cache/microdnf"))) {
				d.add("GL403", in, "add `&& %s clean all` at the end of this RUN", op.mgr)
			}
		case fam == "pip":
			env := in.vars.has("PIP_NO_CACHE_DIR")
			if !env && !hasFlag(op.opts, 0, "no-cache-dir") && !hasCleanup(calls, either(subcmd("pip", "cache"), subcmd("pip3", "cache"), rmOf("/root/.cache", "~/.cache", "$HOME/.cache"))) {
				d.add("GL404", in, "add --no-cache-dir to pip install (or set ENV PIP_NO_CACHE_DIR=1)")
			}
		case fam == "npm":
			if !hasCleanup(calls, either(subcmd("npm", "cache"), rmOf("/root/.npm", "~/.npm", "$HOME/.npm"))) {
				d.add("GL405", in, "add `&& npm cache clean --force` to this RUN, or use RUN --mount=type=cache,target=/root/.npm")
			}
		case fam == "yarn":
			if !hasCleanup(calls, subcmd("yarn", "cache")) {
				d.add("GL405", in, "add `&& yarn cache clean` to this RUN, or use RUN --mount=type=cache")
			}
		}
	}
	if aptUpdate && !aptInstall {
		d.add("GL406", in, "run apt-get update && apt-get install in one RUN: a cached update layer installs stale versions")
	}
}

func pinExample(mgr string) string {
	switch mgr {
	case "apt-get", "apt", "aptitude", "apk":
		return "name=version"
	case "pip":
		return "name==version"
	case "npm", "yarn":
		return "name@version"
	case "gem":
		return "name:version"
	case "go":
		return "module@version"
	}
	return "name-version"
}

// layerEvents keeps, for GL501, a COPY or ADD destination (the first
// maxAdded of a stage) or the targets of a RUN's recursive chown or chmod.
func layerEvents(s *stage, in *instr) {
	switch c := in.cmd.(type) {
	case *instructions.CopyCommand:
		if s.adds < maxAdded {
			s.adds++
			s.layerEvents = append(s.layerEvents, layerEvent{in: in, dest: c.DestPath})
		}
	case *instructions.AddCommand:
		if s.adds < maxAdded {
			s.adds++
			s.layerEvents = append(s.layerEvents, layerEvent{in: in, dest: c.DestPath})
		}
	case *instructions.RunCommand:
		if in.run == nil {
			return
		}
		for _, call := range in.run.calls {
			a := call.argv()
			if len(a) < 3 || (path.Base(a[0]) != "chown" && path.Base(a[0]) != "chmod") || !hasFlag(a[1:], 'R', "recursive") {
				continue
			}
			var targets []string
			seenSpec := false
			for _, x := range a[1:] {
				if strings.HasPrefix(x, "-") {
					continue
				}
				if !seenSpec {
					seenSpec = true
					continue
				}
				targets = append(targets, absPath(in.workdir, x))
			}
			s.layerEvents = append(s.layerEvents, layerEvent{in: in, tool: path.Base(a[0]), targets: targets})
		}
	}
}

// maxAdded bounds the COPY/ADD destinations GL501 compares with: beyond
// realistic Dockerfiles, it keeps hostile ones linear.
const maxAdded = 1000

// checkLayers finds recursive chown/chmod over what COPY or ADD added in
// an earlier layer of the shipped image.
func checkLayers(d *dockerfile, _ *Options) {
	if len(d.stages) == 0 {
		return
	}
	var added []string // absolute destinations of COPY/ADD so far, at most maxAdded
	for _, s := range d.stages[len(d.stages)-1].chain() {
		for _, e := range s.layerEvents {
			if e.tool == "" {
				if len(added) < maxAdded {
					added = append(added, absDest(d, e.in, e.dest))
				}
				continue
			}
		targets:
			for _, t := range e.targets {
				for _, dst := range added {
					if overlaps(t, dst) {
						flag := "--chown"
						if e.tool == "chmod" {
							flag = "--chmod"
						}
						d.add("GL501", e.in, "%s -R %s copies every file COPY/ADD put in %s into a new layer: use COPY %s instead", e.tool, t, dst, flag)
						break targets
					}
				}
			}
		}
	}
}

func absDest(d *dockerfile, in *instr, dest string) string {
	return absPath(in.workdir, d.expand(in, dest, in.vars))
}

func absPath(workdir, p string) string {
	if !strings.HasPrefix(p, "/") {
		if workdir == "" {
			workdir = "/"
		}
		p = workdir + "/" + p
	}
	return path.Clean(p)
}

// overlaps reports whether a and b are the same path or one contains the
// other.
func overlaps(a, b string) bool {
	if a == b || a == "/" || b == "/" {
		return true
	}
	return strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}
