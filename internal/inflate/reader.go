package inflate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sync"
)

// ErrRetry is returned when the stream turned out not to be decodable in
// parallel after some of its bytes were already read: several gzip
// members, chunk boundaries that do not join, a chunk whose output is over
// maxChunkOut, or a checksum that does not match. The caller reads the
// stream again with an ordinary gzip reader, which also gives the precise
// error when the stream is corrupt.
var ErrRetry = errors.New("inflate: stream not decodable in parallel, read it again sequentially")

// Options tunes a Reader. The zero value works.
type Options struct {
	// Workers is the number of chunks decoded at once (default
	// runtime.GOMAXPROCS(0)).
	Workers int
	// ChunkSize is the compressed bytes of one chunk (default 4 MiB,
	// at least 256 KiB).
	ChunkSize int
}

const (
	defaultChunkSize = 4 << 20
	minChunkSize     = 256 << 10
	// overlap is how many bytes of the next chunk a chunk's buffer also
	// holds, so that a chunk's decode can run to the next one's start.
	overlap = 512 << 10
	// minSearch is the least a last chunk must hold to be searched for
	// a block of its own; a shorter one is decoded with the one before.
	minSearch = overlap / 2
	// maxSpan bounds how many chunks one decode may cover when the
	// chunks after it have no block start of their own (long stretches
	// of blocks too large or too odd to be found).
	maxSpan = 4
	// maxChunkOut bounds one decode's output (a gzip bomb stops here and
	// is read again sequentially, under the caller's own limits).
	maxChunkOut = 256 << 20
)

// terminator is an empty final fixed-Huffman block (BFINAL 1, BTYPE 01,
// end-of-block 0000000): appended after a chunk's last bit, it ends the
// inflater exactly where the next chunk begins.
const terminator, terminatorBits = 0b011, 10

// testFind, when set by a test, may change where a chunk's decode starts.
var testFind func(index int, start uint64, found bool) (uint64, bool)

// Reader decompresses one gzip member on several goroutines. It reads its
// source sequentially, in chunks, at most a few chunks ahead of what was
// read from it. Close it to stop its goroutines.
type Reader struct {
	src       io.Reader
	chunkSize int
	lookahead int
	sem       chan struct{}
	bufs      *buffers
	decoders  sync.Pool
	mu        sync.Mutex
	cond      *sync.Cond
	chunks    map[int]*chunk // published, not yet emitted
	published int            // chunks published so far
	eof       bool           // no chunk after the published ones
	readErr   error          // the source failed after the published chunks
	emitted   int            // chunks emitted
	closed    bool
	retaken   int            // chunks whose start did not join (tests)
	working   sync.WaitGroup // the chunks' work
	crc       uint32
	size      uint32
	window    []byte // the last windowSize bytes emitted
	cur, next []byte // the bytes being emitted, then the rest of the chunk's
	pre       []byte // the chunk's prefix with its markers replaced
	spent     []byte // the last chunk's body and compressed bytes, to recycle
	spentIn   []byte
	ended     bool // the final block and trailer were checked
	err       error
}

// chunk is ChunkSize bytes of the compressed stream and what became of
// them.
type chunk struct {
	index int
	buf   []byte // own bytes, then up to overlap bytes of the next chunk
	own   int
	last  bool // the stream ends in this chunk

	startDone chan struct{}
	start     uint64 // bit offset in buf of the first block, if found
	found     bool
	// Under Reader.mu: the decode before this chunk's ended where
	// this one starts (joined), or covers it (taken). Chunk 0 is joined.
	joined, taken bool

	resDone chan struct{}
	res     result
}

// result is the decode of the stream from a chunk's start to the next
// chunk's start that has one.
type result struct {
	prefix  []uint16 // symbols before the hand-off, markers unresolved
	body    []byte
	merged  bool // an earlier chunk's decode covered this one
	final   bool // the stream's last block; trailer holds CRC-32 and size
	trailer [8]byte
	err     error
}

