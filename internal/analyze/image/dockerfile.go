package image

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/lint"
	"github.com/gantry-dev/gantry/internal/analyze/report"
)

// Dockerfile is the Dockerfile an image was built from. With
// Options.Dockerfile set, Analyze links the instructions of the stages the
// Dockerfile ships to the image's layers, runs gantry lint's rules on it,
// and prices the lint findings of layer-producing instructions in bytes.
type Dockerfile struct {
	// Name is how findings name the file (its path).
	Name string
	// Source is the Dockerfile's content.
	Source []byte
	// Lint configures the lint rules (zero: defaults).
	Lint lint.Options
}

// Linking a Dockerfile to an image.
//
// An image config's history has one entry per instruction that the builder
// recorded, and the entries not marked empty_layer map one to one, in
// order, to the manifest's layers. The base image's entries come first.
// Only RUN, COPY and ADD make layers (and WORKDIR under BuildKit when it
// creates the directory), so the layer-producing instructions of the
// shipped stages are aligned with the last layers, from the end; whatever
// layers precede them came with the base image. Each link is checked
// against the entry's created_by text, whose shape depends on the builder:
//
//	buildah, docker:  /bin/sh -c apt-get install ...    |1 V=2 /bin/sh -c ...
//	                  /bin/sh -c #(nop) COPY dir:0f3a... in /app
//	BuildKit:         RUN /bin/sh -c apt-get install ... # buildkit
//	                  COPY app /app # buildkit
//
// A link whose kind agrees but whose text does not is unsure and is said
// so; kinds that disagree, more instructions than layers, or none of the
// RUN texts found mean the Dockerfile is not this image's: then nothing is
// priced and a GC070 warning says why.

// histKind classifies a history created_by: the instruction keyword ("RUN",
// "COPY", ...), "" when unknown, and the text to compare (the command for
// RUN, the destination for COPY and ADD).
func histKind(createdBy string) (kind, text string) {
	s := strings.TrimSpace(createdBy)
	s = strings.TrimSpace(strings.TrimSuffix(s, "# buildkit"))
	if i := strings.Index(s, "#(nop)"); i >= 0 {
		s = strings.TrimSpace(s[i+len("#(nop)"):])
		kw, rest, _ := strings.Cut(s, " ")
		return strings.ToUpper(kw), lastField(strings.ToUpper(kw), rest)
	}
	kw, rest, _ := strings.Cut(s, " ")
	switch up := strings.ToUpper(kw); up {
	case "RUN":
		return "RUN", rest
	case "COPY", "ADD", "WORKDIR", "ENV", "ARG", "LABEL", "CMD", "ENTRYPOINT", "USER", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD":
		if kw == up { // instructions are written in upper case in histories
			return up, lastField(up, rest)
		}
	}
	if argPrefixRE.MatchString(s) || strings.HasPrefix(s, "/bin/sh -c ") || strings.HasPrefix(s, "/bin/bash -c ") || strings.HasPrefix(s, "cmd /S /C ") {
		return "RUN", s
	}
	return "", s
}

// argPrefixRE matches the "|2 A=1 B=2 " build-argument prefix of RUN
// entries.
var argPrefixRE = regexp.MustCompile(`^\|\d+ `)

