package image

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/catalog"
	"github.com/gantry-dev/gantry/internal/analyze/lint"
	"github.com/gantry-dev/gantry/internal/analyze/report"
)

// Rule IDs of gantry check. They are stable: configs and ignores name them.
const (
	RuleUnreadable      = "GC000"
	RuleSize            = "GC001"
	RuleMaxSize         = "GC002"
	RuleMaxLayers       = "GC003"
	RuleWasted          = "GC004"
	RuleLayerHides      = "GC005"
	RuleLayerHidden     = "GC006"
	RuleImpliedDirs     = "GC007"
	RuleHeavy           = "GC010"
	RuleBuildEssential  = "GC011"
	RuleProcessManager  = "GC020"
	RuleRootUser        = "GC030"
	RuleUnknownUser     = "GC031"
	RuleSetuid          = "GC032"
	RuleEmptyPassword   = "GC033"
	RuleDuplicateUID    = "GC034"
	RuleSecretEnv       = "GC040"
	RuleSecretHistory   = "GC041"
	RuleSecretFile      = "GC042"
	RuleBuildContext    = "GC050"
	RulePackageCache    = "GC051"
	RuleBaseImage       = "GC060"
	RuleSharedBaseLayer = "GC061"
	RuleDockerfileLink  = "GC070"
)

// Rules describes every rule of gantry check, for SARIF output.
var Rules = []report.Rule{
	{ID: RuleUnreadable, Name: "ImageUnreadable", Severity: report.Error, Summary: "The image could not be read: missing or corrupt layer, hostile tar entry, or over a limit."},
	{ID: RuleSize, Name: "ImageSize", Severity: report.Info, Summary: "The image's size, compressed and uncompressed, and its layer count."},
	{ID: RuleMaxSize, Name: "ImageSizeBudget", Severity: report.Error, Summary: "The image is over the size budget (--max-size)."},
	{ID: RuleMaxLayers, Name: "LayerBudget", Severity: report.Error, Summary: "The image has more layers than the budget (--max-layers)."},
	{ID: RuleWasted, Name: "WastedBytes", Severity: report.Info, Summary: "Bytes the layers store that the final filesystem does not show (deleted or overwritten by later layers)."},
	{ID: RuleLayerHides, Name: "LayerHidesBytes", Severity: report.Info, Summary: "A layer deletes or overwrites files earlier layers stored: the bytes stay in the image."},
	{ID: RuleLayerHidden, Name: "LayerBytesHiddenLater", Severity: report.Info, Summary: "With --dockerfile: an instruction's layer stores bytes that later instructions delete or overwrite."},
	{ID: RuleImpliedDirs, Name: "ImpliedDirectoryLimit", Severity: report.Error, Summary: "A layer lists files under more directories that no entry names than gantry stacks (65,536 and one per entry of the image): those files were left out of the analysis."},
	{ID: RuleHeavy, Name: "HeavyComponent", Severity: report.Warning, Summary: "A heavy component of the catalogue gantry lint uses (JDK, Java runtime, browser, test-framework browsers, Android SDK, Elasticsearch, toolchain, compiler) is in the final filesystem, found by its installed files; the finding gives its typical size and what to ship instead."},
	{ID: RuleBuildEssential, Name: "BuildToolsLeftOver", Severity: report.Warning, Summary: "build-essential is installed in the final image."},
	{ID: RuleProcessManager, Name: "ProcessManagerEntrypoint", Severity: report.Error, Summary: "The entrypoint or command is a process manager (systemd, init, supervisord, s6, runit, openrc), or a shell script of the image that starts one, starts processes in the background and waits, or starts several services: run one process per container."},
	{ID: RuleRootUser, Name: "RootUser", Severity: report.Warning, Summary: "The container runs as root."},
	{ID: RuleUnknownUser, Name: "UnknownUser", Severity: report.Error, Summary: "The configured user is not in the image's /etc/passwd: the container cannot start."},
	{ID: RuleSetuid, Name: "SetuidFile", Severity: report.Info, Summary: "A setuid or setgid file."},
	{ID: RuleEmptyPassword, Name: "EmptyPassword", Severity: report.Error, Summary: "An account in /etc/shadow has an empty password."},
	{ID: RuleDuplicateUID, Name: "DuplicateUID", Severity: report.Warning, Summary: "Several accounts in /etc/passwd share a UID."},
	{ID: RuleSecretEnv, Name: "SecretInEnv", Severity: report.Error, Summary: "A secret in the config's environment, readable by anyone who pulls the image."},
	{ID: RuleSecretHistory, Name: "SecretInHistory", Severity: report.Error, Summary: "A secret in the image history (build arguments, RUN lines)."},
	{ID: RuleSecretFile, Name: "SecretFile", Severity: report.Error, Summary: "A secret-looking file (private key, .env, cloud credentials) in a layer, deleted later or not."},
	{ID: RuleBuildContext, Name: "BuildContextLeftover", Severity: report.Warning, Summary: "Build-context leftovers (.git, IDE folders, the Dockerfile) in the image: add them to .dockerignore."},
	{ID: RulePackageCache, Name: "PackageCacheLeftover", Severity: report.Warning, Summary: "A package manager cache left in the image."},
	{ID: RuleBaseImage, Name: "BaseImage", Severity: report.Info, Summary: "The base image, from the OCI base-image annotations."},
	{ID: RuleSharedBaseLayer, Name: "SharedLayers", Severity: report.Info, Summary: "The longest layer prefix the image shares with another image checked: its likely base."},
	{ID: RuleDockerfileLink, Name: "DockerfileLink", Severity: report.Warning, Summary: "With --dockerfile: how the Dockerfile's instructions link to the image's layers, and why not when it does not match the image."},
}

