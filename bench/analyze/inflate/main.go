// Command inflate measures the one-core floor of gantry check on an image:
// the time to inflate its largest gzip layer alone, from memory (no network,
// no hashing, no tar walk), with klauspost's inflater, with the one gantry
// uses (inflate.NewGzip: ISA-L when built with -tags isal), with
// internal/inflate on 2 workers (what check uses with 4 cores or more) and
// with the standard library's, each with its CPU time; the time to hash the compressed bytes; and, for
// comparison, the time to decode the same tar compressed with zstd instead
// (klauspost/compress/zstd, default level, one goroutine as gantry decodes
// it, and two). It prints the median of ROUNDS runs of each.
//
//	inflate HOST/REPO:TAG [ROUNDS]
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/inflate"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	rounds := 3
	if len(os.Args) > 2 {
		rounds, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) < 2 || rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: inflate HOST/REPO:TAG [ROUNDS]")
		os.Exit(2)
	}
	if err := run(os.Args[1], rounds); err != nil {
		fmt.Fprintln(os.Stderr, "inflate:", err)
		os.Exit(1)
	}
}

func run(refStr string, rounds int) error {
	ctx := context.Background()
	ref, err := oci.ParseImageRef(refStr)
	if err != nil {
		return err
	}
	reg, err := remote.New(ref.Registry, remote.Options{Insecure: true})
	if err != nil {
		return err
	}
	repo, err := reg.Repository(ctx, ref.Repository)
	if err != nil {
		return err
	}
	l, err := image.Load(ctx, repo, ref.Reference(), nil)
	if err != nil {
		return err
	}
	largest := slices.MaxFunc(l.Manifest.Layers, func(a, b ocispec.Descriptor) int { return int(a.Size - b.Size) })
	blob, err := cas.FetchAll(ctx, repo, largest, largest.Size)
	if err != nil {
		return fmt.Errorf("layer %s: %w", largest.Digest, err)
	}
	var out int64
	measure := func(name string, f func() error) error {
		var ts, cs []time.Duration
		for range rounds {
			start, c0 := time.Now(), cpu()
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ts, cs = append(ts, time.Since(start)), append(cs, cpu()-c0)
		}
		slices.Sort(ts)
		slices.Sort(cs)
		fmt.Printf("%-36s median %.2f s, CPU %.2f s (runs %v)\n", name, ts[len(ts)/2].Seconds(), cs[len(cs)/2].Seconds(), ts)
		return nil
	}
	fmt.Printf("largest layer %s: %d bytes of gzip\n", largest.Digest, largest.Size)
	if err := measure("inflate, klauspost/compress/gzip", func() error {
		zr, err := kgzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			return err
		}
		out, err = io.Copy(io.Discard, zr)
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("  %d bytes out\n", out)
	if err := measure("inflate, inflate.NewGzip ("+inflate.Library+")", func() error {
		zr, err := inflate.NewGzip(bytes.NewReader(blob))
		if err != nil {
			return err
		}
		defer zr.Close()
		n, err := io.Copy(io.Discard, zr)
		if err == nil && n != out {
			err = fmt.Errorf("%d bytes out, want %d", n, out)
		}
		return err
	}); err != nil {
		return err
	}
	if err := measure("inflate, internal/inflate (2 workers)", func() error {
		z := inflate.NewReader(bytes.NewReader(blob), inflate.Options{Workers: 2})
		defer z.Close()
		n, err := io.Copy(io.Discard, z)
		if err == nil && n != out {
			err = fmt.Errorf("%d bytes out, want %d", n, out)
		}
		return err
	}); err != nil {
		return err
	}
	if err := measure("inflate, compress/gzip (stdlib)", func() error {
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, zr)
		return err
	}); err != nil {
		return err
	}
	if err := measure("sha256 of the compressed bytes", func() error {
		h := sha256.New()
		_, err := h.Write(blob)
		return err
	}); err != nil {
		return err
	}
	var zbuf bytes.Buffer
	zr, err := kgzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return err
	}
	zw, err := zstd.NewWriter(&zbuf)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, zr); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("the same tar as zstd (default level): %d bytes\n", zbuf.Len())
	for _, conc := range []int{1, 2} {
		if err := measure(fmt.Sprintf("decode zstd, %d goroutine(s)", conc), func() error {
			d, err := zstd.NewReader(bytes.NewReader(zbuf.Bytes()), zstd.WithDecoderConcurrency(conc))
			if err != nil {
				return err
			}
			defer d.Close()
			_, err = io.Copy(io.Discard, d)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// cpu is the CPU time (user and system) this process has used.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
