package inflate

// maxProbeOut bounds the output of the block a candidate start must decode
// to be taken: real blocks are far smaller (zlib ends one every 16 Ki
// symbols), so a candidate that decodes further is refused.
const maxProbeOut = 4 << 20

// findBlock returns the first bit offset in [from, to) of data where a
// block starts (BFINAL clear) that decodes to its end within data and is
// followed by a valid block header. Two kinds are looked for:
//   - a dynamic-Huffman block at any bit offset, its header valid;
//   - a stored block at a byte boundary whose header byte is zero (the
//     header and its padding), as every stored block after a stored block
//     is: incompressible files (jars, archives, images) are runs of them.
//     What is returned is then the start of the block after it.
//
// Such a guess can still be wrong; the chunk before it ending exactly there
// is what confirms it (see Reader).
func findBlock(d *decoder, data []byte, from, to uint64) (uint64, bool) {
	br := bitReader{data: data}
	for pos := from; pos < to; pos++ {
		br.pos = pos
		v := br.peek()
		if pos&7 == 0 && v&0xff == 0 && (v>>8)&0xffff == ^(v>>24)&0xffff {
			// A stored block's header bits may begin a bit or more
			// before this byte (its padding is zero too), so the
			// chunk starts at the block after it, which begins
			// exactly at the end of its data.
			if next := pos + 40 + (v>>8)&0xffff*8; probe(d, data, next) {
				return next, true
			}
			continue
		}
		// BFINAL 0, BTYPE 10; HLIT and HDIST in range.
		if v&7 != 4 || (v>>3)&31 > 29 || (v>>8)&31 > 29 {
			continue
		}
		// The code-length code must be complete: the sum of 2^-len over
		// its nonzero lengths is one (in units of 2^-7, 128).
		nclen := int((v>>13)&15) + 4
		br.pos = pos + 17
		w := br.peek()
		sum := 0
		for i := 0; i < nclen; i++ {
			if l := (w >> (3 * i)) & 7; l != 0 {
				sum += 128 >> l
			}
		}
		if sum != 128 {
			continue
		}
		if probe(d, data, pos) {
			return pos, true
		}
	}
	return 0, false
}

// probe decodes the block at pos and the header of the block after it.
func probe(d *decoder, data []byte, pos uint64) bool {
	d.reset(data, pos, maxProbeOut)
	if d.block() != nil || d.final {
		return false
	}
	next := d.br.pos
	switch h := d.br.bits(3); h >> 1 {
	case 0:
		d.br.pos = (d.br.pos + 7) &^ 7
		n := d.br.bits(16)
		if d.br.bits(16) != ^n&0xffff {
			return false
		}
	case 2:
		if d.dynamicHeader() != nil {
			return false
		}
	case 3:
		return false
	}
	return next < uint64(len(data))*8
}
