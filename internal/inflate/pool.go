package inflate

// buffers recycles one Reader's large buffers from chunk to chunk: fresh
// memory costs zeroing and page faults on every chunk otherwise, more than
// decoding the bytes it holds. Each list holds a few buffers at most, and
// all of them go with the Reader.
type buffers struct {
	in      chan []byte // compressed chunks and inflater inputs
	out     chan []byte // decoded chunks
	symbols chan []uint16
}

func newBuffers(workers int) *buffers {
	return &buffers{
		in:      make(chan []byte, workers+2),
		out:     make(chan []byte, workers+1),
		symbols: make(chan []uint16, workers+1),
	}
}

// bytes returns a buffer of length 0 and capacity at least n from free.
func getBytes(free chan []byte, n int) []byte {
	for range cap(free) {
		select {
		case b := <-free:
			if cap(b) >= n {
				return b[:0]
			}
			// Too small: drop it, a larger one takes its place.
		default:
			return make([]byte, 0, n)
		}
	}
	return make([]byte, 0, n)
}

func putBytes(free chan []byte, b []byte) {
	if cap(b) == 0 {
		return
	}
	select {
	case free <- b:
	default:
	}
}

func (p *buffers) getSymbols() []uint16 {
	select {
	case b := <-p.symbols:
		return b[:0]
	default:
		return make([]uint16, 0, 64<<10)
	}
}

func (p *buffers) putSymbols(b []uint16) {
	if cap(b) == 0 {
		return
	}
	select {
	case p.symbols <- b:
	default:
	}
}
