// Command ingest pushes one file into a gantry disk store, the way a push
// into gantry's embedded store writes a blob (hash while writing, verify,
// fsync, read-only, rename, directory fsync). bench/store/run.sh times it
// against cp of the same file.
//
//	ingest -store DIR -digest sha256:HEX FILE
//
// The digest is given, as a registry client gives it, so the file is read
// once.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	store := flag.String("store", "", "store directory (created if missing)")
	dgst := flag.String("digest", "", "digest of FILE, e.g. sha256:<64 hex>")
	verbose := flag.Bool("v", false, "print the time Push took")
	flag.Parse()
	if *store == "" || *dgst == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ingest -store DIR -digest sha256:HEX FILE")
		os.Exit(2)
	}
	if err := run(*store, digest.Digest(*dgst), flag.Arg(0), *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(dir string, d digest.Digest, file string, verbose bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	r, err := s.Repository(context.Background(), "bench/ingest")
	if err != nil {
		s.Close()
		return err
	}
	t0 := time.Now()
	err = r.Push(context.Background(), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: fi.Size()}, f)
	took := time.Since(t0)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err == nil && verbose {
		fmt.Fprintf(os.Stderr, "push %d bytes in %v (%.0f MiB/s)\n", fi.Size(), took, float64(fi.Size())/(1<<20)/took.Seconds())
	}
	return err
}