// NewReader returns a Reader of the gzip member in r. It starts reading r
// at once.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = defaultChunkSize
	}
	opts.ChunkSize = max(opts.ChunkSize, minChunkSize)
	z := &Reader{
		src:       r,
		chunkSize: opts.ChunkSize,
		lookahead: opts.Workers + maxSpan + 1,
		sem:       make(chan struct{}, opts.Workers),
		chunks:    map[int]*chunk{},
		bufs:      newBuffers(opts.Workers),
	}
	z.decoders.New = func() any { return &decoder{bufs: z.bufs} }
	z.cond = sync.NewCond(&z.mu)
	go z.produce()
	return z
}

// produce reads the source in chunks and starts each chunk's work once
// the overlap after it is known.
func (z *Reader) produce() {
	var prev *chunk
	for i := 0; ; i++ {
		z.mu.Lock()
		for !z.closed && i-z.emitted >= z.lookahead {
			z.cond.Wait()
		}
		closed := z.closed
		z.mu.Unlock()
		if closed {
			return
		}
		// Room for the overlap, and for a chunk's inflater input
		// (handoff), which takes buffers from the same list.
		buf := getBytes(z.bufs.in, z.chunkSize+overlap+4<<10)[:z.chunkSize]
		n, err := io.ReadFull(z.src, buf)
		buf = buf[:n]
		if prev != nil {
			prev.buf = append(prev.buf, buf[:min(n, overlap)]...)
			prev.last = n == 0 && err == io.EOF
			z.publish(prev, nil)
		}
		switch err {
		case nil:
			prev = &chunk{index: i, buf: buf, own: n, joined: i == 0, startDone: make(chan struct{}), resDone: make(chan struct{})}
			continue
		case io.EOF:
			z.publish(nil, nil)
		case io.ErrUnexpectedEOF:
			z.publish(&chunk{index: i, buf: buf, own: n, last: true, joined: i == 0, startDone: make(chan struct{}), resDone: make(chan struct{})}, nil)
			z.publish(nil, nil)
		default:
			z.publish(nil, err)
		}
		return
	}
}

// publish makes c available to the other chunks' work and starts its own;
// a nil c marks the end of the stream, or its failure with err.
func (z *Reader) publish(c *chunk, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	defer z.cond.Broadcast()
	if c == nil {
		z.eof, z.readErr = err == nil, err
		return
	}
	if z.closed {
		// Close is waiting for the chunks' work: none may start now.
		return
	}
	z.chunks[c.index] = c
	z.published++
	z.working.Add(1)
	go z.work(c)
}

// chunkAt waits for chunk i; nil with a nil error past the stream's last
// chunk.
func (z *Reader) chunkAt(i int) (*chunk, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for {
		switch {
		case z.closed:
			return nil, errors.New("inflate: reader closed")
		case i < z.published:
			return z.chunks[i], nil
		case z.readErr != nil:
			return nil, z.readErr
		case z.eof:
			return nil, nil
		}
		z.cond.Wait()
	}
}

