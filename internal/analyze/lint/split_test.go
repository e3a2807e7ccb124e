package lint

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// FuzzSplit checks that parsing a Dockerfile a chunk at a time gives the
// instructions, lines and error of parsing it whole, with chunks of one
// line (grown by doubling), a few lines, and the default size. Seeds:
// testdata/fuzz/FuzzSplit (heredocs, escape directives, continuations,
// comments between and inside instructions, errors).
func FuzzSplit(f *testing.F) {
	f.Add([]byte("FROM debian:12\nRUN <<EOF\nset -e\napt-get update\nEOF\nCOPY <<-A <<B /x/\n\ta\n\tA\nb\nB\nRUN echo done\n"))
	f.Add([]byte("# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n  c:\\ `\n  /s\n# escape=\\\nRUN echo \\\nCMD x\n"))
	f.Add([]byte("# syntax=docker/dockerfile:1\nFROM a\nRUN a \\\n# inside\n\n  && b \\\n  && c\n# hadolint ignore=DL3008\nRUN d\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		want := wholeParse(src)
		for _, chunk := range []int{1, 40, chunkSize} {
			if got := chunkedParse(src, chunk); got != want {
				t.Fatalf("chunks of %d bytes:\n%s\nwhole file:\n%s", chunk, got, want)
			}
		}
	})
}

// TestSplitLines checks that the lines of instructions parsed in chunks
// are those of the whole file, on the generated corpus.
func TestSplitLines(t *testing.T) {
	var b strings.Builder
	for _, f := range corpus(40) {
		b.Write(f)
	}
	src := []byte(b.String())
	want := wholeParse(src)
	for _, chunk := range []int{1, 100, 4096} {
		if got := chunkedParse(src, chunk); got != want {
			t.Errorf("chunks of %d bytes differ from the whole file", chunk)
		}
	}
}

func wholeParse(src []byte) string {
	var b strings.Builder
	res, err := parser.Parse(strings.NewReader(string(src)))
	if err != nil {
		line, col := location(err)
		fmt.Fprintf(&b, "error %d:%d: %v\n", line, col, err)
		return b.String()
	}
	for _, n := range res.AST.Children {
		writeNode(&b, n)
	}
	fmt.Fprintf(&b, "escape %q\n", res.EscapeToken)
	return b.String()
}

func chunkedParse(src []byte, chunk int) string {
	var b strings.Builder
	esc, err := eachNode(src, chunk, func(p *parsed, _ rune) error {
		writeNode(&b, p.node)
		return nil
	})
	if err != nil {
		line, col := location(err)
		return fmt.Sprintf("error %d:%d: %v\n", line, col, err)
	}
	fmt.Fprintf(&b, "escape %q\n", esc)
	return b.String()
}

func writeNode(b *strings.Builder, n *parser.Node) {
	fmt.Fprintf(b, "%d-%d %s %q", n.StartLine, n.EndLine, n.Dump(), n.Original)
	for _, h := range n.Heredocs {
		fmt.Fprintf(b, " heredoc %q %q", h.Name, h.Content)
	}
	b.WriteString("\n")
}

// TestSplitParallel checks that findings do not depend on how many
// goroutines parse the pieces of a Dockerfile, nor on whether they parse
// the shell programs too (with more than one) or leave them to the
// rules' goroutine.
func TestSplitParallel(t *testing.T) {
	var src []byte
	for _, f := range corpus(200) {
		src = append(src, f...)
	}
	lint := func(procs int) []report.Finding {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		fs, err := Lint("Dockerfile", src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	want := lint(1)
	for _, procs := range []int{2, 4} {
		if diff := cmp.Diff(want, lint(procs)); diff != "" {
			t.Errorf("GOMAXPROCS=%d: findings differ from one goroutine's (-want +got):\n%s", procs, diff)
		}
	}
}
