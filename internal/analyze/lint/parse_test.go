package lint

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"mvdan.cc/sh/v3/syntax"
)

// FuzzParseInstruction checks that gantry's parse of a RUN, CMD or
// ENTRYPOINT without flags gives what BuildKit's instruction parser gives,
// for every instruction of any Dockerfile. Seeds:
// testdata/fuzz/FuzzParseInstruction (shell and JSON forms, heredocs,
// empty and odd arguments, flags) and every rule case in testdata/rules.
func FuzzParseInstruction(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.txt"))
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		res, err := parser.Parse(strings.NewReader(string(src)))
		if err != nil {
			return
		}
		for _, n := range res.AST.Children {
			sameInstruction(t, n)
		}
	})
}

// TestParseInstruction is FuzzParseInstruction's check on the generated
// corpus.
func TestParseInstruction(t *testing.T) {
	for _, src := range corpus(100) {
		res, err := parser.Parse(strings.NewReader(string(src)))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range res.AST.Children {
			sameInstruction(t, n)
		}
	}
}

func sameInstruction(t *testing.T, n *parser.Node) {
	t.Helper()
	got, gerr := parseInstruction(n)
	want, werr := instructions.ParseInstruction(n)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("line %d %q: error %v, BuildKit's %v", n.StartLine, n.Original, gerr, werr)
	}
	if werr != nil {
		return
	}
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		t.Fatalf("line %d %q: %T, BuildKit's %T", n.StartLine, n.Original, got, want)
	}
	var g, w instructions.ShellDependantCmdLine
	switch wc := want.(type) {
	case *instructions.RunCommand:
		g, w = got.(*instructions.RunCommand).ShellDependantCmdLine, wc.ShellDependantCmdLine
		if len(n.Flags) == 0 && len(instructions.GetMounts(wc)) > 0 {
			t.Fatalf("line %d %q: mounts without flags", n.StartLine, n.Original)
		}
	case *instructions.CmdCommand:
		g, w = got.(*instructions.CmdCommand).ShellDependantCmdLine, wc.ShellDependantCmdLine
	case *instructions.EntrypointCommand:
		g, w = got.(*instructions.EntrypointCommand).ShellDependantCmdLine, wc.ShellDependantCmdLine
	default:
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("line %d %q:\n got %#v\nwant %#v", n.StartLine, n.Original, g, w)
	}
}

// TestWalkAll checks that one walk with several visitors calls each as
// syntax.Walk calls it alone, visitors that stop at different nodes
// included.
func TestWalkAll(t *testing.T) {
	scripts := []string{
		"a && b || c",
		"set -e; cd /x && make; (cd y; echo $(curl -fsSL u | sh) &) | tee z",
		"if [ \"$A\" = 1 ]; then rm -rf $B; else { x & y; }; fi; for i in 1 2; do echo $i; done",
		"echo `date` $(( 1 + 2 )) <<EOF\n$(id)\nEOF\n",
	}
	// Visitors that refuse the nodes under some kinds, and one that
	// never does.
	stops := []func(syntax.Node) bool{
		func(n syntax.Node) bool { _, ok := n.(*syntax.CallExpr); return !ok },
		func(n syntax.Node) bool { _, ok := n.(*syntax.BinaryCmd); return !ok },
		func(n syntax.Node) bool { s, ok := n.(*syntax.Stmt); return !ok || !s.Background },
		func(n syntax.Node) bool { _, ok := n.(*syntax.CmdSubst); return !ok },
		func(syntax.Node) bool { return true },
	}
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	for _, src := range scripts {
		f, err := p.Parse(strings.NewReader(src), "")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		want := make([][]string, len(stops))
		for i, stop := range stops {
			syntax.Walk(f, func(n syntax.Node) bool {
				want[i] = append(want[i], nodeName(n))
				return n == nil || stop(n)
			})
		}
		got := make([][]string, len(stops))
		var vs []func(syntax.Node) bool
		for i, stop := range stops {
			vs = append(vs, func(n syntax.Node) bool {
				got[i] = append(got[i], nodeName(n))
				return stop(n)
			})
		}
		walkAll(f, vs...)
		for i := range stops {
			// walkAll does not pass on the nil that ends a node's
			// children.
			var w []string
			for _, s := range want[i] {
				if s != "<nil>" {
					w = append(w, s)
				}
			}
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("%q, visitor %d:\n got %v\nwant %v", src, i, got[i], w)
			}
		}
	}
}

func nodeName(n syntax.Node) string {
	if n == nil {
		return "<nil>"
	}
	return reflect.TypeOf(n).Elem().Name() + "@" + n.Pos().String()
}
