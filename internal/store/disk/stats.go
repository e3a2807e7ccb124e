package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
)

// Stats is what a store holds on disk.
type Stats struct {
	// Blobs is the number of blobs under blobs/, manifests included. Each
	// is counted once, however many repositories use it.
	Blobs int64
	// Bytes is their total size.
	Bytes int64
}

// Stats counts the store's blobs and their bytes. It reads the directories
// of blobs/ and opens no blob, but its cost grows with the number of blobs:
// a caller that asks often (a metrics scrape) keeps the answer a while.
// Files under blobs/ that are not named by a digest (another tool's
// leftovers) are not blobs and are not counted; gantry fsck reports them.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	algs, err := os.ReadDir(s.path(blobsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil // nothing pushed yet
	}
	if err != nil {
		return st, fmt.Errorf("store %s: stats: %w", s.dir, err)
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		files, err := os.ReadDir(s.path(blobsDir, a.Name()))
		if err != nil {
			return st, fmt.Errorf("store %s: stats: %w", s.dir, err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if !f.Type().IsRegular() || cas.ValidateDigest(digest.Digest(a.Name()+":"+f.Name())) != nil {
				continue
			}
			info, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			if err != nil {
				return st, fmt.Errorf("store %s: stats: %w", s.dir, err)
			}
			st.Blobs++
			st.Bytes += info.Size()
		}
	}
	return st, nil
}