type finder struct {
	r    *Result
	opts Options
	out  []report.Finding
}

func (f *finder) add(rule string, sev report.Severity, layer int, bytes int64, msg string, args ...any) {
	fd := report.Finding{Rule: rule, Severity: sev, Message: fmt.Sprintf(msg, args...), Image: f.r.Image, Bytes: bytes}
	if layer >= 0 && layer < len(f.r.Layers) {
		fd.Layer = f.r.Layers[layer].Digest.String()
	}
	f.out = append(f.out, fd)
}

// layerName names layer i for a message: "layer 3 (RUN apt-get ...)", or
// "layer 1 (squashed: instruction unknown)".
func (f *finder) layerName(i int) string {
	if i < 0 || i >= len(f.r.Layers) {
		return "no layer"
	}
	s := fmt.Sprintf("layer %d", i+1)
	if f.r.Layers[i].Squashed {
		return s + " (squashed: instruction unknown)"
	}
	if cb := shortCmd(f.r.Layers[i].CreatedBy); cb != "" {
		s += " (" + cb + ")"
	}
	return s
}

// shortCmd trims a history instruction for messages.
func shortCmd(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "/bin/sh -c"))
	s = strings.TrimSpace(strings.TrimPrefix(s, "#(nop)"))
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func findings(r *Result, opts Options) []report.Finding {
	f := &finder{r: r, opts: opts}
	f.sizes()
	f.unstacked()
	f.walkFS()
	f.process()
	f.users()
	f.secrets()
	f.base()
	report.Sort(f.out)
	return f.out
}

func (f *finder) sizes() {
	r := f.r
	f.add(RuleSize, report.Info, -1, r.Size, "%s uncompressed in %d layers, %s to pull", report.Bytes(r.Size), len(r.Layers), report.Bytes(r.Compressed))
	if f.opts.MaxSize > 0 && r.Size > f.opts.MaxSize {
		f.add(RuleMaxSize, report.Error, -1, r.Size, "image is %s, over the %s budget", report.Bytes(r.Size), report.Bytes(f.opts.MaxSize))
	}
	if f.opts.MaxLayers > 0 && len(r.Layers) > f.opts.MaxLayers {
		f.add(RuleMaxLayers, report.Error, -1, 0, "image has %d layers, over the budget of %d", len(r.Layers), f.opts.MaxLayers)
	}
	sev := report.Info
	if r.Wasted > 10<<20 && r.Wasted*10 > r.Stored {
		sev = report.Warning
	}
	f.add(RuleWasted, sev, -1, r.Wasted,
		"%s wasted: layers store %s of files, the final filesystem shows %s (dive would report %s: it also counts the surviving copy of a file changed in several layers, ignores opaque directories and counts a deleted directory's contents only if their paths appear twice)",
		report.Bytes(r.Wasted), report.Bytes(r.Stored), report.Bytes(r.Size), report.Bytes(r.DiveWasted))
	for j, l := range r.Layers {
		if l.Hides < 64<<10 {
			continue
		}
		var from []int
		var tops []string
		for _, t := range l.Top {
			tops = append(tops, fmt.Sprintf("/%s (%s, layer %d)", t.Path, report.Bytes(t.Bytes), t.Layer+1))
			if !slices.Contains(from, t.Layer+1) {
				from = append(from, t.Layer+1)
			}
		}
		sev := report.Info
		if l.Hides > 10<<20 {
			sev = report.Warning
		}
		f.add(RuleLayerHides, sev, j, l.Hides, "%s deletes or overwrites %s that earlier layers still store, largest: %s; do the work and the cleanup in one layer, or in an earlier build stage",
			f.layerName(j), report.Bytes(l.Hides), strings.Join(tops, ", "))
	}
}

