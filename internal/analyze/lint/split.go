package lint

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"mvdan.cc/sh/v3/syntax"
)

// chunkSize is how many bytes of a Dockerfile BuildKit parses at a time.
// BuildKit's tree costs some 20 times the text it holds (about 275 MB for
// a 15 MB file), so a Dockerfile is parsed in pieces and each instruction
// is modelled and dropped before the next piece is read. Pieces are
// parsed ahead of the rules by other goroutines (see eachNode); a piece in
// flight holds its BuildKit nodes and the syntax trees of its shell
// programs (some 40 times their text), which is what keeps pieces small
// and few: 32 KiB pieces, inFlight of them ahead of the rules, kept a 15
// MB file near the peak memory of one goroutine parsing 256 KiB pieces.
const chunkSize = 32 << 10

// inFlight is how many pieces past the one the rules are reading may be
// parsed or waiting: enough that neither side waits for the other at each
// piece (on a loaded machine a thread woken from such a wait waits again
// for a core), few enough to cost little memory.
const inFlight = 2

// parsed is one instruction as the parsing goroutines hand it to the
// rules: BuildKit's node with the lines of the whole file, the command
// parseInstruction makes of it, and the shell program of a RUN, CMD or
// ENTRYPOINT, parsed.
type parsed struct {
	node *parser.Node
	cmd  any     // nil when err is set
	err  error   // parseInstruction's error
	prog program // when isProg
	// isProg is set for a RUN, CMD or ENTRYPOINT command.
	isProg bool
	// shellLater is set when the shell program is left for the rules'
	// goroutine to find and parse (see eachNode).
	shellLater bool
}

// prepare parses the instruction n into p, and its shell program with sh;
// with sh nil, the shell program is left for parseShell.
func prepare(p *parsed, n *parser.Node, sh *syntax.Parser) {
	*p = parsed{node: n}
	p.cmd, p.err = parseInstruction(n)
	if sh == nil {
		p.shellLater = true
		return
	}
	p.parseShell(sh)
}

// parseShell finds and parses p's shell program with sh.
func (p *parsed) parseShell(sh *syntax.Parser) {
	p.shellLater = false
	if p.err == nil {
		p.isProg = prepareProgram(&p.prog, p.cmd, sh)
	}
}

// program returns p's shell program, nil if it has none.
func (p *parsed) program() *program {
	if !p.isProg {
		return nil
	}
	return &p.prog
}

// newShellParser returns the parser of RUN, CMD and ENTRYPOINT programs;
// each goroutine that parses pieces keeps one.
func newShellParser() *syntax.Parser { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }

// span is where a piece of the file starts: its byte offset and line.
type span struct{ start, line int }

// cut returns the starts of the pieces of src, about chunk bytes each and
// cut after a line end, followed by the end of the file (len(src), and
// the line after the last).
func cut(src []byte, chunk int) []span {
	out := []span{{0, 1}}
	start, line := 0, 1
	for start+chunk < len(src) {
		end := start + chunk
		i := bytes.IndexByte(src[end-1:], '\n')
		if i < 0 {
			break
		}
		end += i
		if end == len(src) {
			break
		}
		line += bytes.Count(src[start:end], []byte{'\n'})
		start = end
		out = append(out, span{start, line})
	}
	return append(out, span{len(src), line + bytes.Count(src[start:], []byte{'\n'}) + 1})
}

