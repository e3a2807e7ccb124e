package lint

import "slices"

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