// unstacked reports, for each layer, the entries left out of the final
// filesystem because their parents would pass the bound on implied
// directories (Limits.MaxImpliedDirs), with the first of them.
func (f *finder) unstacked() {
	fs := f.r.fs
	for i, n := range fs.unstacked {
		if n == 0 {
			continue
		}
		p := fs.firstUnstacked[i]
		f.add(RuleImpliedDirs, report.Error, i, fs.unstackedBytes[i],
			"%s: %d of its %d entries (%s of files) were left out of the analysis, from /%s (under %d directories) on: their paths need more directories that no entry names than the %d gantry makes for this image, so sizes, wasted bytes and filesystem findings do not count them; a layer whose tar lists its directories stays within the bound",
			f.layerName(i), n, f.r.Layers[i].Entries, report.Bytes(fs.unstackedBytes[i]), shortPath(p), strings.Count(p, "/"), fs.maxImplied)
	}
}

// shortPath shortens a long path for a message, keeping both ends.
func shortPath(p string) string {
	const keep = 48
	if len(p) <= 2*keep+16 {
		return p
	}
	return p[:keep] + "..." + p[len(p)-keep:]
}

// vendoredDirs hold files installed by package managers: a Dockerfile or
// .git below them is not a build-context leftover.
var vendoredDirs = []string{"node_modules", "site-packages", "dist-packages", "usr/share", "go/pkg/mod", "usr/lib"}

// heavy is a heavy component found in the final filesystem: its entry in
// the catalogue, the directory it lives in and the layer that added the
// file that marked it.
type heavy struct {
	entry *catalog.Entry
	order int // the entry's index in the catalogue
	root  string
	layer int
}

// classifyHeavy returns the heavy component whose installed files (the
// catalogue's files patterns) the file at p is one of, and the length of
// the prefix of p that is the directory the component lives in; nil if
// none. Only regular files (and hard links to them) mark one: each is an
// entry of a layer, so the paths classified cost no more than the layers'
// headers, where directories may be implied by the million, and a symbolic
// link such as /usr/bin/javac does not make /usr a JDK.
func classifyHeavy(p []byte, n *node) (*catalog.Entry, int) {
	if n.kind != KindFile && n.kind != KindHardlink {
		return nil, 0
	}
	return catalog.Default().File(p, n.size)
}

// heavyFound gathers the heavy components of the final filesystem by the
// directory they live in.
type heavyFound map[string]heavy

// add records e in root, marked by a file of layer: in a directory found
// by several entries, the one first in the catalogue names it (a JDK
// rather than the Java runtime inside it).
func (hf heavyFound) add(e *catalog.Entry, root string, layer int) {
	order := slices.Index(catalog.Default().Entries, e)
	if h, ok := hf[root]; !ok || order < h.order {
		hf[root] = heavy{entry: e, order: order, root: root, layer: layer}
	}
}

// outermost returns the components not inside another's directory, by
// path: a JDK that Elasticsearch bundles is part of Elasticsearch.
func (hf heavyFound) outermost() []heavy {
	roots := slices.Sorted(maps.Keys(hf))
	var out []heavy
	for _, r := range roots {
		inside := slices.ContainsFunc(out, func(h heavy) bool {
			return h.root == "" || strings.HasPrefix(r, h.root+"/")
		})
		if !inside {
			out = append(out, hf[r])
		}
	}
	return out
}