// eachNode parses src with BuildKit's parser about chunk bytes at a time
// (tests make chunks as small as they get) and calls fn with every
// instruction, in order, with the lines of the whole file, and the escape
// token. It returns the escape token the parser directives set, and
// BuildKit's error (lines those of the whole file) for a Dockerfile it
// cannot parse.
//
// BuildKit reads a Dockerfile line by line, and between two instructions
// its only state is the escape token (the comments it attaches to a node
// are not read by gantry). So from a line where an instruction starts,
// the rest of the file parses on its own, behind an escape directive for
// the token the file set and a comment that ends BuildKit's reading of
// directives (so a comment there is not taken for one, and a byte-order
// mark there is kept, as it is in the middle of the file).
//
// The file is cut into pieces at line ends, and each piece is parsed,
// with the shell programs of its instructions, by one of GOMAXPROCS-1
// goroutines (at least one) while the caller's goroutine runs the rules,
// as if an instruction started on its first line (see parsePiece); the
// instruction a piece ends in is parsed again from its start until the
// next one begins. A piece may in fact
// start inside an instruction (a continuation, a heredoc): its first
// nodes are then wrong, but once the instruction really there ends, the
// piece's parse is in step with the file's if at that line the piece's
// parse is between two of its nodes too, from where both read the same
// lines from the same state. The rules take a piece's instructions from
// the first that starts where the file's next instruction does, when the
// piece's parse is between nodes just before that line; otherwise (a
// piece inside a heredoc that looks like the start of another, an error,
// an instruction much longer than a piece) that stretch of the file is
// parsed on the rules' goroutine as it was before pieces ran in parallel
// (see serial). FuzzSplit compares both with a parse of the whole file.
func eachNode(src []byte, chunk int, fn func(p *parsed, escape rune) error) (rune, error) {
	chunk = max(chunk, 1)
	spans := cut(src, chunk)
	sh := newShellParser()
	escape := parser.DefaultEscapeToken
	if len(spans) <= 2 {
		_, _, esc, _, err := serial(src, chunk, 0, 1, escape, -1, sh, fn)
		return esc, err
	}
	first := parsePiece(src, spans, 0, escape, chunk, sh)
	if first.err != nil {
		// Every piece is parsed behind the file's escape token, which a
		// first piece that does not parse does not give.
		_, _, esc, _, err := serial(src, chunk, 0, 1, escape, -1, sh, fn)
		return esc, err
	}
	escape = first.escape

	workers := min(max(runtime.GOMAXPROCS(0)-1, 1), len(spans)-2)
	// With one parsing goroutine, the shell programs are parsed on the
	// rules' goroutine, which otherwise waits for pieces: BuildKit's parse
	// alone takes it longer than the rules.
	shellAhead := workers > 1
	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		jobs    = make(chan int)
		slots   = make(chan struct{}, max(inFlight, workers))
		results = make([]chan *piece, len(spans)-1)
		horizon atomic.Int64 // pieces ending at or before this line are not needed
	)
	for j := range results {
		results[j] = make(chan *piece, 1)
	}
	defer func() {
		close(done)
		wg.Wait()
	}()
	wg.Add(1)
	go func() { // hand out the pieces in order, as slots free
		defer wg.Done()
		defer close(jobs)
		for j := 1; j < len(spans)-1; j++ {
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			select {
			case jobs <- j:
			case <-done:
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sh *syntax.Parser
			if shellAhead {
				sh = newShellParser()
			}
			for j := range jobs {
				if int64(spans[j+1].line) <= horizon.Load() {
					results[j] <- &piece{skipped: true}
					continue
				}
				results[j] <- parsePiece(src, spans, j, escape, chunk, sh)
			}
		}()
	}

	at := 1 // the line of the file's next instruction to hand to fn
	for j := 0; j < len(spans)-1; j++ {
		p := first
		if j > 0 {
			p = <-results[j]
			<-slots
		}
		next := spans[j+1].line
		if at >= next {
			continue // inside an instruction handed out already
		}
		if k, ok := p.inStep(spans[j].line, at); ok {
			for i := k; i < len(p.nodes); i++ {
				if p.nodes[i].shellLater {
					p.nodes[i].parseShell(sh)
				}
				if err := fn(&p.nodes[i], escape); err != nil {
					return escape, err
				}
				p.nodes[i] = parsed{} // its trees go as soon as the rules are done with it
			}
			if p.after == 0 {
				return escape, nil // the end of the file
			}
			at = p.after
			horizon.Store(int64(at))
			continue
		}
		start := spans[j].start
		for l := spans[j].line; l < at; l++ {
			start += bytes.IndexByte(src[start:], '\n') + 1
		}
		_, line, _, eof, err := serial(src, chunk, start, at, escape, next, sh, fn)
		if err != nil || eof {
			return escape, err
		}
		at = line
		horizon.Store(int64(at))
	}
	return escape, nil
}

// piece is the parse of one piece of a Dockerfile.
type piece struct {
	nodes   []parsed // the instructions that start in the piece, in order, each whole
	after   int      // the line where the next instruction starts; 0 at the end of the file
	escape  rune     // the escape token directives set (the first piece)
	err     error    // no parse: the piece is not used
	skipped bool     // not parsed: not needed
}

// inStep returns the index of the first node of p that starts at line at
// or later, if p's parse is between two nodes just before at (see
// eachNode); start is the piece's first line.
func (p *piece) inStep(start, at int) (int, bool) {
	if p.err != nil || p.skipped {
		return 0, false
	}
	if at == start {
		return 0, true // the piece's parse starts where the file's instruction does
	}
	prevEnd := start - 1
	for k, n := range p.nodes {
		if n.node.StartLine >= at {
			return k, prevEnd < at && n.node.StartLine == at
		}
		prevEnd = n.node.EndLine
	}
	// The file's instruction at at is not one of p's.
	return 0, false
}

// errPieceTooLong is a piece whose last instruction runs far past its end.
var errPieceTooLong = errors.New("instruction much longer than a piece")

