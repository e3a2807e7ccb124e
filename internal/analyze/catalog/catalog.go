package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed heavy.yaml
var heavyYAML []byte

// Entry is one heavy component: what it is, how to recognise it arriving
// in an image, how big it typically is and what to use instead. The
// pattern fields are written as documented at the top of heavy.yaml.
type Entry struct {
	// ID is a stable name: lower case letters, digits and dashes.
	ID string `yaml:"id"`
	// Kind groups entries: jdk, build-tool, browser, search, runtime,
	// android, toolchain, compiler or headers.
	Kind string `yaml:"kind"`
	// What names the component in a finding ("a JDK").
	What string `yaml:"what"`
	// Size is the typical installed size as written ("300 MB").
	Size string `yaml:"size"`
	// Instead says what to ship instead.
	Instead string `yaml:"instead"`
	// Packages are package-name patterns, optionally limited to one
	// family of package managers ("apk:openjdk#").
	Packages []string `yaml:"packages,omitempty"`
	// URLs are patterns of download addresses.
	URLs []string `yaml:"urls,omitempty"`
	// Commands are commands that fetch the component, as words.
	Commands []string `yaml:"commands,omitempty"`
	// Copy are patterns of directories a COPY --from brings in.
	Copy []string `yaml:"copy,omitempty"`
	// Images are patterns of base images, "repository" or
	// "repository:tag".
	Images []string `yaml:"images,omitempty"`
	// UnlessEnv are variables that, when set, stop the download.
	UnlessEnv []string `yaml:"unless-env,omitempty"`
	// UnlessRuns are programs that, when the image's ENTRYPOINT or CMD
	// runs one, make the component the image's runtime.
	UnlessRuns []string `yaml:"unless-runs,omitempty"`
	// Files are patterns of the files the component installs, each
	// saying which directory above the file the component lives in
	// ("*//lib/modules >10MiB"); gantry check finds the component in an
	// image by them (see File).
	Files []string `yaml:"files,omitempty"`

	// Bytes is Size in bytes (decimal units, as package managers report).
	Bytes int64 `yaml:"-"`

	pkgs     map[string]matcher // by family
	urls     matcher
	commands []command
	copy     matcher
	images   matcher
	files    []*filePattern
}

// matcher is a set of patterns compiled into one regular expression of
// what they include and one of what they exclude; nil for none.
type matcher struct{ in, out *regexp.Regexp }

func (m matcher) match(s string) bool {
	return m.in != nil && m.in.MatchString(s) && (m.out == nil || !m.out.MatchString(s))
}

// command is one pattern of Commands: the program's base name and the
// words that follow it in order.
type command struct {
	exclude bool
	words   []*regexp.Regexp
}

// Catalog is a validated list of entries.
type Catalog struct {
	// Entries are in the order of the file, which is the order lookups
	// try them in.
	Entries []*Entry

	files fileIndex
}

// Families are the package-manager families a package pattern can be
// limited to; a pattern without one applies to System.
var Families = []string{"apt", "apk", "rpm", "zypper", "npm", "pip"}

// System are the families of system package managers.
var System = []string{"apt", "apk", "rpm", "zypper"}

// Kinds are the kinds an entry may have.
var Kinds = []string{"jdk", "build-tool", "browser", "search", "runtime", "android", "toolchain", "compiler", "headers"}

// Limits on the file, far above what a catalogue of components needs and
// low enough that a hostile file costs little to reject.
const (
	maxEntries  = 1000
	maxPatterns = 100  // per field of an entry
	maxPattern  = 200  // bytes of one pattern
	maxText     = 1000 // bytes of what, instead and other text
)

var (
	idRE   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	sizeRE = regexp.MustCompile(`^([0-9]{1,4})(\.[0-9])? (MB|GB)$`)
	varRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) { return Parse(heavyYAML) })

// Default returns the embedded catalogue, parsed and validated on first
// use. It panics if the embedded file is invalid, which its tests rule out.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic(err)
	}
	return c
}

// Source returns the embedded heavy.yaml.
func Source() []byte { return bytes.Clone(heavyYAML) }

