package inflate

import "math/bits"

// maxCodeBits is deflate's longest Huffman code.
const maxCodeBits = 15

// huffman is a decoding table for one canonical Huffman code: indexed by
// the next maxLen bits of the stream (least significant first), an entry
// holds the symbol in its high bits and the code's length in its low 4 bits;
// a zero length marks bits that start no code.
type huffman struct {
	table  []uint16
	maxLen uint
}

// errors of init: a code is over-subscribed (invalid), or incomplete where
// deflate requires a complete one.
const (
	codeOK = iota
	codeIncomplete
	codeInvalid
)

// init builds the table for the code lengths of symbols 0..len(lengths)-1
// (0: the symbol is unused). It reports whether the code is complete,
// incomplete or over-subscribed; the table is usable unless invalid.
func (h *huffman) init(lengths []uint8) int {
	var count [maxCodeBits + 1]int
	maxLen := uint(0)
	for _, l := range lengths {
		if l > 0 {
			count[l]++
			maxLen = max(maxLen, uint(l))
		}
	}
	left := 1
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return codeInvalid
		}
	}
	h.maxLen = maxLen
	if maxLen == 0 {
		h.table = h.table[:0]
		return codeIncomplete
	}
	size := 1 << maxLen
	if cap(h.table) < size {
		h.table = make([]uint16, size)
	} else {
		h.table = h.table[:size]
		clear(h.table)
	}
	var next [maxCodeBits + 2]int
	code := 0
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		rev := int(bits.Reverse16(uint16(c)) >> (16 - l))
		entry := uint16(sym)<<4 | uint16(l)
		for j := rev; j < size; j += 1 << l {
			h.table[j] = entry
		}
	}
	if left != 0 {
		return codeIncomplete
	}
	return codeOK
}

// decode reads one symbol; ok is false for bits that start no code.
func (h *huffman) decode(b *bitReader) (sym int, ok bool) {
	e := h.table[b.peek()&(1<<h.maxLen-1)]
	l := e & 15
	b.pos += uint64(l)
	return int(e >> 4), l != 0
}
