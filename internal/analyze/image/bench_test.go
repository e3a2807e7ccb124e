package image

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// BenchmarkAnalyzeBinDir analyzes one layer shaped like the bin
// directories of a Debian image, where the entrypoint analysis looks at
// the head of every executable and keeps the shell scripts: 1,600 binaries
// of 48 KiB and 400 shell scripts of 3 KiB (about 77 MiB), the
// entrypoint one of the scripts.
func BenchmarkAnalyzeBinDir(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var es []imagetest.Entry
	var n int64
	for i := range 2000 {
		var data []byte
		name := fmt.Sprintf("usr/bin/tool%04d", i)
		if i%5 == 0 {
			data = []byte("#!/bin/sh\nset -e\n")
			for len(data) < 3<<10 {
				data = fmt.Appendf(data, "if [ -n \"$X%d\" ]; then echo %d; fi\n", rng.IntN(100), rng.IntN(1000))
			}
		} else {
			data = make([]byte, 48<<10)
			copy(data, "\x7fELF\x02\x01\x01")
			for j := 16; j < len(data); j += 8 {
				data[j] = byte(rng.IntN(16)) // compressible, as code is
			}
		}
		n += int64(len(data))
		es = append(es, imagetest.Entry{Name: name, Type: tar.TypeReg, Mode: 0o755, Data: data})
	}
	ls := []testimage.Layer{imagetest.Layer(imagetest.Gzip, es...)}
	repo, err := memory.New().Repository(b.Context(), "test/app")
	if err != nil {
		b.Fatal(err)
	}
	if err := imagetest.Image(ls, imagetest.Config{User: "1000", Cmd: []string{"/usr/bin/tool1995"}}).Push(b.Context(), repo, "v1"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(b.Context(), repo, "test/app:v1", "v1", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