// Parse reads and validates a catalogue in the format of heavy.yaml. The
// error names the entry and field at fault.
func Parse(data []byte) (*Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var entries []*Entry
	if err := dec.Decode(&entries); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("heavy component catalogue: no entries")
		}
		return nil, fmt.Errorf("heavy component catalogue: %w", oneLine{err})
	}
	if len(entries) == 0 {
		return nil, errors.New("heavy component catalogue: no entries")
	}
	if len(entries) > maxEntries {
		return nil, fmt.Errorf("heavy component catalogue: %d entries, more than %d", len(entries), maxEntries)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e == nil {
			return nil, fmt.Errorf("heavy component catalogue: entry %d is empty", i+1)
		}
		if err := e.compile(); err != nil {
			return nil, fmt.Errorf("heavy component catalogue: entry %d (%s): %w", i+1, e.ID, err)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("heavy component catalogue: entry %d: id %q is used twice", i+1, e.ID)
		}
		seen[e.ID] = true
	}
	c := &Catalog{Entries: entries}
	c.files = indexFiles(entries)
	return c, nil
}

// oneLine is an error whose text is made one line: the YAML decoder lists
// its errors one per line.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e oneLine) Unwrap() error { return e.err }

func (e *Entry) compile() error {
	if !idRE.MatchString(e.ID) || len(e.ID) > 64 {
		return fmt.Errorf("id %q: want lower case letters, digits and dashes", e.ID)
	}
	if !contains(Kinds, e.Kind) {
		return fmt.Errorf("kind %q: want one of %s", e.Kind, strings.Join(Kinds, ", "))
	}
	for _, t := range []struct{ name, v string }{{"what", e.What}, {"instead", e.Instead}} {
		if strings.TrimSpace(t.v) == "" || len(t.v) > maxText || strings.ContainsAny(t.v, "\n|`") {
			return fmt.Errorf("%s: want one line of text without | or `", t.name)
		}
	}
	m := sizeRE.FindStringSubmatch(e.Size)
	if m == nil {
		return fmt.Errorf("size %q: want a number and MB or GB (\"300 MB\", \"1.2 GB\")", e.Size)
	}
	n, _ := strconv.ParseFloat(m[1]+m[2], 64)
	unit := 1e6
	if m[3] == "GB" {
		unit = 1e9
	}
	if e.Bytes = int64(n * unit); e.Bytes == 0 {
		return fmt.Errorf("size %q: want more than nothing", e.Size)
	}
	for _, f := range []struct {
		name string
		v    []string
	}{{"packages", e.Packages}, {"urls", e.URLs}, {"commands", e.Commands}, {"copy", e.Copy}, {"images", e.Images}, {"unless-env", e.UnlessEnv}, {"unless-runs", e.UnlessRuns}, {"files", e.Files}} {
		if len(f.v) > maxPatterns {
			return fmt.Errorf("%s: %d patterns, more than %d", f.name, len(f.v), maxPatterns)
		}
		for _, p := range f.v {
			if p == "" || len(p) > maxPattern || strings.ContainsAny(p, "\n\t|`") {
				return fmt.Errorf("%s: pattern %q: want one line of at most %d bytes, without | or `", f.name, p, maxPattern)
			}
		}
	}
	if len(e.Packages)+len(e.URLs)+len(e.Commands)+len(e.Copy)+len(e.Images)+len(e.Files) == 0 {
		return errors.New("no packages, urls, commands, copy, images or files: nothing would match it")
	}
	for _, v := range e.UnlessEnv {
		if !varRE.MatchString(v) {
			return fmt.Errorf("unless-env: %q is not a variable name", v)
		}
	}
	for _, v := range e.UnlessRuns {
		if strings.ContainsAny(v, "/ *?[") {
			return fmt.Errorf("unless-runs: %q: want a program's base name", v)
		}
	}
	var err error
	if e.pkgs, err = compilePackages(e.Packages); err != nil {
		return fmt.Errorf("packages: %w", err)
	}
	if e.urls, err = compileSet(e.URLs, true, func(p string) (string, error) { return p, nil }); err != nil {
		return fmt.Errorf("urls: %w", err)
	}
	if e.copy, err = compileSet(e.Copy, false, func(p string) (string, error) {
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
			return "", fmt.Errorf("%q: want an absolute directory", p)
		}
		return strings.TrimSuffix(p, "/"), nil
	}); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if e.images, err = compileSet(e.Images, false, imagePattern); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	for _, p := range e.Files {
		fp, err := compileFile(p)
		if err != nil {
			return fmt.Errorf("files: %q: %w", p, err)
		}
		fp.entry = e
		e.files = append(e.files, fp)
	}
	for _, p := range e.Commands {
		c := command{}
		if c.exclude = strings.HasPrefix(p, "!"); c.exclude {
			p = p[1:]
		}
		words := strings.Fields(p)
		if len(words) == 0 {
			return fmt.Errorf("commands: %q has no words", p)
		}
		for _, w := range words {
			re, err := glob(w)
			if err != nil {
				return fmt.Errorf("commands: %q: %w", p, err)
			}
			c.words = append(c.words, regexp.MustCompile("^"+re+"$"))
		}
		e.commands = append(e.commands, c)
	}
	return nil
}