// work finds the chunk's first block, then decodes from it to the next
// chunk's first block, or to the end of the stream.
func (z *Reader) work(c *chunk) {
	defer z.working.Done()
	defer close(c.resDone)
	d := z.decoders.Get().(*decoder)
	defer z.decoders.Put(d)
	if c.index == 0 {
		n, err := headerLen(c.buf)
		c.start, c.found = uint64(n)*8, err == nil
		if err != nil {
			c.res.err = err
		}
	} else if !c.last || c.own > minSearch {
		z.sem <- struct{}{}
		c.start, c.found = findBlock(d, c.buf, 0, uint64(c.own)*8)
		if testFind != nil {
			c.start, c.found = testFind(c.index, c.start, c.found)
		}
		<-z.sem
	}
	close(c.startDone)
	if !c.found {
		c.res.merged = c.index > 0
		return
	}
	// The chunks this decode covers: c, any after it without a start,
	// and the next with one (or the end of the stream).
	span := []*chunk{c}
	next, err := z.nextStart(&span)
	if err != nil {
		c.res.err = err
		return
	}
	// Decoded output waits in memory until it is read: decode at most
	// one chunk more than there are workers ahead of the reader.
	z.mu.Lock()
	for !z.closed && c.index-z.emitted > cap(z.sem) {
		z.cond.Wait()
	}
	taken := c.taken
	z.mu.Unlock()
	if taken {
		return // an earlier chunk's decode covers this one
	}
	for {
		z.sem <- struct{}{}
		c.res = z.decodeSpan(d, span, next)
		<-z.sem
		if c.res.err == nil {
			if next != nil {
				z.mu.Lock()
				next.joined = true
				z.cond.Broadcast()
				z.mu.Unlock()
			}
			return
		}
		if next == nil || errors.Is(c.res.err, errTooBig) {
			return
		}
		// The decode did not end where the next chunk's starts. Either
		// that start was not a block (a stretch of a stored block's
		// bytes can pass for one), and this decode covers its chunk
		// too; or this chunk's own start was not, which the decode
		// before it finds out by not joining it, and takes this chunk.
		z.mu.Lock()
		for !z.closed && !c.joined && !c.taken {
			z.cond.Wait()
		}
		if !c.joined {
			z.mu.Unlock()
			return
		}
		next.taken = true
		z.retaken++
		z.cond.Broadcast() // next's own work may be waiting to learn this
		z.mu.Unlock()
		span = append(span, next)
		if next, err = z.nextStart(&span); err != nil {
			c.res.err = err
			return
		}
	}
}

// nextStart returns the first chunk after span with a start of its own,
// nil at the end of the stream, adding the chunks without one to span.
func (z *Reader) nextStart(span *[]*chunk) (*chunk, error) {
	for {
		last := (*span)[len(*span)-1]
		if len(*span) > maxSpan {
			return nil, fmt.Errorf("no deflate block found in %d chunks: %w", maxSpan, ErrRetry)
		}
		n, err := z.chunkAt(last.index + 1)
		if n == nil || err != nil {
			return nil, err
		}
		<-n.startDone
		if n.found {
			return n, nil
		}
		*span = append(*span, n)
	}
}

// decodeSpan decodes from the start of span's first chunk to next's start,
// or to the end of the stream.
func (z *Reader) decodeSpan(d *decoder, span []*chunk, next *chunk) result {
	c := span[0]
	data, end := c.buf, uint64(0)
	if len(span) > 1 || next == nil || int(next.start/8)+1 > len(c.buf)-c.own {
		// One contiguous slice: the own bytes of every chunk spanned,
		// then the next chunk's up to its start, or nothing more at
		// the end of the stream.
		data = make([]byte, 0, (len(span)+1)*z.chunkSize+overlap) // rare: not from the list
		for _, s := range span {
			data = append(data, s.buf[:s.own]...)
		}
		if next != nil {
			data = append(data, next.buf[:min(len(next.buf), int(next.start/8)+1)]...)
		}
	}
	if next != nil {
		end = uint64(sumOwn(span))*8 + next.start
	}
	return decodeRegion(d, data, c.start, end, next == nil, c.index == 0)
}

func sumOwn(span []*chunk) int {
	n := 0
	for _, s := range span {
		n += s.own
	}
	return n
}