// cacheDirs are package-manager caches, by path or path suffix.
var cacheDirs = []struct{ suffix, what string }{
	{"var/cache/apt/archives", "apt downloaded packages (.deb)"},
	{"var/lib/apt/lists", "apt package lists"},
	{"var/cache/apk", "apk cache"},
	{"var/cache/yum", "yum cache"},
	{"var/cache/dnf", "dnf cache"},
	{".cache/pip", "pip cache"},
	{".npm/_cacache", "npm cache"},
	{".cache/yarn", "yarn cache"},
	{".cache/go-build", "Go build cache"},
}

// walkFS looks through the final filesystem once for heavy components,
// setuid files, build-context leftovers and package caches. Its work on a
// directory is bounded by its name, not its path (see fsys.walk): a path is
// made into a string for entries of layers and for findings only.
func (f *finder) walkFS() {
	fs := f.r.fs
	seenRoot := map[string]bool{}
	found := heavyFound{}
	defer f.heavy(found)
	// skipBelow is the depth of the cache or leftover directory whose tree
	// is being walked (not looked at for caches and leftovers again), and
	// vendoredBelow that of the shallowest directory of vendored or
	// packaged files (vendoredDirs) above the current path; 0 for none.
	// The walk goes depth first, so a tree is the run of deeper paths
	// after its top.
	skipBelow, vendoredBelow := 0, 0
	fs.walk(func(pb []byte, depth int, n *node) {
		if n.kind != KindDir {
			if e, root := classifyHeavy(pb, n); e != nil {
				found.add(e, string(pb[:root]), n.layer)
			}
		}
		if n.kind == KindFile && n.mode&0o6000 != 0 {
			what := "setuid"
			if n.mode&0o4000 == 0 {
				what = "setgid"
			} else if n.mode&0o2000 != 0 {
				what = "setuid and setgid"
			}
			f.add(RuleSetuid, report.Info, n.layer, 0, "/%s is %s (mode %04o, owner %d), added by %s", pb, what, n.mode, n.uid, f.layerName(n.layer))
		}
		if string(pb) == "var/lib/dpkg/info/build-essential.list" || string(pb) == "usr/share/doc/build-essential" {
			if !seenRoot["build-essential"] {
				seenRoot["build-essential"] = true
				f.add(RuleBuildEssential, report.Warning, n.layer, 0, "build-essential is installed (by %s): compile in a build stage", f.layerName(n.layer))
			}
		}
		if vendoredBelow > 0 && depth <= vendoredBelow {
			vendoredBelow = 0
		}
		vendored := vendoredBelow > 0
		if !vendored && n.kind == KindDir {
			for _, v := range vendoredDirs {
				if hasPathSuffix(pb, v) {
					vendoredBelow = depth
					break
				}
			}
		}
		if skipBelow > 0 {
			if depth > skipBelow {
				return
			}
			skipBelow = 0
		}
		for _, c := range cacheDirs {
			if n.kind == KindDir && hasPathSuffix(pb, c.suffix) {
				size, layer := cacheBytes(n, ".deb", strings.HasSuffix(c.suffix, "apt/archives"))
				if size >= 1024 {
					f.add(RulePackageCache, report.Warning, layer, size, "%s left in /%s (%s, mostly from %s): clean it in the layer that fills it",
						c.what, pb, report.Bytes(size), f.layerName(layer))
				}
				skipBelow = depth
				return
			}
		}
		base := pb[bytes.LastIndexByte(pb, '/')+1:]
		if !vendored && leftover(string(base), n) {
			size := du(n)
			what := "build-context leftover"
			switch string(base) {
			case ".git":
				what = "git repository"
			case ".idea", ".vscode":
				what = "IDE settings"
			}
			f.add(RuleBuildContext, report.Warning, n.layer, size, "%s /%s (%s), added by %s: list it in .dockerignore", what, pb, report.Bytes(size), f.layerName(n.layer))
			if n.kind == KindDir {
				skipBelow = depth
			}
		}
	})
}

