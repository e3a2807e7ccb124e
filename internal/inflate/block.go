package inflate

import (
	"encoding/binary"
	"errors"
	"sync"
)

const (
	// windowSize is deflate's window: a back-reference reaches at most
	// this many bytes back.
	windowSize = 1 << 15
	// markerBase + k stands for byte k (oldest first) of the windowSize
	// bytes before the decode's start, unknown while it runs.
	markerBase = 256
)

var (
	errCorrupt = errors.New("inflate: corrupt deflate data")
	errTooBig  = errors.New("inflate: chunk output over its bound")
)

// Length and distance codes (RFC 1951, 3.2.5): base values and extra bits.
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// codeOrder is the order of the code-length code's lengths in a
	// dynamic block header.
	codeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedCodes are the codes of a fixed-Huffman block (BTYPE 01).
var fixedCodes = sync.OnceValues(func() (*huffman, *huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	lit, dist := new(huffman), new(huffman)
	lit.init(l[:])
	dist.init(d[:])
	return lit, dist
})

// decoder decodes deflate blocks from any block start into 16-bit symbols:
// a byte, or a marker for a byte of the unknown window before the start.
type decoder struct {
	br         bitReader
	out        []uint16
	lastMarker int // index in out of the last marker, -1 if none
	maxOut     int // bound on len(out)

	lit, dist, clen huffman
	lens            [286 + 30]uint8
	final           bool     // the last block read had BFINAL set
	bufs            *buffers // where out comes from, if anywhere
}

func (d *decoder) reset(data []byte, pos uint64, maxOut int) {
	d.br = bitReader{data: data, pos: pos}
	if d.out == nil && d.bufs != nil {
		d.out = d.bufs.getSymbols()
	}
	d.out = d.out[:0]
	d.lastMarker = -1
	d.maxOut = maxOut
	d.final = false
}

// windowClean reports whether the last windowSize symbols hold no marker:
// nothing decoded after this point can refer to the unknown window.
func (d *decoder) windowClean() bool {
	return len(d.out) >= windowSize && len(d.out)-1-d.lastMarker >= windowSize
}

// block decodes one whole block (header included).
func (d *decoder) block() error {
	h := d.br.bits(3)
	d.final = h&1 == 1
	switch h >> 1 {
	case 0:
		return d.stored()
	case 1:
		lit, dist := fixedCodes()
		return d.codes(lit, dist)
	case 2:
		if err := d.dynamicHeader(); err != nil {
			return err
		}
		return d.codes(&d.lit, &d.dist)
	}
	return errCorrupt
}

// stored copies a stored block (BTYPE 00) whose 3 header bits are read.
func (d *decoder) stored() error {
	d.br.pos = (d.br.pos + 7) &^ 7
	n := d.br.bits(16)
	if d.br.bits(16) != ^n&0xffff {
		return errCorrupt
	}
	i := d.br.pos >> 3
	if i+uint64(n) > uint64(len(d.br.data)) {
		return errCorrupt
	}
	if len(d.out)+int(n) > d.maxOut {
		return errTooBig
	}
	for _, c := range d.br.data[i : i+uint64(n)] {
		d.out = append(d.out, uint16(c))
	}
	d.br.pos += uint64(n) * 8
	return nil
}