// headerLen returns the length of the gzip header at the start of b
// (RFC 1952, 2.3), or ErrRetry when it is not one this reader takes.
func headerLen(b []byte) (int, error) {
	const (
		fhcrc    = 1 << 1
		fextra   = 1 << 2
		fname    = 1 << 3
		fcomment = 1 << 4
	)
	if len(b) < 10 || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 || b[3]&0xe0 != 0 {
		return 0, fmt.Errorf("gzip header: %w", ErrRetry)
	}
	flg, n := b[3], 10
	if flg&fextra != 0 {
		if len(b) < n+2 {
			return 0, fmt.Errorf("gzip header: %w", ErrRetry)
		}
		n += 2 + int(binary.LittleEndian.Uint16(b[n:]))
	}
	for _, f := range []byte{fname, fcomment} {
		if flg&f == 0 {
			continue
		}
		if n >= len(b) {
			return 0, fmt.Errorf("gzip header: %w", ErrRetry)
		}
		i := bytes.IndexByte(b[n:], 0)
		if i < 0 {
			return 0, fmt.Errorf("gzip header: %w", ErrRetry)
		}
		n += i + 1
	}
	if flg&fhcrc != 0 {
		n += 2
	}
	if n >= len(b) {
		return 0, fmt.Errorf("gzip header: %w", ErrRetry)
	}
	return n, nil
}

// decodeRegion decodes data from bit start to bit end (or, when eof, to
// the stream's final block, followed by the 8-byte trailer that ends
// data). Unless first (the stream's first block, after which nothing is
// unknown), it decodes with markers until the last windowSize bytes hold
// none, then hands the rest to klauspost's inflater with those bytes as
// its dictionary.
func decodeRegion(d *decoder, data []byte, start, end uint64, eof, first bool) result {
	var res result
	pos := start
	var window []byte
	if !first {
		d.reset(data, start, maxChunkOut)
		d.out = slices.Grow(d.out, 2<<20) // a typical prefix, grown once
		for {
			if !eof && d.br.pos >= end {
				if d.br.pos != end {
					return result{err: fmt.Errorf("decode ran past the next chunk's start: %w", ErrRetry)}
				}
				res.prefix = d.out
				d.out = nil
				return res
			}
			if err := d.block(); err != nil {
				return result{err: fmt.Errorf("%v: %w", err, ErrRetry)}
			}
			if d.final {
				if !eof || (d.br.pos+7)/8 != uint64(len(data)-8) {
					return result{err: fmt.Errorf("final block before the end of the stream: %w", ErrRetry)}
				}
				res.prefix, res.final = d.out, true
				d.out = nil
				copy(res.trailer[:], data[len(data)-8:])
				return res
			}
			// Hand over once nothing can refer to the unknown window,
			// unless the chunk ends within a few bytes.
			if d.windowClean() && (eof || end-d.br.pos >= 1024) {
				break
			}
		}
		pos = d.br.pos
		res.prefix = d.out
		d.out = nil
		window = make([]byte, windowSize)
		for i, v := range res.prefix[len(res.prefix)-windowSize:] {
			window[i] = byte(v)
		}
	}
	if eof && uint64(len(data)) < pos/8+9 || !eof && end < pos+16 {
		return result{err: fmt.Errorf("chunk too short: %w", ErrRetry)}
	}
	in := handoff(d.bufs.in, data, pos, end, eof)
	body, rest, err := inflateRaw(d.bufs.out, in, window, len(in)*3, maxChunkOut-len(res.prefix))
	putBytes(d.bufs.in, in)
	if err != nil {
		return result{err: fmt.Errorf("%v: %w", err, ErrRetry)}
	}
	res.body = body
	if rest != 0 {
		return result{err: fmt.Errorf("final block before the end of the chunk: %w", ErrRetry)}
	}
	if eof {
		res.final = true
		copy(res.trailer[:], data[len(data)-8:])
	}
	return res
}

