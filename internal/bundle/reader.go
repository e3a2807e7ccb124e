package bundle

import (
	"context"
	"fmt"

	"github.com/gantry-dev/gantry/internal/cas"
)

// Reader reads a bundle in place: blobs are served straight from the tar
// files through io.SectionReader, never unpacked. It is safe for concurrent
// use. Open it with Open; Close releases the files.
type Reader struct {
	m Manifest
}

// Open opens a bundle: one file, or the volumes of a split bundle in any
// order. Volumes not given are reported by Missing (naming the images they
// cost) and the rest stays readable; a file that is not a volume of the same
// bundle, or whose gantry-bundle.json is damaged, fails Open.
func Open(paths ...string) (*Reader, error) {
	return nil, fmt.Errorf("bundle open: not implemented yet: %w", cas.ErrUnsupported)
}

// Manifest returns the bundle's manifest (Volume is that of the first file
// given to Open).
func (r *Reader) Manifest() Manifest { return r.m }

// Images returns the bundle's images.
func (r *Reader) Images() []ImageEntry { return r.m.Images }

// Repository returns a read-only target over the repository name (an image
// name without tag or digest, e.g. "registry.example.com/team/app"): its
// tags are those of the bundle's images in that repository, and every blob
// of every volume given to Open is visible in it. Push and Tag fail with
// cas.ErrUnsupported.
func (r *Reader) Repository(ctx context.Context, name string) (cas.Target, error) {
	return nil, fmt.Errorf("bundle repository: not implemented yet: %w", cas.ErrUnsupported)
}

// Repositories implements cas.RepositoryLister over the bundle's images.
func (r *Reader) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	return cas.ErrUnsupported
}

// Verify re-hashes every blob of the volumes given to Open and checks that
// every image's graph is complete within the bundle (plus, for a delta, the
// blobs its base leaves out). It names what is missing or damaged and which
// images it costs. The error is for failures to read at all; a damaged
// bundle gives a report with Problems.
func (r *Reader) Verify(ctx context.Context) (*VerifyReport, error) {
	return nil, cas.ErrUnsupported
}

// VerifyAgainst runs Verify and then checks that every blob a delta leaves
// out is present at target, in the repository repoFor names for each image
// (nil: ImageEntry.Repository). Push and load call it before writing
// anything.
func (r *Reader) VerifyAgainst(ctx context.Context, target cas.Store, repoFor func(ImageEntry) string) (*VerifyReport, error) {
	return nil, cas.ErrUnsupported
}

// Close closes the files.
func (r *Reader) Close() error { return nil }

// MissingVolume is a volume of the bundle that was not given to Open.
type MissingVolume struct {
	// Volume is the missing volume's entry (its number and file name).
	Volume VolumeEntry `json:"volume"`
	// Images names the images that need a blob it holds: they cannot be
	// read or pushed whole without it.
	Images []string `json:"images"`
}

// Missing lists the volumes of the bundle that were not given to Open, with
// the images each costs; nil when every volume is there.
func (r *Reader) Missing() []MissingVolume { return nil }
