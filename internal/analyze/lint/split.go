package lint

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// chunkSize is how many bytes of a Dockerfile BuildKit parses at a time.
// BuildKit's tree costs some 20 times the text it holds (about 275 MB for
// a 15 MB file), so a Dockerfile is parsed in pieces and each instruction
// is modelled and dropped before the next piece is read.
const chunkSize = 256 << 10

// eachNode parses src with BuildKit's parser about chunk bytes at a time
// (tests make chunks as small as they get) and calls fn with every
// instruction, in order, with the lines of the whole file, and the escape
// token. It returns the escape token the parser directives set, and
// BuildKit's error (lines those of the whole file) for a Dockerfile it
// cannot parse.
//
// A chunk is cut at a line end and may end inside an instruction (a line
// continuation, a heredoc): its last instruction is parsed again as the
// first of the next chunk, which starts on that instruction's first line.
// Everything before it in the chunk parsed exactly as it does in the whole
// file: BuildKit reads line by line, and between two instructions its only
// state is the escape token. A later chunk is prefixed with an escape
// directive for that token and a comment that ends BuildKit's reading of
// directives, so a comment there is not taken for one (and a byte-order
// mark there is kept, as it is in the middle of the file). A chunk that
// fails to parse, or holds fewer than two instructions, is doubled until
// it reaches the end of the file; an error there is the file's first.
func eachNode(src []byte, chunk int, fn func(n *parser.Node, escape rune) error) (rune, error) {
	escape := parser.DefaultEscapeToken
	start, startLine := 0, 1 // the chunk's first byte and its line in the file
	size := max(chunk, 1)
	for {
		end := len(src)
		if start+size < len(src) {
			end = start + size
			if i := bytes.IndexByte(src[end-1:], '\n'); i >= 0 {
				end += i
			} else {
				end = len(src)
			}
		}
		atEOF := end == len(src)
		var r io.Reader = bytes.NewReader(src[start:end])
		prefix := 0
		if start > 0 {
			r = io.MultiReader(strings.NewReader("# escape="+string(escape)+"\n#\n"), r)
			prefix = 2
		}
		off := startLine - 1 - prefix // add to a chunk's line to get the file's
		res, err := parser.Parse(r)
		if err != nil || !atEOF && len(res.AST.Children) < 2 {
			if !atEOF {
				size *= 2
				continue
			}
			return escape, shiftError(err, off)
		}
		if start == 0 {
			escape = res.EscapeToken
		}
		nodes := res.AST.Children
		if !atEOF {
			nodes = nodes[:len(nodes)-1]
		}
		for _, n := range nodes {
			shiftNode(n, off)
			if err := fn(n, escape); err != nil {
				return escape, err
			}
		}
		if atEOF {
			return escape, nil
		}
		// The next chunk starts on the line of the chunk's last
		// instruction.
		next := res.AST.Children[len(res.AST.Children)-1].StartLine + off
		for startLine < next {
			i := bytes.IndexByte(src[start:], '\n')
			start += i + 1
			startLine++
		}
		size = max(chunk, 1)
	}
}

// shiftNode adds off to the lines of n and of the nodes under it.
func shiftNode(n *parser.Node, off int) {
	for ; n != nil; n = n.Next {
		n.StartLine += off
		n.EndLine += off
		for _, c := range n.Children {
			shiftNode(c, off)
		}
	}
}

// shiftError adds off to the lines of BuildKit's error locations.
func shiftError(err error, off int) error {
	var le *parser.LocationError
	if off == 0 || !errors.As(err, &le) {
		return err
	}
	for _, rs := range le.Locations {
		for i := range rs {
			rs[i].Start.Line += off
			rs[i].End.Line += off
		}
	}
	return err
}