// heavy reports the heavy components found (GC010), each by its
// catalogue entry, priced at the bytes below its directory.
func (f *finder) heavy(found heavyFound) {
	var runs map[string]bool
	for _, h := range found.outermost() {
		if len(h.entry.UnlessRuns) > 0 {
			if runs == nil {
				runs = f.entryPrograms()
			}
			if slices.ContainsFunc(h.entry.UnlessRuns, func(p string) bool { return runs[p] }) {
				continue // the image's runtime (a JRE under CMD ["java", ...])
			}
		}
		size := du(f.r.fs.lookup(h.root))
		f.add(RuleHeavy, report.Warning, h.layer, size, "%s in /%s (%s here, typically %s installed), added by %s: instead, %s",
			h.entry.What, h.root, report.Bytes(size), h.entry.Size, f.layerName(h.layer), h.entry.Instead)
	}
}

// entryPrograms returns the base names of the words of the image's
// ENTRYPOINT and CMD, as gantry lint reads them for the catalogue's
// unless-runs: a program named anywhere in them may be what the image
// runs.
func (f *finder) entryPrograms() map[string]bool {
	cfg := f.r.Loaded.Config.Config
	out := map[string]bool{}
	for _, a := range append(slices.Clone(cfg.Entrypoint), cfg.Cmd...) {
		for _, w := range strings.Fields(a) { // sh -c "exec java -jar app.jar"
			out[path.Base(w)] = true
		}
	}
	return out
}

// hasPathSuffix reports whether p's last components are suffix ("usr/share"
// matches "usr/share" and "x/usr/share", not "xusr/share").
func hasPathSuffix(p []byte, suffix string) bool {
	n := len(suffix)
	return len(p) >= n && string(p[len(p)-n:]) == suffix && (len(p) == n || p[len(p)-n-1] == '/')
}

// leftover reports whether n, named base, is a build-context leftover; the
// walk has already ruled out paths under one of vendoredDirs.
func leftover(base string, n *node) bool {
	switch {
	case n.kind == KindDir && base == ".git":
		return n.children["HEAD"] != nil || n.children["config"] != nil || n.children["objects"] != nil
	case n.kind == KindDir && (base == ".idea" || base == ".vscode"):
		return true
	case n.kind == KindFile && (base == "Dockerfile" || base == "Containerfile" || base == ".dockerignore" ||
		strings.HasPrefix(base, "Dockerfile.") || strings.HasSuffix(base, ".Dockerfile") || strings.HasSuffix(base, ".dockerfile")):
		return true
	}
	return false
}

// cacheBytes sums the files of a cache directory (with only, just those
// whose name ends in suffix: the .deb files of apt archives, not the lock
// file) and names the layer that put most of it there.
func cacheBytes(n *node, suffix string, only bool) (int64, int) {
	byLayer := map[int]int64{}
	var rec func(name string, n *node)
	rec = func(name string, n *node) {
		if n.kind == KindFile && (!only || strings.HasSuffix(name, suffix)) {
			byLayer[n.layer] += n.size
		}
		for name, c := range n.children {
			rec(name, c)
		}
	}
	rec("", n)
	var total, best int64
	layer := -1
	for l, b := range byLayer {
		total += b
		if b > best || (b == best && l < layer) {
			best, layer = b, l
		}
	}
	return total, layer
}

