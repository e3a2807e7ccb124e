package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// filePattern is one pattern of an entry's Files, compiled.
type filePattern struct {
	entry *Entry
	order int // the entry's index in the catalogue
	// over is the size a file must be larger than; -1 for any.
	over int64
	// name is the file name when the pattern's last component is
	// literal; otherwise prefix and suffix are the literal ends of that
	// component, which a file's name must have before re is tried.
	name           string
	prefix, suffix string
	// re matches the whole path (relative to the image's root, no
	// leading /); its first group, when it took part, is the directory
	// the component lives in.
	re *regexp.Regexp
}

// fileIndex finds the patterns a file's name may match without trying
// each: most files of an image are tried against a map lookup and a few
// prefix and suffix comparisons.
type fileIndex struct {
	byName map[string][]*filePattern
	globs  []*filePattern
}

var overRE = regexp.MustCompile(`^>([0-9]{1,5})(KiB|MiB|GiB)$`)

// compileFile compiles one pattern of Files: "ROOT//REST[ >SIZE]", where
// ROOT is the directory the component lives in and REST the path of the
// marker file below it. A ROOT of * is any directory, the image's root
// included; a ROOT starting with */ is its rest at any depth.
func compileFile(p string) (*filePattern, error) {
	fields := strings.Fields(p)
	if len(fields) == 0 || len(fields) > 2 {
		return nil, errors.New(`want "DIR//FILE" and an optional ">10MiB"`)
	}
	fp := &filePattern{over: -1}
	if len(fields) == 2 {
		m := overRE.FindStringSubmatch(fields[1])
		if m == nil {
			return nil, fmt.Errorf("%q: want a size the file is over, as >10MiB (KiB, MiB or GiB)", fields[1])
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		fp.over = n << map[string]int{"KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
	}
	pat := fields[0]
	if !strings.HasPrefix(pat, "//") {
		pat = strings.TrimPrefix(pat, "/")
	}
	root, rest, ok := strings.Cut(pat, "//")
	switch {
	case !ok:
		return nil, errors.New("no //: write the directory the component lives in, //, then the marker file's path below it")
	case root == "" || rest == "":
		return nil, errors.New("want a directory before // and a file after it")
	case strings.Contains(rest, "//") || strings.HasSuffix(rest, "/") || strings.HasSuffix(root, "/"):
		return nil, errors.New("one // only, and no empty path components")
	}
	dirs, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		dirs, name = rest[:i], rest[i+1:]
	}
	nameRE, err := globIn(name, true)
	if err != nil {
		return nil, err
	}
	restRE := nameRE
	if dirs != "" {
		d, err := glob(dirs)
		if err != nil {
			return nil, err
		}
		restRE = d + "/" + nameRE
	}
	var re string
	switch {
	case root == "*":
		re = `^(?:(.*)/)?` + restRE + `$`
	case strings.HasPrefix(root, "*/"):
		r, err := glob(root[2:])
		if err != nil {
			return nil, err
		}
		re = `^((?:.*/)?` + r + `)/` + restRE + `$`
	default:
		r, err := glob(root)
		if err != nil {
			return nil, err
		}
		re = `^(` + r + `)/` + restRE + `$`
	}
	if fp.re, err = regexp.Compile(re); err != nil {
		return nil, fmt.Errorf("not a pattern: %w", err)
	}
	if i := strings.IndexAny(name, "*?#["); i < 0 {
		fp.name = name
	} else {
		fp.prefix = name[:i]
		fp.suffix = name[strings.LastIndexAny(name, "*?#]")+1:]
	}
	return fp, nil
}

func indexFiles(entries []*Entry) fileIndex {
	idx := fileIndex{byName: map[string][]*filePattern{}}
	for i, e := range entries {
		for _, fp := range e.files {
			fp.order = i
			if fp.name != "" {
				idx.byName[fp.name] = append(idx.byName[fp.name], fp)
			} else {
				idx.globs = append(idx.globs, fp)
			}
		}
	}
	return idx
}

// File returns the entry one of whose Files patterns the file at p
// (relative to the image's root, without a leading /) of size bytes
// matches, and the length of the prefix of p that is the directory the
// component lives in (0 for the image's root); nil and 0 for none. When
// several patterns match, the one whose directory is shallowest wins (a
// browser in a test framework's cache is the cache), then the entry first
// in the catalogue (a JDK before the Java runtime it contains). It costs
// a map lookup and a few string comparisons for a file that marks
// nothing.
func (c *Catalog) File(p []byte, size int64) (*Entry, int) {
	name := p[bytes.LastIndexByte(p, '/')+1:]
	var best *filePattern
	bestRoot := 0
	try := func(fp *filePattern) {
		if size <= fp.over {
			return
		}
		m := fp.re.FindSubmatchIndex(p)
		if m == nil {
			return
		}
		root := 0
		if m[2] >= 0 {
			root = m[3]
		}
		if best == nil || root < bestRoot || root == bestRoot && fp.order < best.order {
			best, bestRoot = fp, root
		}
	}
	for _, fp := range c.files.byName[string(name)] {
		try(fp)
	}
	for _, fp := range c.files.globs {
		if len(name) >= len(fp.prefix)+len(fp.suffix) && string(name[:len(fp.prefix)]) == fp.prefix && string(name[len(name)-len(fp.suffix):]) == fp.suffix {
			try(fp)
		}
	}
	if best == nil {
		return nil, 0
	}
	return best.entry, bestRoot
}