// dynamicHeader reads a dynamic block's code lengths (after its 3 header
// bits) into d.lit and d.dist, refusing what zlib refuses: lengths out of
// range, an incomplete or over-subscribed code-length code, a repeat with
// nothing before it, a literal/length code without end-of-block, and
// incomplete literal/length or distance codes other than a single code.
func (d *decoder) dynamicHeader() error {
	nlit := int(d.br.bits(5)) + 257
	ndist := int(d.br.bits(5)) + 1
	nclen := int(d.br.bits(4)) + 4
	if nlit > 286 || ndist > 30 {
		return errCorrupt
	}
	var cl [19]uint8
	for i := 0; i < nclen; i++ {
		cl[codeOrder[i]] = uint8(d.br.bits(3))
	}
	if d.clen.init(cl[:]) != codeOK {
		return errCorrupt
	}
	lens := d.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		sym, ok := d.clen.decode(&d.br)
		if !ok {
			return errCorrupt
		}
		var v uint8
		var rep int
		switch {
		case sym < 16:
			lens[i] = uint8(sym)
			i++
			continue
		case sym == 16:
			if i == 0 {
				return errCorrupt
			}
			v, rep = lens[i-1], 3+int(d.br.bits(2))
		case sym == 17:
			rep = 3 + int(d.br.bits(3))
		default:
			rep = 11 + int(d.br.bits(7))
		}
		if i+rep > len(lens) {
			return errCorrupt
		}
		for ; rep > 0; rep-- {
			lens[i] = v
			i++
		}
	}
	if lens[256] == 0 {
		return errCorrupt
	}
	if st := d.lit.init(lens[:nlit]); st == codeInvalid || st == codeIncomplete && d.lit.maxLen != 1 {
		return errCorrupt
	}
	if st := d.dist.init(lens[nlit:]); st == codeInvalid || st == codeIncomplete && d.dist.maxLen > 1 {
		return errCorrupt
	}
	return nil
}

// codes decodes a Huffman-coded block's symbols up to its end-of-block.
// A copy whose source holds no marker (all of it after the last marker)
// is a plain copy; only copies from marked stretches check each symbol.
func (d *decoder) codes(lit, dist *huffman) error {
	data, pos, out := d.br.data, d.br.pos, d.out
	defer func() { d.br.pos, d.out = pos, out }()
	limit := uint64(len(data))*8 + 64 // stop on a stream running off the data
	litMask, distMask := uint64(1)<<lit.maxLen-1, uint64(1)<<dist.maxLen-1
	for pos <= limit {
		v := peekAt(data, pos)
		e := lit.table[v&litMask]
		l := uint64(e & 15)
		sym := int(e >> 4)
		if l == 0 {
			return errCorrupt
		}
		pos += l
		if sym < 256 {
			if len(out) >= d.maxOut {
				return errTooBig
			}
			out = append(out, uint16(sym))
			continue
		}
		if sym == 256 {
			if pos > uint64(len(data))*8 {
				return errCorrupt
			}
			return nil
		}
		if sym > 285 || dist.maxLen == 0 {
			return errCorrupt
		}
		v >>= l
		x := uint64(lengthExtra[sym-257])
		n := int(lengthBase[sym-257]) + int(v&(1<<x-1))
		pos += x
		v = peekAt(data, pos)
		e = dist.table[v&distMask]
		l = uint64(e & 15)
		ds := int(e >> 4)
		if l == 0 || ds > 29 {
			return errCorrupt
		}
		v >>= l
		x = uint64(distExtra[ds])
		dd := int(distBase[ds]) + int(v&(1<<x-1))
		pos += l + x
		if len(out)+n > d.maxOut {
			return errTooBig
		}
		p := len(out) - dd
		if p < -windowSize {
			return errCorrupt
		}
		base := len(out)
		switch {
		case p >= 0 && dd >= n:
			out = append(out, out[p:p+n]...)
		case p >= 0:
			for k := range n {
				out = append(out, out[p+k])
			}
		default:
			for k := range n {
				if q := p + k; q >= 0 {
					out = append(out, out[q])
				} else {
					out = append(out, uint16(markerBase+windowSize+q))
				}
			}
		}
		// The copy holds markers only if its source reached the last
		// one (or the window before the start): find its last.
		if p <= d.lastMarker {
			for k := len(out) - 1; k >= base; k-- {
				if out[k] >= markerBase {
					d.lastMarker = k
					break
				}
			}
		}
	}
	return errCorrupt
}

// peekAt returns 57 or more bits of data from bit offset pos (zeros past
// its end).
func peekAt(data []byte, pos uint64) uint64 {
	i := pos >> 3
	if i+8 <= uint64(len(data)) {
		return binary.LittleEndian.Uint64(data[i:]) >> (pos & 7)
	}
	var v uint64
	for k := uint64(0); k < 8 && i+k < uint64(len(data)); k++ {
		v |= uint64(data[i+k]) << (8 * k)
	}
	return v >> (pos & 7)
}
