//go:build !(cgo && isal)

package inflate

import (
	"fmt"
	"io"

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