// process reports a process manager as the container's process (GC020),
// with lint.FollowEntrypoint, the walk gantry lint makes of the scripts of
// a build context, over the image's final filesystem: the program
// ENTRYPOINT/CMD runs, through sh -c, wrappers and symbolic links; else
// what the shell scripts it runs start, followed along the command each
// ends with: a process manager, processes in the background that the
// script waits for, or several services; else, when no script could be
// read, a process manager that the image holds, named by absolute path in
// a later position of ENTRYPOINT/CMD (["/usr/local/bin/entrypoint",
// "/sbin/init"] where the entrypoint is a binary).
func (f *finder) process() {
	cfg := f.r.Loaded.Config.Config
	argv := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(argv) == 0 {
		return
	}
	what := "ENTRYPOINT/CMD"
	if len(cfg.Entrypoint) == 0 {
		what = "CMD"
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range cfg.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	const why = "the container stays up while its services die, and signals and logs go to the manager; run one process per container (tini or dumb-init if it needs an init)"
	files := imageFiles{f: f, pathEnv: pathEnv, workdir: cfg.WorkingDir}
	e := lint.FollowEntrypoint(files, argv)
	runs := what
	if e.Script != "" {
		runs += " runs " + e.Script + ", which"
	}
	switch e.Kind {
	case lint.EntrypointManager:
		if strings.Contains(e.Manager, "/init") {
			if !f.s6Overlay() {
				return // a plain /init script, not s6-overlay's (lint cannot tell them apart)
			}
			e.Manager = "s6-overlay's /init"
		}
		f.add(RuleProcessManager, report.Error, -1, 0, "%s starts %s: %s", runs, e.Manager, why)
		return
	case lint.EntrypointBackground:
		f.add(RuleProcessManager, report.Error, -1, 0, "%s starts %d processes in the background and waits for them: nothing restarts one that dies, and only the last gets signals; run one process per container", runs, e.Count)
		return
	case lint.EntrypointServices:
		f.add(RuleProcessManager, report.Error, -1, 0, "%s starts %d services: nothing restarts one that dies; run one service per container", runs, e.Count)
		return
	}
	if len(e.Read) > 0 {
		return // the scripts say what their arguments become
	}
	for _, a := range argv[1:] {
		if !strings.HasPrefix(a, "/") || a == "/init" && !f.s6Overlay() {
			continue
		}
		if pm := lint.ProgramManager(files, []string{a}); pm != "" {
			f.add(RuleProcessManager, report.Error, -1, 0, "%s passes %s, %s, to %s: %s", what, a, pm, argv[0], why)
			return
		}
	}
}

// s6Overlay reports whether the image has s6-overlay installed.
func (f *finder) s6Overlay() bool {
	return f.r.fs.lookup("etc/s6-overlay") != nil || f.r.fs.lookup("package/admin/s6-overlay") != nil
}

// lookPath finds prog in the image as the runtime would (PATH search for a
// bare name) and follows symlinks: the path it ends at and its node.
func (f *finder) lookPath(prog, pathEnv string) (string, *node) {
	if strings.Contains(prog, "/") {
		return f.r.fs.resolve(prog)
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			continue
		}
		if p, n := f.r.fs.resolve(path.Join(dir, prog)); n != nil {
			return p, n
		}
	}
	return "", nil
}

type passwdEntry struct {
	name string
	uid  int
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	for _, l := range lines(b) {
		fs := strings.Split(l, ":")
		if len(fs) < 4 || strings.HasPrefix(l, "#") {
			continue
		}
		uid, err := strconv.Atoi(fs[2])
		if err != nil {
			continue
		}
		out = append(out, passwdEntry{fs[0], uid})
	}
	return out
}

func (f *finder) users() {
	fs := f.r.fs
	passwdLayer := -1
	if n := fs.lookup("etc/passwd"); n != nil {
		passwdLayer = n.layer
	}
	passwd := parsePasswd(f.r.files["etc/passwd"])
	user := f.r.Loaded.Config.Config.User
	name, _, _ := strings.Cut(user, ":")
	switch uid, err := strconv.Atoi(name); {
	case name == "" || name == "root":
		f.add(RuleRootUser, report.Warning, -1, 0, "the container runs as root (USER %q): add a user and switch to it", user)
	case err == nil && uid == 0:
		f.add(RuleRootUser, report.Warning, -1, 0, "the container runs as UID 0 (USER %q)", user)
	case err != nil:
		found := false
		for _, e := range passwd {
			if e.name == name {
				found = true
				if e.uid == 0 {
					f.add(RuleRootUser, report.Warning, passwdLayer, 0, "user %q has UID 0 in /etc/passwd: the container runs as root", name)
				}
			}
		}
		if !found {
			f.add(RuleUnknownUser, report.Error, passwdLayer, 0, "USER %q is not in the image's /etc/passwd: the runtime cannot start the container; use a numeric UID or add the user", user)
		}
	}
	uids := map[int][]string{}
	for _, e := range passwd {
		uids[e.uid] = append(uids[e.uid], e.name)
	}
	dup := make([]int, 0)
	for uid, names := range uids {
		if len(names) > 1 {
			dup = append(dup, uid)
		}
	}
	sort.Ints(dup)
	for _, uid := range dup {
		f.add(RuleDuplicateUID, report.Warning, passwdLayer, 0, "UID %d is shared by %s in /etc/passwd", uid, strings.Join(uids[uid], ", "))
	}
	shadowLayer := -1
	if n := fs.lookup("etc/shadow"); n != nil {
		shadowLayer = n.layer
	}
	for _, l := range lines(f.r.files["etc/shadow"]) {
		fs := strings.Split(l, ":")
		if len(fs) >= 2 && fs[0] != "" && fs[1] == "" {
			f.add(RuleEmptyPassword, report.Error, shadowLayer, 0, "account %q has an empty password in /etc/shadow: anyone can log in as it; lock it with '*' or '!'", fs[0])
		}
	}
}

