package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// copyBuffer is the unit of reading, hashing and writing: large enough
	// that syscalls cost nothing next to the bytes, small enough to stay in
	// cache between the hash and the write.
	copyBuffer = 1 << 20
	// pipelineDepth is the number of buffers in flight between the hashing
	// reader and the writer of a large blob.
	pipelineDepth = 4
	// writebackEvery starts disk writes of a blob every so many bytes, so
	// the final fsync does not wait for the whole blob; only where the file
	// system refuses O_DIRECT (fileWriter), which needs no such help.
	writebackEvery = 8 << 20
)

// bufPool holds copyBuffer-sized buffers aligned for O_DIRECT (fileWriter).
var bufPool = sync.Pool{New: func() any { b := alignedBuf(copyBuffer); return &b }}

// copyIn copies v (the content, verified as it is read) into f and returns
// the bytes written. It returns nil only when v verified the content.
//
// Hashing is the costly part of an ingest (SHA-256 runs at about 2 GB/s
// with SHA-NI, about the speed of a page-cache write), so for a large blob
// the caller's goroutine reads and hashes while another writes: the two
// overlap on two cores instead of adding up. Each buffer is read into once
// and written from once; nothing else copies the bytes. Buffers are filled
// before they are written, so the writes are whole O_DIRECT blocks.
func copyIn(ctx context.Context, f *os.File, v *cas.Verifier, expected ocispec.Descriptor) (int64, error) {
	w := &blobWriter{w: fileWriter{path: f.Name(), f: f}, d: expected}
	defer w.w.closeDirect()
	if expected.Size <= 2*copyBuffer {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		for {
			if err := ctx.Err(); err != nil {
				return w.w.off, interrupted(expected, w.w.off, err)
			}
			n, rerr := fill(v, *bp)
			if err := w.write((*bp)[:n]); err != nil {
				return w.w.off, err
			}
			if done, err := readDone(expected, w.w.off, rerr); done {
				return w.w.off, err
			}
		}
	}

	type chunk struct {
		b *[]byte
		n int
	}
	free := make(chan *[]byte, pipelineDepth)
	full := make(chan chunk, pipelineDepth)
	for range pipelineDepth {
		free <- bufPool.Get().(*[]byte)
	}
	werr := make(chan error, 1)
	stop := make(chan struct{}) // closed when the writer fails
	go func() {
		var err error
		for c := range full {
			if err == nil {
				if err = w.write((*c.b)[:c.n]); err != nil {
					close(stop)
				}
			}
			free <- c.b
		}
		werr <- err
	}()
	finish := func(err error) (int64, error) {
		close(full)
		if e := <-werr; e != nil {
			err = e // the writer's failure (a full disk) explains the rest
		}
		for range pipelineDepth {
			bufPool.Put(<-free)
		}
		return w.w.off, err
	}
	var read int64
	for {
		if err := ctx.Err(); err != nil {
			return finish(interrupted(expected, read, err))
		}
		var bp *[]byte
		select {
		case bp = <-free:
		case <-stop:
			return finish(nil)
		}
		n, rerr := fill(v, *bp)
		read += int64(n)
		full <- chunk{bp, n}
		if done, err := readDone(expected, read, rerr); done {
			return finish(err)
		}
	}
}

// fill reads into b until it is full or r fails, and returns r's error as
// is (unlike io.ReadFull, which turns a verified io.EOF into another error).
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readDone interprets a read of the verifying reader: done is true at the
// end of the content, with a nil error only if it verified.
func readDone(expected ocispec.Descriptor, read int64, rerr error) (bool, error) {
	switch {
	case rerr == nil:
		return false, nil
	case rerr == io.EOF:
		return true, nil // VerifyReader returns io.EOF only for verified content
	case errors.Is(rerr, cas.ErrSizeMismatch), errors.Is(rerr, cas.ErrDigestMismatch):
		return true, rerr
	}
	return true, fmt.Errorf("%s: reading content after %d bytes: %w", expected.Digest, read, rerr)
}

func interrupted(expected ocispec.Descriptor, n int64, err error) error {
	return fmt.Errorf("%s: push interrupted after %d of %d bytes: %w", expected.Digest, n, expected.Size, err)
}

// blobWriter writes a blob's temporary file through a fileWriter.
type blobWriter struct {
	w fileWriter
	d ocispec.Descriptor
}

func (w *blobWriter) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := w.w.write(b); err != nil {
		return fmt.Errorf("%s: writing blob: %w", w.d.Digest, err)
	}
	return nil
}
