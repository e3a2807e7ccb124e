package lint

import (
	"path"
	"regexp"
	"strings"

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

func (op *pkgOp) system() bool {
	f := familyOf[op.mgr]
	return f == "apt" || f == "apk" || f == "rpm" || f == "zypper"
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

// heavy matches packages that belong in a build stage, not in what ships.
var heavy = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`^(openjdk-?\d*(-jdk)?(-headless)?|default-jdk(-headless)?|java-[\d.]+-openjdk-devel|temurin-\d+-jdk|openjdk\d+(-jdk)?|maven|gradle|ant)$`), "a JDK or Java build tool"},
	{regexp.MustCompile(`^(chromium(-browser)?|google-chrome(-stable|-beta|-unstable)?|chromium-headless-shell)$`), "a Chromium/Chrome browser"},
	{regexp.MustCompile(`^(elasticsearch|opensearch)$`), "Elasticsearch"},
	{regexp.MustCompile(`^(gcc(-\d+)?|g\+\+(-\d+)?|gcc-c\+\+|clang(-\d+)?|llvm(-\d+)?|build-essential|build-base|cmake|golang(-go)?|go|rustc|cargo|gfortran|make|autoconf|automake|libtool)$`), "a compiler or build tool"},
	{regexp.MustCompile(`-(dev|devel)$`), "development headers"},
}

func heavyKind(p string) string {
	name, _, _ := strings.Cut(p, "=")
	for _, h := range heavy {
		if h.re.MatchString(name) {
			return h.what
		}
	}
	return ""
}

// heavyURL matches the download addresses of heavy components that
// arrive as archives or .deb files rather than packages: JDK builds
// (Temurin, OpenJDK, Zulu, Corretto; not their JREs), Chrome and Firefox,
// Elasticsearch, and Go toolchains.
var heavyURL = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?i)https?://\S*(OpenJDK\d+U?-jdk_|openjdk-[\d.]+_[a-z0-9-]+_bin\.tar|/jdk-?\d[\w.+-]*_linux[\w.-]*\.tar|zulu[\w.-]*-jdk[\w.-]*\.tar|amazon-corretto-[\w.-]*-jdk|corretto[\w.-]*-jdk)`), "a JDK"},
	{regexp.MustCompile(`https?://\S*(google-chrome-stable|chrome-linux|chromium-browser-snapshots|download\.mozilla\.org/\?product=firefox|firefox-[\d.]+\.tar)`), "a browser"},
	{regexp.MustCompile(`https?://\S*/(elasticsearch|logstash|kibana)-\d[\w.-]*\.tar`), "Elasticsearch"},
	{regexp.MustCompile(`https?://\S*/go[\d.]+\.linux-[\w]+\.tar\.gz`), "a Go toolchain"},
}

// heavyDownload returns what heavy component a RUN downloads and unpacks
// (tar, unzip, dpkg -i or apt-get install of a .deb), or what browsers a
// test framework fetches (playwright install), or "".
func heavyDownload(run *script) string {
	unpacks := false
	for _, c := range run.calls {
		a := c.argv()
		switch c.name() {
		case "tar", "unzip", "dpkg":
			unpacks = true
		case "apt-get", "apt":
			for _, x := range a[1:] {
				unpacks = unpacks || strings.HasSuffix(x, ".deb")
			}
		}
		for i, x := range a {
			if (x == "playwright" || x == "playwright-core") && i+1 < len(a) && a[i+1] == "install" &&
				!(i+2 < len(a) && a[i+2] == "install-deps") {
				return "the browsers of playwright"
			}
		}
	}
	if !unpacks || run.text == "" {
		return ""
	}
	for _, h := range heavyURL {
		if h.re.MatchString(run.text) {
			return h.what
		}
	}
	return ""
}

// heavyCopyDir matches toolchain directories copied from another stage or
// image into what ships.
var heavyCopyDir = regexp.MustCompile(`^/usr/local/go/?$|^/usr/local/(rustup|cargo)/?$|^/usr/lib/jvm/[^/]*jdk`)

// heavyCopy reports COPY --from of a toolchain directory (GL301).
func heavyCopy(d *dockerfile, in *instr, c *instructions.CopyCommand) {
	for _, src := range c.SourcePaths {
		if src = d.expand(in, src, in.vars); heavyCopyDir.MatchString(src) {
			d.add("GL301", in, "COPY --from copies the toolchain %s: build in a stage and COPY only the result into the final stage", src)
			return
		}
	}
}

// heavyBase matches toolchain images that should not be the base of what
// ships.
var heavyBase = regexp.MustCompile(`^(library/)?(golang|rust|gcc|maven|gradle|buildpack-deps|sbt|openjdk|eclipse-temurin|amazoncorretto|ibm-semeru-runtimes|dotnet/sdk|elasticsearch|browsers|included|manylinux\w*)$`)

func checkHeavy(d *dockerfile, _ *Options) {
	if len(d.stages) == 0 {
		return
	}
	chain := d.stages[len(d.stages)-1].chain()
	if root := chain[0]; root.baseStage == nil && !unresolved(root.base) {
		ref := parseImageRef(root.base)
		repo := strings.TrimPrefix(ref.repo, "library/")
		if i := strings.LastIndexByte(repo, '/'); i >= 0 && !strings.HasPrefix(repo, "dotnet/") {
			repo = repo[i+1:]
		}
		jdk := repo == "openjdk" || repo == "eclipse-temurin" || repo == "amazoncorretto" || repo == "ibm-semeru-runtimes"
		// php's Debian variants keep $PHPIZE_DEPS (gcc, g++, make) for
		// phpize; its Alpine variants delete them.
		php := repo == "php" && ref.tag != "" && !strings.Contains(ref.tag, "alpine")
		if (php || heavyBase.MatchString(repo)) && !(jdk && strings.Contains(ref.tag, "jre")) {
			d.add("GL302", root.from, "ship a runtime image, not %s: build in a stage and COPY --from it into a slim base", root.base)
		}
	}
}

// heavyRun reports the heavy components a RUN of the shipped image
// leaves installed (GL301): packages that survive the RUN, and archives of
// heavy components it downloads and unpacks.
func heavyRun(d *dockerfile, in *instr, run *script) {
	calls := run.calls
	if what := heavyDownload(run); what != "" {
		d.add("GL301", in, "this RUN downloads and unpacks %s: install it in a build stage and COPY only the result into the final stage", what)
	}
	for _, p := range survivors(calls) {
		if !p.op.system() {
			continue
		}
		if what := heavyKind(p.name); what != "" {
			d.add("GL301", in, "%s is %s: install it in a build stage and COPY only the result into the final stage", p.name, what)
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
		if what := heavyDownload(sc); what != "" {
			d.add("GL301", in, "%s downloads and unpacks %s: install it in a build stage and COPY only the result into the final stage", shown, what)
		}
		for _, p := range survivors(sc.calls) {
			if what := heavyKind(p.name); what != "" && p.op.system() {
				d.add("GL301", in, "%s installs %s, %s: install it in a build stage and COPY only the result into the final stage", shown, p.name, what)
			}
		}
	}
}

// installed is a package a RUN installs, while the RUN is followed.
type installed struct {
	op   *pkgOp // the install
	name string // the package, version removed
	auto bool   // apt-mark auto: an autoremove takes it
	gone bool
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
				pkgs = append(pkgs, installed{op: op, name: pkgName(op.mgr, p)})
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
	if familyOf[mgr] == "apk" {
		name, _, _ = strings.Cut(name, "~")
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
// that look at them.
func pkgOps(calls []*call) []*pkgOp {
	var ops []*pkgOp
	for _, c := range calls {
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