func (f *finder) secrets() {
	for _, e := range f.r.Loaded.Config.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		if secretAssignment(k, v) {
			f.add(RuleSecretEnv, report.Error, -1, 0, "ENV %s=%s looks like a secret: anyone who pulls the image reads it; pass it at run time or use a secret mount", k, redact(v))
		}
	}
	layer := 0
	for _, h := range f.r.Loaded.Config.History {
		l := -1
		if !h.EmptyLayer {
			l = layer
			layer++
		}
		cb := h.CreatedBy
		if strings.Contains(cb, "#(nop)  ENV ") || strings.HasPrefix(cb, "ENV ") {
			continue // GC040 reports the config's ENV
		}
		for _, m := range assignRE.FindAllStringSubmatch(cb, -1) {
			if secretAssignment(m[1], m[2]) {
				f.add(RuleSecretHistory, report.Error, l, 0, "history %q sets %s=%s: build arguments and RUN lines are stored in the image; use a secret mount", shortCmd(strings.ReplaceAll(cb, m[2], redact(m[2]))), m[1], redact(m[2]))
				goto next
			}
		}
		if m := tokenRE.FindString(cb); m != "" {
			f.add(RuleSecretHistory, report.Error, l, 0, "history holds a token (%s): it is stored in the image; use a secret mount", redact(m))
		}
	next:
	}
	for _, s := range f.r.secrets {
		n := f.r.fs.lookup(s.path)
		note := "in the final filesystem"
		if n == nil || n.layer != s.layer {
			note = "deleted or replaced by a later layer, but still stored in " + f.layerName(s.layer)
		}
		f.add(RuleSecretFile, report.Error, s.layer, s.size, "/%s: %s, %s; it ships to everyone who pulls the image", s.path, s.why, note)
	}
}

// Annotations naming an image's base (image-spec v1.1 annotations.md).
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

func (f *finder) base() {
	a := f.r.Loaded.Manifest.Annotations
	name, dg := a[AnnotationBaseName], a[AnnotationBaseDigest]
	if name == "" && dg == "" {
		return
	}
	s := name
	if dg != "" {
		s += "@" + dg
	}
	f.add(RuleBaseImage, report.Info, -1, 0, "base image %s (OCI base-image annotations)", strings.TrimPrefix(s, "@"))
}

// BaseFindings compares the images of one check: each image's longest
// layer prefix shared with another image is its likely base, reported with
// the layers and bytes it covers.
func BaseFindings(results []*Result) []report.Finding {
	var out []report.Finding
	for i, a := range results {
		best, with := 0, -1
		for j, b := range results {
			if i == j || a.Digest == b.Digest {
				continue
			}
			k := 0
			for k < len(a.Layers) && k < len(b.Layers) && a.Layers[k].Digest == b.Layers[k].Digest {
				k++
			}
			if k > best {
				best, with = k, j
			}
		}
		if best == 0 {
			continue
		}
		var bytes, compressed int64
		for _, l := range a.Layers[:best] {
			bytes += l.Bytes
			compressed += l.Compressed
		}
		fd := report.Finding{Rule: RuleSharedBaseLayer, Severity: report.Info, Image: a.Image, Layer: a.Layers[best-1].Digest.String(), Bytes: bytes,
			Message: fmt.Sprintf("shares its first %d of %d layers (%s, %s compressed) with %s: its base ends at layer %d", best, len(a.Layers), report.Bytes(bytes), report.Bytes(compressed), results[with].Image, best)}
		out = append(out, fd)
	}
	return out
}