// parsePiece parses piece j of src, as if an instruction started on its
// first line, and the instruction the piece ends in up to the start of the
// next, with the escape token escape (after the first piece).
func parsePiece(src []byte, spans []span, j int, escape rune, chunk int, sh *syntax.Parser) *piece {
	start, line, next := spans[j].start, spans[j].line, spans[j+1].line
	p := &piece{}
	// The piece; when it does not parse (a heredoc cut by its end), a
	// little more of the file.
	end := spans[j+1].start
	var nodes []*parser.Node
	for grow := 4 << 10; ; grow *= 2 {
		res, err := parseWith(src[start:end], start, line, escape)
		if err == nil {
			if j == 0 {
				p.escape, escape = res.EscapeToken, res.EscapeToken
			}
			nodes = res.AST.Children
			break
		}
		if end == len(src) || grow > 4*chunk {
			p.err = err
			return p
		}
		end = lineEnd(src, spans[j+1].start+grow)
	}
	own := len(nodes)
	for own > 0 && nodes[own-1].StartLine >= next {
		own--
	}
	switch {
	case end == len(src):
		// Every node is whole.
	case own < len(nodes):
		p.after = nodes[own].StartLine
	case own == 0:
		p.err = errPieceTooLong // cannot happen: a parse has a node
		return p
	default:
		// The last node may be cut: parse from its start until the next
		// instruction starts.
		last := nodes[own-1]
		from := start
		for l := line; l < last.StartLine; l++ {
			from += bytes.IndexByte(src[from:], '\n') + 1
		}
		for grow := 4 << 10; ; grow *= 2 {
			to := lineEnd(src, max(end, from)+grow)
			res, err := parseWith(src[from:to], from, last.StartLine, escape)
			if err == nil && (to == len(src) || len(res.AST.Children) >= 2) {
				nodes[own-1] = res.AST.Children[0]
				if len(res.AST.Children) >= 2 {
					p.after = res.AST.Children[1].StartLine
				}
				break
			}
			if to == len(src) || grow > 4*chunk {
				p.err = cmp.Or(err, errPieceTooLong)
				return p
			}
		}
	}
	p.nodes = make([]parsed, own)
	for i, n := range nodes[:own] {
		prepare(&p.nodes[i], n, sh)
	}
	return p
}

// lineEnd returns the offset after the line end at or after i, or the
// end of src.
func lineEnd(src []byte, i int) int {
	if i >= len(src) {
		return len(src)
	}
	if k := bytes.IndexByte(src[max(i-1, 0):], '\n'); k >= 0 {
		return max(i-1, 0) + k + 1
	}
	return len(src)
}

// serial parses src from byte start, the start of an instruction on
// line startLine (or of the file), about chunk bytes at a time, and calls
// fn with every instruction until one starts at or after line stop (stop
// < 0: none), whose byte and line it returns; eof is set at the end of
// the file. A chunk may end inside an instruction (a line continuation, a
// heredoc): its last instruction is parsed again as the first of the next
// chunk. A chunk that fails to parse, or holds fewer than two
// instructions, is doubled until it reaches the end of the file; an error
// there is the file's first.
func serial(src []byte, chunk, start, startLine int, escape rune, stop int, sh *syntax.Parser, fn func(*parsed, rune) error) (int, int, rune, bool, error) {
	size := chunk
	for {
		end := len(src)
		if start+size < len(src) {
			end = lineEnd(src, start+size)
		}
		atEOF := end == len(src)
		res, err := parseWith(src[start:end], start, startLine, escape)
		if err != nil || !atEOF && len(res.AST.Children) < 2 {
			if !atEOF {
				size *= 2
				continue
			}
			return start, startLine, escape, true, err
		}
		if start == 0 {
			escape = res.EscapeToken
		}
		nodes := res.AST.Children
		if !atEOF {
			nodes = nodes[:len(nodes)-1]
		}
		var p parsed
		for _, n := range nodes {
			prepare(&p, n, sh)
			if err := fn(&p, escape); err != nil {
				return start, startLine, escape, true, err
			}
		}
		if atEOF {
			return start, startLine, escape, true, nil
		}
		// The next chunk starts on the line of the chunk's last
		// instruction.
		next := res.AST.Children[len(res.AST.Children)-1].StartLine
		for startLine < next {
			start += bytes.IndexByte(src[start:], '\n') + 1
			startLine++
		}
		if stop >= 0 && startLine >= stop {
			return start, startLine, escape, false, nil
		}
		size = chunk
	}
}

// parseWith parses text, which starts at byte start of the file on line
// line, with the escape token escape, and gives its nodes and errors the
// lines of the file. Text after the start of the file is parsed behind an
// escape directive and a comment (see eachNode).
func parseWith(text []byte, start, line int, escape rune) (*parser.Result, error) {
	var r io.Reader = bytes.NewReader(text)
	prefix := 0
	if start > 0 {
		r = io.MultiReader(strings.NewReader("# escape="+string(escape)+"\n#\n"), r)
		prefix = 2
	}
	off := line - 1 - prefix // add to a line of text to get the file's
	res, err := parser.Parse(r)
	if err != nil {
		return nil, shiftError(err, off)
	}
	for _, n := range res.AST.Children {
		shiftNode(n, off)
	}
	return res, nil
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
