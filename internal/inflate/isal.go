//go:build cgo && isal

package inflate

/*
#cgo pkg-config: libisal
#include <stdlib.h>
#include <isa-l/igzip_lib.h>

// gantry_zeroupper clears the upper halves of the vector registers that
// ISA-L's AVX code leaves dirty: Go's assembly after it (SHA-NI, for one)
// is SSE, which runs many times slower while they are dirty.
// (Measured: gantry check of a 1.4 GB image took 30 s instead of 4, all of
// it in SHA-256.) vzeroupper exists only where AVX does.
static inline void gantry_zeroupper(void) {
#if defined(__x86_64__)
	static int avx = -1;
	if (avx < 0) {
		__builtin_cpu_init();
		avx = __builtin_cpu_supports("avx");
	}
	if (avx) {
		__asm__ volatile("vzeroupper");
	}
#endif
}

// gantry_inflate inflates into out, which may be Go memory: the state keeps
// no pointer to it once the call returns.
static int gantry_inflate(struct inflate_state *s, uint8_t *out, uint32_t len, uint32_t *produced) {
	s->next_out = out;
	s->avail_out = len;
	int ret = isal_inflate(s);
	gantry_zeroupper();
	*produced = len - s->avail_out;
	s->next_out = NULL;
	s->avail_out = 0;
	return ret;
}

// gantry_raw inflates raw deflate from in to out, both of which may be Go
// memory, and leaves the state pointing at neither.
static int gantry_raw(struct inflate_state *s, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_len, uint32_t *consumed, uint32_t *produced) {
	s->next_in = in;
	s->avail_in = in_len;
	s->next_out = out;
	s->avail_out = out_len;
	int ret = isal_inflate(s);
	gantry_zeroupper();
	*consumed = in_len - s->avail_in;
	*produced = out_len - s->avail_out;
	s->next_in = NULL;
	s->avail_in = 0;
	s->next_out = NULL;
	s->avail_out = 0;
	return ret;
}

// gantry_raw_state is a raw deflate state whose history is dict (copied).
static struct inflate_state *gantry_raw_state(uint8_t *dict, uint32_t len) {
	struct inflate_state *s = calloc(1, sizeof(struct inflate_state));
	if (s == NULL) {
		return NULL;
	}
	isal_inflate_init(s);
	if (len > 0 && isal_inflate_set_dict(s, dict, len) != ISAL_DECOMP_OK) {
		free(s);
		return NULL;
	}
	return s;
}

static struct inflate_state *gantry_state(void) {
	struct inflate_state *s = calloc(1, sizeof(struct inflate_state));
	if (s != NULL) {
		isal_inflate_init(s);
		s->crc_flag = ISAL_GZIP;
	}
	return s;
}

static void gantry_reset(struct inflate_state *s) {
	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// Library names the inflater that NewGzip uses.
const Library = "ISA-L igzip"

// isalInput is the compressed bytes the state reads at once.
const isalInput = 256 << 10

// isalReader inflates a gzip stream with ISA-L. The state and its input
// buffer live in C memory, since the state points into that buffer
// between calls; output goes through a buffer of its own unless a read is
// large.
type isalReader struct {
	src    io.Reader
	state  *C.struct_inflate_state
	in     []byte // isalInput bytes of C memory
	srcEOF bool
	member bool   // a member's header was read and its trailer not yet
	out    []byte // inflated bytes, out[pos:end] not yet read
	pos    int
	end    int
	err    error // after out[pos:end]
	free   runtime.Cleanup
}

type isalMem struct {
	state *C.struct_inflate_state
	in    unsafe.Pointer
}

// NewGzip returns a reader of the gzip stream in r (members one after
// another, as gzip -d reads them) that inflates on one goroutine. Close
// it to release its memory. Built with the isal tag, it is Intel's ISA-L,
// which inflates 2-3 times as fast as the Go inflaters.
func NewGzip(r io.Reader) (io.ReadCloser, error) {
	state := C.gantry_state()
	in := C.malloc(isalInput)
	if state == nil || in == nil {
		C.free(unsafe.Pointer(state))
		C.free(in)
		return nil, errors.New("gzip: out of memory")
	}
	z := &isalReader{src: r, state: state, in: unsafe.Slice((*byte)(in), isalInput)}
	z.free = runtime.AddCleanup(z, func(m isalMem) {
		C.free(unsafe.Pointer(m.state))
		C.free(m.in)
	}, isalMem{state, in})
	// The first bytes must be a gzip header, so that a stream that is not
	// gzip fails here, as it does with the Go readers.
	n, err := io.ReadAtLeast(r, z.in, 10)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		z.Close()
		return nil, fmt.Errorf("gzip: %w", io.ErrUnexpectedEOF)
	case err != nil:
		z.Close()
		return nil, err
	case z.in[0] != 0x1f || z.in[1] != 0x8b || z.in[2] != 8:
		z.Close()
		return nil, errors.New("gzip: invalid header")
	}
	z.state.next_in = (*C.uint8_t)(unsafe.Pointer(&z.in[0]))
	z.state.avail_in = C.uint32_t(n)
	z.member = true
	return z, nil
}

// fill makes sure the state has input, reading more from the source when
// all of it was taken; io.EOF when the source has no more.
func (z *isalReader) fill() error {
	if z.state.avail_in > 0 {
		return nil
	}
	if z.srcEOF {
		return io.EOF
	}
	n, err := io.ReadAtLeast(z.src, z.in, 1)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		z.srcEOF = true
		if n == 0 {
			return io.EOF
		}
	} else if err != nil {
		return err
	}
	z.state.next_in = (*C.uint8_t)(unsafe.Pointer(&z.in[0]))
	z.state.avail_in = C.uint32_t(n)
	return nil
}

// isalOutput is the output of one call into ISA-L: a call costs about as
// much as inflating a few kilobytes (it moves its 32 KiB history), so
// small reads (a tar header's 512 bytes) are served from a buffer.
const isalOutput = 256 << 10

// Read inflates into p: straight into it when it is large, through a
// buffer of isalOutput bytes otherwise.
func (z *isalReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for z.pos == z.end {
		if z.err != nil {
			return 0, z.err
		}
		if len(p) >= isalOutput {
			n, err := z.inflate(p)
			z.err = err
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if z.out == nil {
			z.out = make([]byte, isalOutput)
		}
		z.pos = 0
		z.end, z.err = z.inflate(z.out)
	}
	n := copy(p, z.out[z.pos:z.end])
	z.pos += n
	return n, nil
}

// inflate inflates into dst until some bytes come out or the stream ends
// (io.EOF) or fails.
func (z *isalReader) inflate(dst []byte) (int, error) {
	for {
		if !z.member {
			// A member ended: the stream ends with the source, or
			// another member follows.
			if err := z.fill(); err != nil {
				return 0, err
			}
			C.gantry_reset(z.state)
			z.member = true
		}
		var produced C.uint32_t
		ret := C.gantry_inflate(z.state, (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.uint32_t(min(len(dst), 1<<30)), &produced)
		runtime.KeepAlive(dst)
		n := int(produced)
		if ret < 0 {
			return n, isalError(ret)
		}
		if z.state.block_state == C.ISAL_BLOCK_FINISH {
			z.member = false
		}
		if n > 0 {
			return n, nil
		}
		if z.member {
			if err := z.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
		}
	}
}

// Close releases the reader's C memory. It does not close the source.
func (z *isalReader) Close() error {
	if z.state == nil {
		return nil
	}
	z.free.Stop()
	C.free(unsafe.Pointer(z.state))
	C.free(unsafe.Pointer(&z.in[0]))
	z.state, z.in = nil, nil
	if z.err == nil {
		z.err = errors.New("gzip: reader closed")
	}
	return nil
}

func isalError(ret C.int) error {
	switch ret {
	case C.ISAL_INVALID_BLOCK:
		return errors.New("gzip: invalid deflate block")
	case C.ISAL_INVALID_SYMBOL:
		return errors.New("gzip: invalid deflate symbol")
	case C.ISAL_INVALID_LOOKBACK:
		return errors.New("gzip: invalid deflate distance")
	case C.ISAL_INVALID_WRAPPER:
		return errors.New("gzip: invalid header")
	case C.ISAL_UNSUPPORTED_METHOD:
		return errors.New("gzip: unsupported compression method")
	case C.ISAL_INCORRECT_CHECKSUM:
		return errors.New("gzip: invalid checksum")
	}
	return fmt.Errorf("gzip: inflate error %d", int(ret))
}

// inflateRaw inflates the raw deflate stream in (through its final block)
// with dict as the history before it, into a buffer from free of about
// hint bytes, failing past limit; it returns the output and how many bytes
// of in were left after the final block.
func inflateRaw(free chan []byte, in, dict []byte, hint, limit int) ([]byte, int, error) {
	var dp *C.uint8_t
	if len(dict) > 0 {
		dp = (*C.uint8_t)(unsafe.Pointer(&dict[0]))
	}
	s := C.gantry_raw_state(dp, C.uint32_t(len(dict)))
	runtime.KeepAlive(dict)
	if s == nil {
		return nil, 0, errors.New("inflate: no ISA-L state")
	}
	defer C.free(unsafe.Pointer(s))
	out := getBytes(free, min(hint, limit)+512)
	for {
		if len(out) == cap(out) {
			if len(out) >= limit {
				return nil, 0, errTooBig
			}
			out = append(out, 0)[:len(out)]
		}
		var ip *C.uint8_t
		if len(in) > 0 {
			ip = (*C.uint8_t)(unsafe.Pointer(&in[0]))
		}
		var consumed, produced C.uint32_t
		room := min(cap(out)-len(out), 1<<30)
		ret := C.gantry_raw(s, ip, C.uint32_t(len(in)), (*C.uint8_t)(unsafe.Pointer(&out[len(out):cap(out)][0])), C.uint32_t(room), &consumed, &produced)
		runtime.KeepAlive(in)
		runtime.KeepAlive(out)
		in, out = in[consumed:], out[:len(out)+int(produced)]
		switch {
		case ret < 0:
			return nil, 0, isalError(ret)
		case s.block_state == C.ISAL_BLOCK_FINISH:
			return out, len(in), nil
		case produced == 0 && len(in) == 0:
			return nil, 0, io.ErrUnexpectedEOF
		}
	}
}