// handoff returns the input of a byte-aligned inflater for data's bits
// from pos: a prelude that puts pos's bit where it lies in its byte, then
// data's bytes, up to end followed by the terminator, or (eof) up to the
// 8-byte trailer.
func handoff(free chan []byte, data []byte, pos, end uint64, eof bool) []byte {
	r := pos & 7
	pre, pbits := prelude(r)
	last := uint64(len(data) - 8)
	if !eof {
		last = end / 8
	}
	in := getBytes(free, len(pre)+int(last-pos/8)+4)
	in = append(in, pre[:pbits/8]...)
	in = append(in, pre[pbits/8:]...) // the prelude's last r bits, if any
	if r == 0 {
		in = append(in, data[pos/8])
	} else {
		in[len(in)-1] |= data[pos/8] &^ (1<<r - 1)
	}
	in = append(in, data[pos/8+1:last]...)
	if eof {
		return in
	}
	nbits := uint64(len(in)) * 8
	if e := end & 7; e != 0 {
		in = append(in, data[end/8]&(1<<e-1))
		nbits += e
	}
	in, _ = appendBits(in, nbits, terminator, terminatorBits)
	return in
}

// Read reads decompressed bytes, in order.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.cur) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		if len(z.next) > 0 {
			z.cur, z.next = z.next, nil
			break
		}
		z.err = z.advance()
	}
	n := copy(p, z.cur)
	z.cur = z.cur[n:]
	return n, nil
}

// advance makes the next chunk's output current, checking the trailer
// after the last.
func (z *Reader) advance() error {
	if z.ended {
		return io.EOF
	}
	c, err := z.chunkAt(z.emitted)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("stream ended without its final block: %w", ErrRetry)
	}
	<-c.resDone
	res := c.res
	putBytes(z.bufs.out, z.spent)
	putBytes(z.bufs.in, z.spentIn)
	z.spent, z.spentIn = res.body, c.buf
	z.mu.Lock()
	delete(z.chunks, c.index)
	z.emitted++
	z.cond.Broadcast()
	z.mu.Unlock()
	z.mu.Lock()
	taken := c.taken
	z.mu.Unlock()
	if taken {
		return nil
	}
	if res.err != nil {
		return res.err
	}
	if res.merged {
		return nil
	}
	z.pre = slices.Grow(z.pre[:0], len(res.prefix))[:len(res.prefix)]
	pre := z.pre
	defer z.bufs.putSymbols(res.prefix)
	for i, v := range res.prefix {
		if v < markerBase {
			pre[i] = byte(v)
			continue
		}
		k := int(v) - markerBase - (windowSize - len(z.window))
		if k < 0 {
			return fmt.Errorf("reference before the start of the stream: %w", ErrRetry)
		}
		pre[i] = z.window[k]
	}
	z.crc = crc32.Update(z.crc, crc32.IEEETable, pre)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, res.body)
	z.size += uint32(len(pre) + len(res.body))
	z.window = slide(z.window, pre, res.body)
	z.cur, z.next = pre, res.body
	if res.final {
		z.ended = true
		if binary.LittleEndian.Uint32(res.trailer[:4]) != z.crc || binary.LittleEndian.Uint32(res.trailer[4:]) != z.size {
			return fmt.Errorf("gzip checksum or size mismatch: %w", ErrRetry)
		}
	}
	return nil
}

// slide returns the last windowSize bytes of w, then a, then b.
func slide(w, a, b []byte) []byte {
	out := make([]byte, 0, windowSize)
	need := windowSize
	tail := func(x []byte) []byte { return x[max(0, len(x)-need):] }
	parts := [][]byte{tail(b)}
	need -= len(parts[0])
	if need > 0 {
		parts = append(parts, tail(a))
		need -= len(parts[1])
	}
	if need > 0 {
		parts = append(parts, tail(w))
	}
	for i := len(parts) - 1; i >= 0; i-- {
		out = append(out, parts[i]...)
	}
	return out
}

// Close stops the Reader's goroutines and waits for those decoding (a
// chunk's worth of work at most); the one reading the source ends at its
// next read. It does not close the source.
func (z *Reader) Close() error {
	z.mu.Lock()
	z.closed = true
	z.chunks = map[int]*chunk{}
	z.cond.Broadcast()
	z.mu.Unlock()
	z.working.Wait()
	return nil
}
