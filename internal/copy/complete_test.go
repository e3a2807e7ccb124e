package copy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/store/disk"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCopyRestoresDeletedChild: a blob deleted at the destination after
// the image was copied (by hand, or quarantined by fsck --repair) is
// copied again by the next copy of the image, which used to skip the
// present manifest and re-tag an incomplete image. Nothing else is fetched
// from the source.
func TestCopyRestoresDeletedChild(t *testing.T) {
	for _, tc := range []struct {
		name string
		dst  func(t *testing.T) cas.Target
	}{
		{"memory", func(t *testing.T) cas.Target { return repo(t, "dst") }},
		{"disk", func(t *testing.T) cas.Target {
			s, err := disk.Open(t.TempDir(), disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			r, err := s.Repository(t.Context(), "dst")
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, what := range []string{"layer", "config", "manifest of an index"} {
				t.Run(what, func(t *testing.T) {
					g := newGraph()
					base := repo(t, "src")
					idx, images, shared := multiPlatform(t, g, base)
					src := newCounting(base)
					dst := tc.dst(t)
					if _, err := copy.Copy(t.Context(), src, "multi", dst, "v1", copy.Options{}); err != nil {
						t.Fatal(err)
					}
					var gone ocispec.Descriptor
					switch what {
					case "layer":
						gone = shared[0] // shared by every image: each must notice
					case "config":
						m := readManifest(t, dst, images[1])
						gone = m.Config
					default:
						gone = images[2]
					}
					if err := dst.(cas.Deleter).Delete(t.Context(), gone); err != nil {
						t.Fatal(err)
					}
					before := src.total()
					if _, err := copy.Copy(t.Context(), src, "multi", dst, "v1", copy.Options{}); err != nil {
						t.Fatal(err)
					}
					g.checkAll(t, dst)
					if n := src.total() - before; n != 1 || src.count(gone.Digest) < 1 {
						t.Errorf("the second copy fetched %d things from the source, want only %s", n, gone.Digest)
					}
					if got, err := dst.Resolve(t.Context(), "v1"); err != nil || got.Digest != idx.Digest {
						t.Errorf("v1 = %v, %v; want %s", got.Digest, err, idx.Digest)
					}
				})
			}
		})
	}
}

func readManifest(t *testing.T, f cas.Fetcher, desc ocispec.Descriptor) *ocispec.Manifest {
	t.Helper()
	rc, err := f.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m ocispec.Manifest
	b, err := io.ReadAll(rc)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

// failingDst is a destination whose operations fail as set.
type failingDst struct {
	cas.Target
	exists, push, tag error
}

func (d *failingDst) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if d.exists != nil {
		return false, d.exists
	}
	return d.Target.Exists(ctx, desc)
}

func (d *failingDst) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if d.push != nil {
		return d.push
	}
	return d.Target.Push(ctx, desc, r)
}

func (d *failingDst) Tag(ctx context.Context, desc ocispec.Descriptor, tag string) error {
	if d.tag != nil {
		return d.tag
	}
	return d.Target.Tag(ctx, desc, tag)
}

// TestCopyErrorSide checks that a *copy.Error blames the side that failed.
func TestCopyErrorSide(t *testing.T) {
	diskFull := errors.New("no space left on device")
	for _, tc := range []struct {
		name     string
		dst      func(cas.Target) cas.Target
		src      func(*counting)
		side     copy.Side
		pathKind string // the kind of the path's last step, "" for no path; "config|layer": either, as they move at once
		cause    error
	}{
		{"destination push fails", func(d cas.Target) cas.Target { return &failingDst{Target: d, push: diskFull} }, nil, copy.SideDestination, "config|layer", diskFull},
		{"destination exists fails", func(d cas.Target) cas.Target { return &failingDst{Target: d, exists: diskFull} }, nil, copy.SideDestination, "manifest", diskFull},
		{"destination tag fails", func(d cas.Target) cas.Target { return &failingDst{Target: d, tag: diskFull} }, nil, copy.SideDestination, "", diskFull},
		{"source serves wrong bytes", nil, func(c *counting) {}, copy.SideSource, "layer", cas.ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			base := repo(t, "src")
			src := newCounting(base)
			layer := g.blob(t, base, 5000)
			root := g.image(t, base, 0, 0, layer)
			tag(t, base, root)
			if tc.src != nil {
				src.corrupt = layer.Digest
			}
			var dst cas.Target = repo(t, "dst")
			if tc.dst != nil {
				dst = tc.dst(dst)
			}
			_, err := copy.Copy(t.Context(), src, "src", dst, "x", copy.Options{Retries: -1})
			var ce *copy.Error
			if !errors.As(err, &ce) || !errors.Is(err, tc.cause) {
				t.Fatalf("got %v, want a *copy.Error caused by %v", err, tc.cause)
			}
			if ce.Side != tc.side {
				t.Errorf("side %v, want %v (%v)", ce.Side, tc.side, err)
			}
			kind := ""
			if len(ce.Path) > 0 {
				kind = ce.Path[len(ce.Path)-1].Kind
			}
			if !slices.Contains(strings.Split(tc.pathKind, "|"), kind) {
				t.Errorf("path ends at %q, want %q (%v)", kind, tc.pathKind, err)
			}
			if !strings.Contains(err.Error(), tc.cause.Error()) {
				t.Errorf("message %q lost the cause", err)
			}
		})
	}

	// A copy its caller cancels blames neither side.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	g := newGraph()
	base := repo(t, "src")
	tag(t, base, g.image(t, base, 1, 100))
	_, err := copy.Copy(ctx, base, "src", repo(t, "dst"), "x", copy.Options{})
	var ce *copy.Error
	if !errors.As(err, &ce) || ce.Side != copy.SideUnknown || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled copy: %#v", err)
	}
}