// imagePattern turns "repo" into a pattern of "repo" with any tag, and
// "repo:tag" into one of exactly that.
func imagePattern(p string) (string, error) {
	if strings.ToLower(p) != p {
		return "", fmt.Errorf("%q: image names are lower case", p)
	}
	if strings.Contains(p, "@") {
		return "", fmt.Errorf("%q: a digest is not a pattern", p)
	}
	return p, nil
}

func compilePackages(pats []string) (map[string]matcher, error) {
	in, out := map[string][]string{}, map[string][]string{}
	for _, p := range pats {
		excl := strings.HasPrefix(p, "!")
		body := strings.TrimPrefix(p, "!")
		fams := System
		if fam, rest, ok := strings.Cut(body, ":"); ok {
			if !contains(Families, fam) {
				return nil, fmt.Errorf("%q: %q is not one of %s", p, fam, strings.Join(Families, ", "))
			}
			fams, body = []string{fam}, rest
		}
		re, err := glob(body)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		for _, f := range fams {
			if excl {
				out[f] = append(out[f], re)
			} else {
				in[f] = append(in[f], re)
			}
		}
	}
	ms := map[string]matcher{}
	for f, res := range in {
		ms[f] = matcher{in: alternation(res, false), out: alternation(out[f], false)}
	}
	return ms, nil
}

// compileSet compiles patterns after check has looked at (and maybe
// rewritten) each one.
func compileSet(pats []string, fold bool, check func(string) (string, error)) (matcher, error) {
	var in, out []string
	for _, p := range pats {
		excl := strings.HasPrefix(p, "!")
		body, err := check(strings.TrimPrefix(p, "!"))
		if err != nil {
			return matcher{}, err
		}
		re, err := glob(body)
		if err != nil {
			return matcher{}, fmt.Errorf("%q: %w", p, err)
		}
		if excl {
			out = append(out, re)
		} else {
			in = append(in, re)
		}
	}
	if len(in) == 0 && len(out) > 0 {
		// Exclusions alone (images: ["!*:*jre*"]) still say what a
		// COPY --from source is not.
		return matcher{out: alternation(out, fold)}, nil
	}
	return matcher{in: alternation(in, fold), out: alternation(out, fold)}, nil
}

func alternation(res []string, fold bool) *regexp.Regexp {
	if len(res) == 0 {
		return nil
	}
	flags := ""
	if fold {
		flags = "(?i)"
	}
	return regexp.MustCompile(flags + "^(?:" + strings.Join(res, "|") + ")$")
}

// glob translates a pattern into a regular expression (unanchored): *
// any run of characters, ? one, # one or more digits, [...] a class of
// letters, digits and -._ (a leading ! negates it).
func glob(p string) (string, error) { return globIn(p, false) }

