package inflate

// bitReader reads a deflate stream's bits, least significant first, from
// a byte slice at any bit offset. Reading past the end yields zero bits;
// the caller checks pos against the end it allows.
type bitReader struct {
	data []byte
	pos  uint64 // bit offset of the next bit
}

// peek returns the next 57 or more bits without consuming them.
func (b *bitReader) peek() uint64 { return peekAt(b.data, b.pos) }

// bits consumes and returns the next n bits (n <= 32).
func (b *bitReader) bits(n uint) uint32 {
	v := uint32(b.peek() & (1<<n - 1))
	b.pos += uint64(n)
	return v
}

// appendBits writes the low n bits of v after the first nbits bits of out
// (whose bits past nbits are zero), growing it as needed, and returns the
// new length in bits.
func appendBits(out []byte, nbits uint64, v uint32, n uint) ([]byte, uint64) {
	for k := uint(0); k < n; k++ {
		i := nbits >> 3
		for uint64(len(out)) <= i {
			out = append(out, 0)
		}
		out[i] |= byte((v>>k)&1) << (nbits & 7)
		nbits++
	}
	return out, nbits
}

// prelude returns an empty, non-final dynamic-Huffman block whose length
// in bits is r modulo 8. Put before the bits of a stream from bit offset
// p (r = p mod 8) with p's byte kept in place, it lets a byte-aligned
// inflater start at p while every byte keeps its place, which stored blocks
// need (their data starts at a byte boundary of the original stream).
//
// The block: literals 0-253 of 8 bits and end-of-block of 7, no distance
// code; its code lengths written with the code-length symbols 0, 7, 8 and
// 16 (2 bits each), whose places in the header's order are early enough
// that HCLEN can range over 6-13, and 3 bits each of them set the length
// modulo 8.
func prelude(r uint64) ([]byte, uint64) {
	clen := map[uint8]uint32{0: 0b00, 7: 0b10, 8: 0b01, 16: 0b11} // codes 00, 01, 10, 11, bit-reversed
	var b []byte
	var n uint64
	for nclen := 6; nclen <= 13; nclen++ {
		if (204+3*uint64(nclen))%8 != r%8 {
			continue
		}
		b, n = appendBits(b, n, 0b100, 3) // BFINAL 0, BTYPE 10
		b, n = appendBits(b, n, 0, 5)     // HLIT: 257 literal/length codes
		b, n = appendBits(b, n, 0, 5)     // HDIST: 1 distance code
		b, n = appendBits(b, n, uint32(nclen-4), 4)
		for _, sym := range codeOrder[:nclen] {
			l := uint32(0)
			if _, ok := clen[sym]; ok {
				l = 2
			}
			b, n = appendBits(b, n, l, 3)
		}
		emit := func(sym uint8) { b, n = appendBits(b, n, clen[sym], 2) }
		emit(8)
		for range 42 {
			emit(16)
			b, n = appendBits(b, n, 3, 2) // repeat 6 times
		}
		emit(8) // 254 literals of 8 bits
		emit(0)
		emit(0)
		emit(7)                       // end-of-block
		emit(0)                       // no distance code
		b, n = appendBits(b, n, 0, 7) // end-of-block: the first 7-bit code
		return b, n
	}
	panic("unreachable")
}
