package inflate

// Large buffers are recycled across chunks and Readers, through free lists
// that outlive garbage collections (a sync.Pool is emptied by them): fresh
// memory costs zeroing and page faults on every chunk otherwise, more than
// decoding the bytes it holds. Each list holds a few buffers at most.
var (
	inFree     = make(chan []byte, 16) // compressed chunks and inflater inputs
	outFree    = make(chan []byte, 8)  // decoded chunks
	symbolFree = make(chan []uint16, 8)
)

// getBytes returns a buffer of length 0 and capacity at least n.
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

func getSymbols() []uint16 {
	select {
	case b := <-symbolFree:
		return b[:0]
	default:
		return make([]uint16, 0, 64<<10)
	}
}

func putSymbols(b []uint16) {
	select {
	case symbolFree <- b:
	default:
	}
}
