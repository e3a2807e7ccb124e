// Command mkimage writes real test images into an OCI layout (gantry's disk
// store) for demos and benchmarks:
//
//	mkimage busybox oci:DIR:REPO:TAG
//	mkimage fleet N oci:DIR:PREFIX [BASES BASE_MIB APP_MIB]
//
// "fleet" writes N images named PREFIX/appI:1 over BASES shared base layers
// (default 4 bases of 64 MiB, each image adding 8 MiB of its own).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: mkimage busybox oci:DIR:REPO:TAG | mkimage fleet N oci:DIR:PREFIX [BASES BASE_MIB APP_MIB]")
	}
	ctx := context.Background()
	switch args[0] {
	case "busybox":
		ref, err := oci.ParseImageRef(args[1])
		if err != nil {
			return err
		}
		img, err := testimage.Busybox()
		if err != nil {
			return err
		}
		return push(ctx, ref.Dir, map[string]testimage.Image{ref.Repository + ":" + ref.Tag: img})
	case "fleet":
		if len(args) < 3 {
			return fmt.Errorf("usage: mkimage fleet N oci:DIR:PREFIX [BASES BASE_MIB APP_MIB]")
		}
		nums := []int{0, 4, 64, 8}
		numArgs := append([]string{args[1]}, args[3:]...)
		for i, s := range numArgs {
			if i >= len(nums) {
				break
			}
			v, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("%q: %v", s, err)
			}
			nums[i] = v
		}
		dir, prefix, ok := strings.Cut(strings.TrimPrefix(args[2], "oci:"), ":")
		if !ok {
			return fmt.Errorf("want oci:DIR:PREFIX, got %q", args[2])
		}
		imgs, err := testimage.Fleet(nums[0], nums[1], nums[2]<<20, nums[3]<<20, 1)
		if err != nil {
			return err
		}
		all := map[string]testimage.Image{}
		for i, img := range imgs {
			all[fmt.Sprintf("%s/app%d:1", prefix, i)] = img
		}
		return push(ctx, dir, all)
	}
	return fmt.Errorf("unknown image kind %q (busybox or fleet)", args[0])
}

func push(ctx context.Context, dir string, imgs map[string]testimage.Image) error {
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	for name, img := range imgs {
		repo, tag, _ := strings.Cut(name, ":")
		r, err := s.Repository(ctx, repo)
		if err != nil {
			s.Close()
			return err
		}
		if err := img.Push(ctx, r, tag); err != nil {
			s.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return s.Close()
}
