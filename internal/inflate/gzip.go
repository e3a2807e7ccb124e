//go:build !(cgo && isal)

package inflate

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// Library names the inflater that NewGzip uses.
const Library = "klauspost/compress"

// NewGzip returns a reader of the gzip stream in r (members one after
// another, as gzip -d reads them) that inflates on one goroutine. Close
// it to release its memory. Built with the isal tag (and cgo), it is
// Intel's ISA-L, which inflates 2-3 times as fast; without, klauspost's.
func NewGzip(r io.Reader) (io.ReadCloser, error) {
	z, err := gzip.NewReader(r)
	if err == io.EOF {
		// Nothing at all: not the end of a stream.
		return nil, fmt.Errorf("gzip: %w", io.ErrUnexpectedEOF)
	}
	return z, err
}

// inflateRaw inflates the raw deflate stream in (through its final block)
// with dict as the history before it, into a buffer from free of about
// hint bytes, failing past limit; it returns the output and how many bytes
// of in were left after the final block.
func inflateRaw(free chan []byte, in, dict []byte, hint, limit int) ([]byte, int, error) {
	br := bytes.NewReader(in)
	out, err := readAll(free, flate.NewReaderDict(br, dict), hint, limit)
	return out, br.Len(), err
}

// readAll reads r to its end into a buffer of about hint bytes, failing
// past limit.
func readAll(free chan []byte, r io.Reader, hint, limit int) ([]byte, error) {
	b := getBytes(free, min(hint, limit)+512)
	for {
		if len(b) == cap(b) {
			if len(b) >= limit {
				return nil, errTooBig
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
