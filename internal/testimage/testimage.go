// Package testimage builds real, small container images into any cas.Target,
// for tests, examples and benchmarks: a runnable static busybox image, and
// images of random layers that share a base.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Layer is one layer's compressed bytes, its descriptor and its diff ID.
type Layer struct {
	Data   []byte
	Desc   ocispec.Descriptor
	DiffID digest.Digest
}

// File is one regular file of a layer.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// NewLayer builds a gzip-compressed tar layer holding files, plus symlinks
// (name -> target). Timestamps are fixed, so equal inputs give equal digests.
func NewLayer(files []File, symlinks map[string]string) (Layer, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime := time.Unix(0, 0)
	dirs := map[string]bool{}
	addDirs := func(name string) error {
		for i := range len(name) {
			if name[i] == '/' && !dirs[name[:i]] {
				dirs[name[:i]] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name[:i] + "/", Mode: 0o755, ModTime: mtime}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, f := range files {
		if err := addDirs(f.Name); err != nil {
			return Layer{}, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: mtime}); err != nil {
			return Layer{}, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return Layer{}, err
		}
	}
	for _, name := range sortedKeys(symlinks) {
		if err := addDirs(name); err != nil {
			return Layer{}, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: symlinks[name], Mode: 0o777, ModTime: mtime}); err != nil {
			return Layer{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, err
	}
	diffID := digest.FromBytes(raw.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return Layer{}, err
	}
	if err := zw.Close(); err != nil {
		return Layer{}, err
	}
	return Layer{
		Data:   gz.Bytes(),
		Desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())},
		DiffID: diffID,
	}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RandomLayer returns a layer holding one file of n random bytes (it does not
// compress, so its size is about n).
func RandomLayer(n int) (Layer, error) {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return NewLayer([]File{{Name: fmt.Sprintf("data/%x", b[:min(8, n)]), Mode: 0o644, Data: b}}, nil)
}

// Image is an image's config, layers and manifest, ready to push.
type Image struct {
	Config                   []byte
	Manifest                 []byte
	Layers                   []Layer
	ConfigDesc, ManifestDesc ocispec.Descriptor
}

// NewImage builds an image manifest and config for layers, running cmd.
func NewImage(layers []Layer, cmd []string) (Image, error) {
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: cmd, Env: []string{"PATH=/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: []ocispec.Descriptor{}}
	man.SchemaVersion = 2
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		cfg.History = append(cfg.History, ocispec.History{CreatedBy: "gantry testimage"})
		man.Layers = append(man.Layers, l.Desc)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return Image{}, err
	}
	man.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	mb, err := json.Marshal(man)
	if err != nil {
		return Image{}, err
	}
	return Image{
		Config: cb, Manifest: mb, Layers: layers, ConfigDesc: man.Config,
		ManifestDesc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))},
	}, nil
}

// Push pushes the image's blobs, config and manifest (skipping what dst
// has), then tags it if tag is not empty.
func (img Image) Push(ctx context.Context, dst cas.Target, tag string) error {
	put := func(desc ocispec.Descriptor, b []byte) error {
		if ok, err := dst.Exists(ctx, desc); err != nil || ok {
			return err
		}
		if err := dst.Push(ctx, desc, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
			return err
		}
		return nil
	}
	for _, l := range img.Layers {
		if err := put(l.Desc, l.Data); err != nil {
			return err
		}
	}
	if err := put(img.ConfigDesc, img.Config); err != nil {
		return err
	}
	if err := put(img.ManifestDesc, img.Manifest); err != nil {
		return err
	}
	if tag == "" {
		return nil
	}
	return dst.Tag(ctx, img.ManifestDesc, tag)
}

// Busybox builds a runnable image from the static busybox binary at
// BusyboxPath (Debian's busybox-static), with sh, echo, ls and cat linked to
// it, that runs "echo hello from gantry".
func Busybox() (Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return Image{}, fmt.Errorf("busybox image: %w (install Debian's busybox-static)", err)
	}
	links := map[string]string{}
	for _, tool := range []string{"sh", "echo", "ls", "cat", "true"} {
		links["bin/"+tool] = "busybox"
	}
	l, err := NewLayer([]File{{Name: "bin/busybox", Mode: 0o755, Data: bin}}, links)
	if err != nil {
		return Image{}, err
	}
	return NewImage([]Layer{l}, []string{"/bin/echo", "hello from gantry"})
}

// Fleet builds n images over shared bases: every image has one of `bases`
// base layers of baseSize bytes, then one layer of its own of appSize bytes.
// The seed makes the fleet reproducible.
func Fleet(n, bases, baseSize, appSize int, seed uint64) ([]Image, error) {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	randBytes := func(k int) []byte {
		b := make([]byte, k)
		for i := 0; i < k; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < k; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return b
	}
	baseLayers := make([]Layer, bases)
	for i := range baseLayers {
		l, err := NewLayer([]File{{Name: fmt.Sprintf("base%d/data", i), Mode: 0o644, Data: randBytes(baseSize)}}, nil)
		if err != nil {
			return nil, err
		}
		baseLayers[i] = l
	}
	imgs := make([]Image, n)
	for i := range imgs {
		app, err := NewLayer([]File{{Name: fmt.Sprintf("app%d/data", i), Mode: 0o644, Data: randBytes(appSize)}}, nil)
		if err != nil {
			return nil, err
		}
		img, err := NewImage([]Layer{baseLayers[i%bases], app}, []string{"/app"})
		if err != nil {
			return nil, err
		}
		imgs[i] = img
	}
	return imgs, nil
}