// globIn is glob, with * and ? not matching / when name is set: for the
// file name a files pattern ends with.
func globIn(p string, name bool) (string, error) {
	if p == "" {
		return "", errors.New("empty pattern")
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if name {
				b.WriteString("[^/]*")
			} else {
				b.WriteString(".*")
			}
		case '?':
			if name {
				b.WriteString("[^/]")
			} else {
				b.WriteString(".")
			}
		case '#':
			b.WriteString("[0-9]+")
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return "", errors.New("[ without ]")
			}
			class := p[i+1 : i+1+end]
			neg := strings.HasPrefix(class, "!")
			class = strings.TrimPrefix(class, "!")
			if class == "" {
				return "", errors.New("empty [] class")
			}
			for j := 0; j < len(class); j++ {
				if x := class[j]; !isWordByte(x) && x != '-' && x != '.' {
					return "", fmt.Errorf("%q in a [] class", x)
				}
			}
			if class[0] == '-' || class[len(class)-1] == '-' {
				return "", errors.New("a [] class starts or ends with -")
			}
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			}
			b.WriteString(strings.ReplaceAll(class, ".", `\.`))
			b.WriteByte(']')
			i += end + 1
		case ']':
			return "", errors.New("] without [")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re := b.String()
	if _, err := regexp.Compile(re); err != nil {
		return "", fmt.Errorf("not a pattern: %w", err)
	}
	return re, nil
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Package returns the entry a package of a family names ("apt", "apk",
// "rpm", "zypper", "npm", "pip"; "yarn" counts as "npm"), or nil. name is
// the package without its version.
func (c *Catalog) Package(family, name string) *Entry {
	if family == "yarn" {
		family = "npm"
	}
	for _, e := range c.Entries {
		if m, ok := e.pkgs[family]; ok && m.match(name) {
			return e
		}
	}
	return nil
}

// URL returns the entry a download address fetches, or nil.
func (c *Catalog) URL(u string) *Entry {
	for _, e := range c.Entries {
		if e.urls.match(u) {
			return e
		}
	}
	return nil
}

// Command returns the entry a command line fetches (argv with wrappers
// such as npx or sudo left in), or nil.
func (c *Catalog) Command(argv []string) *Entry {
	for _, e := range c.Entries {
		hit := false
		for _, cmd := range e.commands {
			if cmd.match(argv) {
				if cmd.exclude {
					hit = false
					break
				}
				hit = true
			}
		}
		if hit {
			return e
		}
	}
	return nil
}

func (cmd command) match(argv []string) bool {
	for i, a := range argv {
		if !cmd.words[0].MatchString(a) && !cmd.words[0].MatchString(path.Base(a)) {
			continue
		}
		w, j := 1, i+1
		for ; w < len(cmd.words) && j < len(argv); j++ {
			if cmd.words[w].MatchString(argv[j]) {
				w++
			}
		}
		if w == len(cmd.words) {
			return true
		}
	}
	return false
}

// CopyDir returns the entry whose directory a COPY --from source is, or
// nil.
func (c *Catalog) CopyDir(dir string) *Entry {
	if dir != "/" {
		dir = strings.TrimSuffix(dir, "/")
	}
	for _, e := range c.Entries {
		if e.copy.match(dir) {
			return e
		}
	}
	return nil
}

// Image returns the entry a base image is, or nil. repo is the repository
// path without the registry ("library/golang", "cypress/browsers"); tag may
// be "".
func (c *Catalog) Image(repo, tag string) *Entry {
	for _, e := range c.Entries {
		if e.images.in != nil && e.matchImage(repo, tag, false) {
			return e
		}
	}
	return nil
}

// Excludes reports whether an image is one the entry's images exclude:
// a COPY --from that image of one of the entry's directories does not
// bring the component (eclipse-temurin:21-jre's /opt/java/openjdk is a
// JRE).
func (e *Entry) Excludes(repo, tag string) bool {
	return e.images.out != nil && e.matchImage(repo, tag, true)
}

func (e *Entry) matchImage(repo, tag string, excluded bool) bool {
	repo = strings.TrimPrefix(strings.ToLower(repo), "library/")
	for cand := repo; ; {
		s := cand
		if tag != "" {
			s += ":" + tag
		}
		var hit bool
		if excluded {
			hit = e.images.out.MatchString(s)
		} else {
			hit = e.images.in.MatchString(s) || (tag != "" && e.images.in.MatchString(cand) && !strings.Contains(cand, ":"))
			if hit && e.images.out != nil && e.images.out.MatchString(s) {
				return false
			}
		}
		if hit {
			return true
		}
		i := strings.IndexByte(cand, '/')
		if i < 0 {
			return false
		}
		cand = cand[i+1:]
	}
}
