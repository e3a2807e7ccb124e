// Package imagetest builds layers and images with what testimage does not
// make: whiteouts, opaque directories, setuid files, symlinks, hard links,
// zstd or uncompressed layers, and configs with a user, an entrypoint,
// environment, history and annotations. Tests of gantry check and fleet
// use it; everything is deterministic.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"path"
	"time"

	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Entry is one tar entry.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	Mode     int64
	Data     []byte
	Link     string
	UID, GID int
}

// File is a regular file with mode 0644.
func File(name, data string) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Data: []byte(data)}
}

// Sized is a regular file of n bytes.
func Sized(name string, n int) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Data: bytes.Repeat([]byte{'x'}, n)}
}

// Dir is a directory.
func Dir(name string) Entry { return Entry{Name: name + "/", Type: tar.TypeDir, Mode: 0o755} }

// Symlink is a symbolic link name -> target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Link: target}
}

// Whiteout deletes name from lower layers.
func Whiteout(name string) Entry {
	return Entry{Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), Type: tar.TypeReg, Mode: 0o644}
}

// Opaque hides the lower contents of directory dir.
func Opaque(dir string) Entry {
	return Entry{Name: path.Join(dir, ".wh..wh..opq"), Type: tar.TypeReg, Mode: 0o644}
}

// Compression of a layer.
type Compression int

// Compressions.
const (
	Gzip Compression = iota
	Zstd
	None
)

// Tar returns the uncompressed tar of entries, in order.
func Tar(entries []Entry) []byte {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{Typeflag: e.Type, Name: e.Name, Mode: e.Mode, Linkname: e.Link, Uid: e.UID, Gid: e.GID, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return raw.Bytes()
}

// Layer builds a layer of entries, compressed as c.
func Layer(c Compression, entries ...Entry) testimage.Layer {
	return RawLayer(c, Tar(entries))
}

// RawLayer compresses raw (a tar, or anything) as c into a layer.
func RawLayer(c Compression, raw []byte) testimage.Layer {
	data, mt := raw, ocispec.MediaTypeImageLayer
	switch c {
	case Gzip:
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		data, mt = b.Bytes(), ocispec.MediaTypeImageLayerGzip
	case Zstd:
		zw, _ := zstd.NewWriter(nil)
		data, mt = zw.EncodeAll(raw, nil), ocispec.MediaTypeImageLayerZstd
	}
	return testimage.Layer{
		Data:   data,
		Desc:   ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))},
		DiffID: digest.FromBytes(raw),
	}
}

// Config is what an image's config and manifest say besides its layers.
type Config struct {
	Entrypoint, Cmd, Env []string
	User                 string
	// WorkingDir is the config's working directory.
	WorkingDir string
	// CreatedBy is the history instruction of each layer, in order.
	CreatedBy []string
	// History, when not nil, is the config's history as given (with
	// empty_layer entries, or deliberately not matching the layers),
	// instead of one entry per layer from CreatedBy.
	History []ocispec.History
	// Annotations go on the manifest.
	Annotations map[string]string
	// Platform defaults to linux/amd64.
	Platform *ocispec.Platform
}

// Image builds an image of layers with cfg.
func Image(layers []testimage.Layer, cfg Config) testimage.Image {
	pl := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if cfg.Platform != nil {
		pl = *cfg.Platform
	}
	c := ocispec.Image{
		Platform: pl,
		Config:   ocispec.ImageConfig{Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: []ocispec.Descriptor{}, Annotations: cfg.Annotations}
	man.SchemaVersion = 2
	for i, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.DiffID)
		cb := "imagetest layer"
		if i < len(cfg.CreatedBy) {
			cb = cfg.CreatedBy[i]
		}
		c.History = append(c.History, ocispec.History{CreatedBy: cb})
		man.Layers = append(man.Layers, l.Desc)
	}
	if cfg.History != nil {
		c.History = cfg.History
	}
	cb, _ := json.Marshal(c)
	man.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	mb, _ := json.Marshal(man)
	return testimage.Image{
		Config: cb, Manifest: mb, Layers: layers, ConfigDesc: man.Config,
		ManifestDesc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))},
	}
}
