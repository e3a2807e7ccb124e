package image

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/inflate"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// A layer inflated on several cores gives the analysis the same bytes as
// one inflated on one, and a stream the parallel inflater gives up on (two
// gzip members) is read again on one core, not lost or counted twice.
func TestParallelInflate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var entries []imagetest.Entry
	for i := range 40 {
		b := make([]byte, 20<<10+rng.IntN(200<<10))
		if i%3 == 0 {
			for j := range b {
				b[j] = byte(rng.Uint32()) // incompressible: stored blocks
			}
		} else {
			for j := range b {
				b[j] = "abcdefgh \n"[rng.IntN(10)]
			}
		}
		entries = append(entries, imagetest.Entry{Name: fmt.Sprintf("usr/lib/f%d", i), Type: '0', Mode: 0o644, Data: b})
	}
	big := imagetest.Layer(imagetest.Gzip, entries...)
	half := len(entries) / 2
	twoMembers := gzipMembers(imagetest.Tar(entries[:half]), imagetest.Tar(entries[half:]))
	// The tar of the first half ends with its end-of-archive blocks; a
	// tar reader stops there, so the second member holds nothing it reads,
	// and both reads must agree on that.
	layers := []testimage.Layer{big, twoMembers, imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"))}

	sequential, err := analyze(t, layers, imagetest.Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	savedMin, savedOpts := minParallelInflate, inflateOptions
	t.Cleanup(func() { minParallelInflate, inflateOptions, inflateHook = savedMin, savedOpts, nil })
	minParallelInflate, inflateOptions = 1, inflate.Options{ChunkSize: 256 << 10}
	var workers []int
	inflateHook = func(n int) { workers = append(workers, n) }
	parallel, err := analyze(t, layers, imagetest.Config{}, Options{Concurrency: 1, InflateWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sequential.Layers, parallel.Layers); diff != "" {
		t.Errorf("layers differ (-sequential +parallel):\n%s", diff)
	}
	if sequential.Stored != parallel.Stored || sequential.Size != parallel.Size || len(sequential.Findings) != len(parallel.Findings) {
		t.Errorf("stored %d/%d, size %d/%d, findings %d/%d", sequential.Stored, parallel.Stored, sequential.Size, parallel.Size, len(sequential.Findings), len(parallel.Findings))
	}
	// Each layer read in parallel once (largest first), and the
	// two-member one again on one core right after it.
	if want := []int{2, 2, 1, 2}; !slices.Equal(workers, want) {
		t.Errorf("inflaters per read %v, want %v", workers, want)
	}
}

// gzipMembers is a layer of one gzip member per part, as some tools write.
func gzipMembers(parts ...[]byte) testimage.Layer {
	var data, raw bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&data)
		zw.Write(p)
		zw.Close()
		raw.Write(p)
	}
	return testimage.Layer{
		Data:   data.Bytes(),
		Desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(data.Bytes()), Size: int64(data.Len())},
		DiffID: digest.FromBytes(raw.Bytes()),
	}
}