func lastField(kind, rest string) string {
	if kind != "COPY" && kind != "ADD" {
		return rest
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// squash collapses runs of white space, line continuations included, for
// comparing commands.
func squash(s string) string {
	s = strings.ReplaceAll(s, "\\\n", " ")
	return strings.Join(strings.Fields(s), " ")
}

// dfLink is the outcome of linking a Dockerfile to an image.
type dfLink struct {
	shipped []lint.Instruction
	// layerInstr[i] is the index in shipped of the instruction that made
	// layer i, or -1 (a base layer, or nothing linked).
	layerInstr []int
	// instrLayer maps an index in shipped to its layer.
	instrLayer map[int]int
	// unsure lists the instructions whose history text does not agree.
	unsure map[int]string
	// base is the number of layers that came with the base image.
	base int
	// mismatch, when not empty, says why the Dockerfile is not this
	// image's; then nothing is linked.
	mismatch string
	// squashed, when not 0, is the number of a squashed layer: it holds
	// the changes of several instructions, so none is linked (mismatch
	// is set too).
	squashed int
}

func layerProducing(kw string) bool { return kw == "RUN" || kw == "COPY" || kw == "ADD" }

// linkLayers aligns shipped's layer-producing instructions with the
// image's layers.
func linkLayers(r *Result, shipped []lint.Instruction) *dfLink {
	k := &dfLink{shipped: shipped, layerInstr: make([]int, len(r.Layers)), instrLayer: map[int]int{}, unsure: map[int]string{}}
	for i := range k.layerInstr {
		k.layerInstr[i] = -1
	}
	fail := func(format string, args ...any) *dfLink {
		k.mismatch = fmt.Sprintf(format, args...)
		k.instrLayer, k.unsure = map[int]int{}, map[int]string{}
		for i := range k.layerInstr {
			k.layerInstr[i] = -1
		}
		return k
	}
	var hist []string
	for _, h := range r.Loaded.Config.History {
		if !h.EmptyLayer {
			hist = append(hist, h.CreatedBy)
		}
	}
	for j, l := range r.Layers {
		if l.Squashed {
			k = fail("layer %d is squashed", j+1)
			k.squashed = j + 1
			return k
		}
	}
	switch {
	case len(r.Loaded.Config.History) == 0:
		return fail("the image config has no history to link instructions to layers")
	case len(hist) != len(r.Layers):
		return fail("the image history lists %d layers but the manifest has %d", len(hist), len(r.Layers))
	}
	var cand []int // RUN, COPY, ADD and WORKDIR instructions, in order
	runs := 0
	for i, in := range shipped {
		if layerProducing(in.Keyword) || in.Keyword == "WORKDIR" {
			cand = append(cand, i)
		}
		if in.Keyword == "RUN" {
			runs++
		}
	}
	j := len(hist) - 1
	checked, agreed := 0, 0
	for c := len(cand) - 1; c >= 0; c-- {
		i := cand[c]
		in := shipped[i]
		if j < 0 {
			if in.Keyword == "WORKDIR" {
				continue
			}
			n := 0
			for _, x := range cand[:c+1] {
				if layerProducing(shipped[x].Keyword) {
					n++
				}
			}
			return fail("the Dockerfile has %d more layer-producing instructions than the image has layers (line %d: %s)", n, in.Line, in.Keyword)
		}
		kind, text := histKind(hist[j])
		if in.Keyword == "WORKDIR" && kind != "WORKDIR" {
			continue // WORKDIR made no layer here
		}
		switch {
		case kind == in.Keyword:
		case kind == "" || (kind == "COPY" && in.Keyword == "ADD") || (kind == "ADD" && in.Keyword == "COPY"):
			k.unsure[i] = fmt.Sprintf("history says %q", shortCmd(hist[j]))
		default:
			return fail("line %d (%s) falls on layer %d, which the history says %s made (%q)", in.Line, in.Keyword, j+1, kind, shortCmd(hist[j]))
		}
		if _, ok := k.unsure[i]; !ok {
			switch in.Keyword {
			case "RUN":
				checked++
				if want := squash(in.Command); want != "" && strings.Contains(squash(text), want) {
					agreed++
				} else {
					k.unsure[i] = fmt.Sprintf("history says %q", shortCmd(hist[j]))
				}
			case "COPY", "ADD":
				if strings.HasPrefix(text, "/") && path.Clean(text) != path.Clean(in.Command) {
					k.unsure[i] = fmt.Sprintf("history copies to %s, the Dockerfile to %s", text, in.Command)
				}
			}
		}
		k.layerInstr[j], k.instrLayer[i] = i, j
		j--
	}
	if checked > 0 && agreed == 0 {
		return fail("none of the %d RUN instructions appears in the image history (the last layer's is %q)", runs, shortCmd(hist[len(hist)-1]))
	}
	k.base = j + 1
	if k.base > 0 && len(shipped) > 0 && shipped[0].Keyword == "FROM" && strings.EqualFold(shipped[0].Command, "scratch") {
		return fail("the Dockerfile builds FROM scratch but %d layers precede the ones it makes", k.base)
	}
	return k
}

// layerData is what pricing needs from each layer: its entries and the
// bytes it stores at paths lower layers already held as files.
type layerData struct {
	scans     []*layerScan
	rewritten []int64
}

// rewrites returns the bytes of entries' files stored at paths that hold a
// file in f: what a layer duplicates when it changes only metadata
// (chmod, chown, touch) of files lower layers added.
func (f *fsys) rewrites(entries []Entry) int64 {
	var n int64
	for i := range entries {
		e := &entries[i]
		if e.Kind != KindFile {
			continue
		}
		if old := f.lookup(e.Path); old != nil && old.kind == KindFile {
			n += e.Size
		}
	}
	return n
}

// cachePaths are the paths, by rule, whose bytes in a layer price a
// package-manager lint finding: prefixes of the entry path, or with a
// leading "/" anywhere in it.
var cachePaths = map[string]struct {
	what  string
	paths []string
}{
	"GL401": {"apt lists and caches", []string{"var/lib/apt/lists/", "var/cache/apt/"}},
	"GL406": {"apt lists", []string{"var/lib/apt/lists/"}},
	"GL402": {"apk cache", []string{"var/cache/apk/"}},
	"GL403": {"yum/dnf/zypper cache", []string{"var/cache/yum/", "var/cache/dnf/", "var/cache/zypp/", "var/cache/microdnf/", "var/lib/dnf/repos/"}},
	"GL404": {"pip cache", []string{"/.cache/pip/"}},
	"GL405": {"npm/yarn cache", []string{"/.npm/", "/.cache/yarn/"}},
	"GL616": {"lastlog and faillog", []string{"var/log/lastlog", "var/log/faillog"}},
}

func underAny(p string, prefixes []string) bool {
	for _, x := range prefixes {
		if strings.HasPrefix(x, "/") {
			if strings.Contains("/"+p, x) || strings.HasPrefix(p, x[1:]) {
				return true
			}
		} else if strings.HasPrefix(p, x) || p == strings.TrimSuffix(x, "/") {
			return true
		}
	}
	return false
}

// price returns what a lint finding on layer i costs and a phrase saying
// what was counted; 0 when the rule is not priced.
func (d *layerData) price(r *Result, rule string, i int) (int64, string) {
	l := r.Layers[i]
	if c, ok := cachePaths[rule]; ok {
		var n int64
		for _, e := range d.scans[i].entries {
			if e.Kind == KindFile && underAny(e.Path, c.paths) {
				n += e.Size
			}
		}
		return n, fmt.Sprintf("%s of %s", report.Bytes(n), c.what)
	}
	switch rule {
	case "GL501":
		return d.rewritten[i], fmt.Sprintf("%s of files earlier layers already stored, copied again", report.Bytes(d.rewritten[i]))
	case "GL301", "GL410", "GL411", "GL602":
		return l.Bytes, fmt.Sprintf("%s in all", report.Bytes(l.Bytes))
	}
	return 0, ""
}

// dockerfileFindings lints the Dockerfile, links it to the image, prices
// the lint findings of linked instructions, and locates the image findings
// of linked layers in the Dockerfile.
func dockerfileFindings(r *Result, df *Dockerfile, d *layerData) []report.Finding {
	linkFinding := func(sev report.Severity, line int, msg string, args ...any) report.Finding {
		return report.Finding{Rule: RuleDockerfileLink, Severity: sev, Message: fmt.Sprintf(msg, args...), File: df.Name, Line: line, Image: r.Image}
	}
	lints, shipped, err := lint.Analyze(df.Name, df.Source, df.Lint)
	var pe *lint.ParseError
	if errors.As(err, &pe) {
		return []report.Finding{
			{Rule: "GL900", Severity: report.Error, Message: "fix the syntax: " + pe.Err.Error(), File: df.Name, Line: pe.Line, Column: pe.Column},
			linkFinding(report.Warning, 0, "the Dockerfile cannot be parsed: no instruction is linked to the image's layers"),
		}
	} else if err != nil {
		return []report.Finding{linkFinding(report.Warning, 0, "the Dockerfile cannot be read: %v", err)}
	}
	k := linkLayers(r, shipped)
	var out []report.Finding
	if k.mismatch != "" {
		if k.squashed > 0 {
			// Not a mismatch: the build merged the layers.
			out = append(out, linkFinding(report.Info, 0, "%s is squashed: layer %d holds the changes of several instructions, so no line of %s is linked to a layer; its findings are reported without layers or bytes, and the image's findings name the squashed layer", r.Image, k.squashed, df.Name))
		} else {
			out = append(out, linkFinding(report.Warning, 0, "%s does not match %s: %s; its findings are reported without layers or bytes", df.Name, r.Image, k.mismatch))
		}
		for i := range lints {
			lints[i].Image = r.Image
		}
		return append(out, lints...)
	}

	// The instruction of shipped a line belongs to. shipped is in line
	// order (a stage is built only FROM earlier ones), so this is a binary
	// search: a scan per finding was quadratic in a large Dockerfile.
	instrAt := func(line int) int {
		i := sort.Search(len(shipped), func(i int) bool { return shipped[i].Line > line }) - 1
		if i >= 0 && line <= max(shipped[i].EndLine, shipped[i].Line) {
			return i
		}
		return -1
	}
	layerDesc := func(j int) string {
		s := fmt.Sprintf("layer %d", j+1)
		if _, ok := k.unsure[k.layerInstr[j]]; ok {
			s += ", link unsure"
		}
		return s
	}
	for _, f := range lints {
		f.Image = r.Image
		if i := instrAt(f.Line); i >= 0 {
			if j, ok := k.instrLayer[i]; ok {
				f.Layer = r.Layers[j].Digest.String()
				if n, what := d.price(r, f.Rule, j); what != "" {
					f.Bytes = n
					f.Message += fmt.Sprintf(" [%s: %s]", layerDesc(j), what)
				} else {
					f.Message += fmt.Sprintf(" [%s]", layerDesc(j))
				}
			}
		}
		out = append(out, f)
	}

	// Image findings about a layer get the line that made it: the
	// instruction, or for a base layer the FROM of the first shipped stage.
	fromLine := 0
	if len(shipped) > 0 && shipped[0].Keyword == "FROM" {
		fromLine = shipped[0].Line
	}
	lineOf := func(j int) int {
		if i := k.layerInstr[j]; i >= 0 {
			return shipped[i].Line
		}
		if j < k.base {
			return fromLine
		}
		return 0
	}
	layerIndex := map[string]int{}
	for j := len(r.Layers) - 1; j >= 0; j-- {
		layerIndex[r.Layers[j].Digest.String()] = j
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Layer == "" || f.File != "" {
			continue
		}
		if j, ok := layerIndex[f.Layer]; ok {
			if line := lineOf(j); line > 0 {
				f.File, f.Line = df.Name, line
			}
		}
	}

	// What each linked layer stores that later layers hide.
	for j, l := range r.Layers {
		i := k.layerInstr[j]
		if i < 0 || l.Hidden < 64<<10 {
			continue
		}
		var top []HiddenPath
		for jj := j + 1; jj < len(r.Layers); jj++ {
			for _, t := range r.Layers[jj].Top {
				if t.Layer == j {
					t.Layer = jj // here: the layer that hides it
					top = append(top, t)
				}
			}
		}
		slices.SortStableFunc(top, func(a, b HiddenPath) int { return cmp.Compare(b.Bytes, a.Bytes) })
		var by []string
		for _, t := range top[:min(len(top), topHidden)] {
			s := fmt.Sprintf("/%s (%s", t.Path, report.Bytes(t.Bytes))
			if line := lineOf(t.Layer); line > 0 {
				s += fmt.Sprintf(", by line %d", line)
			}
			by = append(by, s+")")
		}
		sev := report.Info
		if l.Hidden > 10<<20 {
			sev = report.Warning
		}
		msg := fmt.Sprintf("%s (%s) stores %s that later instructions delete or overwrite", layerDesc(j), shipped[i].Keyword, report.Bytes(l.Hidden))
		if len(by) > 0 {
			msg += ", largest: " + strings.Join(by, ", ")
		}
		out = append(out, report.Finding{Rule: RuleLayerHidden, Severity: sev, Message: msg + "; remove them in the same RUN that makes them, or build them in an earlier stage",
			File: df.Name, Line: shipped[i].Line, Image: r.Image, Layer: l.Digest.String(), Bytes: l.Hidden})
	}

	// The summary of the link.
	var lines []int
	for i := range k.instrLayer {
		lines = append(lines, shipped[i].Line)
	}
	slices.Sort(lines)
	summary := fmt.Sprintf("%d instructions linked to layers %d-%d", len(lines), k.base+1, len(r.Layers))
	if len(lines) == 0 {
		summary = "no instruction of the Dockerfile makes a layer"
	}
	if k.base > 0 {
		summary += fmt.Sprintf("; layers 1-%d come from the base image", k.base)
		if fromLine > 0 {
			summary += fmt.Sprintf(" (line %d)", fromLine)
		}
	}
	if len(k.unsure) == 0 {
		out = append(out, linkFinding(report.Info, fromLine, "%s", summary))
		return out
	}
	var why []string
	for i, w := range k.unsure {
		why = append(why, fmt.Sprintf("line %d (%s): %s", shipped[i].Line, shipped[i].Keyword, w))
	}
	slices.Sort(why)
	out = append(out, linkFinding(report.Warning, fromLine, "%s, %d of them unsure because the history does not show their text: %s", summary, len(k.unsure), strings.Join(why, "; ")))
	return out
}
