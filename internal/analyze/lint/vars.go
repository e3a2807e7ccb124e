package lint

import (
	"fmt"
	"slices"
)

// scope holds the ARG and ENV values of one stage as they change from
// instruction to instruction. Each instruction keeps a view: the scope as
// it was when the instruction ran. Views share the scope, so a Dockerfile
// with many ENV lines costs memory in proportion to its lines, not to
// lines times variables.
type scope struct {
	hist   map[string][]setting
	seq    int
	parent vars // the base stage's ENV, for a stage built FROM another
	depth  int
}

// maxDepth bounds how many stages up a lookup goes: FROM chains deeper than
// this only occur in hostile input, where inherited ENV is dropped rather
// than paid for at every lookup.
const maxDepth = 64

type setting struct {
	seq int
	val string
}

func newScope(parent vars) *scope {
	s := &scope{hist: map[string][]setting{}}
	if parent.s != nil && parent.s.depth < maxDepth {
		s.parent, s.depth = parent, parent.s.depth+1
	}
	return s
}

// set gives k a value for the instructions that follow.
func (s *scope) set(k, v string) {
	s.seq++
	s.hist[k] = append(s.hist[k], setting{s.seq, v})
}

// view returns the values in force now.
func (s *scope) view() vars { return vars{s, s.seq} }

// vars is a read-only view of a scope; the zero value is empty. It
// implements BuildKit's shell.EnvGetter.
type vars struct {
	s   *scope
	seq int
}

// Get returns the value of k, if it is set.
func (v vars) Get(k string) (string, bool) {
	if v.s == nil {
		return "", false
	}
	h := v.s.hist[k]
	i, _ := slices.BinarySearchFunc(h, v.seq+1, func(s setting, seq int) int { return s.seq - seq })
	if i == 0 {
		return v.s.parent.Get(k)
	}
	return h[i-1].val, true
}

// Keys returns the names set in the view.
func (v vars) Keys() []string {
	if v.s == nil {
		return nil
	}
	ks := v.s.parent.Keys()
	for k, h := range v.s.hist {
		if len(h) > 0 && h[0].seq <= v.seq {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

// has reports whether k is set.
func (v vars) has(k string) bool {
	_, ok := v.Get(k)
	return ok
}

// Bounds of variable expansion. ARG A1=${A0}${A0} doubled 26 times is a
// 572-byte Dockerfile whose last value is 64 MiB, and whose expansion went
// past 8 GB; a chain of 40,000 lines each one byte longer than the last
// expands to 800 MB in all. No real Dockerfile comes near either bound.
const (
	// maxValue bounds the variable bytes one word receives, and so the
	// length of every value the model keeps.
	maxValue = 1 << 20
	// maxExpanded bounds the variable bytes all expansions of a
	// Dockerfile receive together: the work of expanding stays linear
	// in the file plus this.
	maxExpanded = 32 << 20
)

// expansion hands out the values of a view to one expansion (BuildKit's
// word processing, or the rendering of a shell word) within the bounds:
// past them a variable reads as unset, so it stays as written, and GL908
// says where.
type expansion struct {
	d   *dockerfile
	in  *instr
	vs  vars
	max int // bytes the word may receive
	got int // bytes it has received
}

// values returns the expansion of in's variables for rendering shell
// words.
func (d *dockerfile) values(in *instr) *expansion {
	return &expansion{d: d, in: in, vs: in.vars, max: maxValue}
}

// Get implements BuildKit's shell.EnvGetter.
func (x *expansion) Get(k string) (string, bool) { return x.get(k) }

// Keys implements BuildKit's shell.EnvGetter.
func (x *expansion) Keys() []string { return x.vs.Keys() }

func (x *expansion) get(k string) (string, bool) {
	if x == nil {
		return "", false
	}
	v, ok := x.vs.Get(k)
	if !ok || v == "" {
		return v, ok
	}
	if x.got+len(v) > x.max {
		x.d.overflow(x.in, k)
		return "", false
	}
	if x.d.expanded+len(v) > maxExpanded {
		x.d.overflowTotal(x.in)
		return "", false
	}
	x.got += len(v)
	x.d.expanded += len(v)
	return v, true
}

// overflow reports, once per instruction, that one of its expansions hit
// maxValue (k is the variable, "" when the result as a whole did).
func (d *dockerfile) overflow(in *instr, k string) {
	if in == nil || in.overValue {
		return
	}
	in.overValue = true
	defer d.unsink()()
	what := "a word of this " + in.kind
	if k != "" {
		what = "$" + k
	}
	d.add("GL908", in, "%s expands past %s: it is left unexpanded, and rules see the text as written", what, sizeMiB(maxValue))
}

// overflowTotal reports, once per Dockerfile, the instruction at which
// expansions spent maxExpanded.
func (d *dockerfile) overflowTotal(in *instr) {
	if in == nil || d.overTotal {
		return
	}
	d.overTotal = true
	defer d.unsink()()
	d.add("GL908", in, "variables expand to more than %s in all by this line: here and after it they are left unexpanded", sizeMiB(maxExpanded))
}

func sizeMiB(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

// unsink makes add report to the Dockerfile's findings until the function
// it returns is called: GL908 says what was not analyzed whichever stage
// ships.
func (d *dockerfile) unsink() func() {
	sink := d.sink
	d.sink = nil
	return func() { d.sink = sink }
}
