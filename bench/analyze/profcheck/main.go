// Command profcheck runs gantry check's analysis of one image under the CPU
// profiler: profcheck HOST/REPO:TAG OUT.pprof
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "profcheck:", err)
		os.Exit(1)
	}
}

func run(refStr, out string) error {
	ctx := context.Background()
	ref, err := oci.ParseImageRef(refStr)
	if err != nil {
		return err
	}
	reg, err := remote.New(ref.Registry, remote.Options{})
	if err != nil {
		return err
	}
	repo, err := reg.Repository(ctx, ref.Repository)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	_, err = image.Analyze(ctx, repo, refStr, ref.Reference(), image.Options{})
	return err
}
