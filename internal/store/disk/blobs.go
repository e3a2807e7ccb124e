package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobPath returns where content with digest d lives; d must be valid.
func (s *Store) blobPath(d digest.Digest) string {
	return s.path(blobsDir, string(d.Algorithm()), d.Encoded())
}

func (s *Store) openBlob(d digest.Digest) (*os.File, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return nil, err
	}
	f, err := s.openContent(s.blobPath(d), os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d, cas.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	return f, nil
}

// readBlob reads a whole blob of at most limit bytes (a manifest), without
// following links.
func (s *Store) readBlob(d digest.Digest, limit int64) ([]byte, error) {
	f, err := s.openBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes: %w", d, limit, cas.ErrInvalid)
	}
	return b, nil
}

// statBlob returns the size of the blob, or an error wrapping ErrNotFound.
func (s *Store) statBlob(d digest.Digest) (int64, error) {
	if err := cas.ValidateDigest(d); err != nil {
		return 0, err
	}
	size, err := statContent(s.blobPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", d, cas.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d, err)
	}
	return size, nil
}

// push stores content read from r as blobs/ALG/HEX: it streams r into a
// temporary file under .gantry/ingest (same file system, so the final
// rename is atomic) while hashing it, checks size and digest, fsyncs the
// file, makes it read-only, renames it into place and fsyncs the directory.
func (s *Store) push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) (err error) {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return err
	}
	d := expected.Digest
	if s.shut.Load() {
		return fmt.Errorf("%s: store %s: %w", d, s.dir, errClosed)
	}
	dst := s.blobPath(d)
	if _, err := statContent(dst); err == nil {
		return fmt.Errorf("%s: %w", d, cas.ErrExists)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	// Register the temporary file under imu as it is created, so Fsck never
	// takes it for a stray.
	s.imu.Lock()
	f, err := os.CreateTemp(s.path(stateDir, ingestDir), d.Encoded()[:16]+"-*")
	if err != nil {
		s.imu.Unlock()
		return fmt.Errorf("%s: store %s: creating a temporary file: %w", d, s.dir, err)
	}
	tmp := f.Name()
	s.active[filepath.Base(tmp)] = true
	s.imu.Unlock()
	var written int64
	defer func() {
		s.imu.Lock()
		delete(s.active, filepath.Base(tmp))
		s.imu.Unlock()
		if err != nil {
			f.Close()
			os.Remove(tmp)
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				err = fmt.Errorf("%s: store %s: no space left for this %d-byte blob (%d bytes written, now removed); free space on that file system or move the store: %w",
					d, s.dir, expected.Size, written, err)
			}
		}
	}()
	if err := preallocate(f, expected.Size); err != nil {
		return fmt.Errorf("%s: reserving %d bytes: %w", d, expected.Size, err)
	}
	written, err = copyIn(ctx, f, cas.VerifyReader(r, expected), expected)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: syncing blob: %w", d, err)
	}
	if err := f.Chmod(0o444); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if _, err := statContent(dst); err == nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", d, cas.ErrExists)
	}
	if err := s.ensureAlgDir(d.Algorithm()); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("%s: syncing %s: %w", d, filepath.Dir(dst), err)
	}
	return nil
}

// ensureAlgDir creates blobs/ALG durably the first time it is needed.
func (s *Store) ensureAlgDir(alg digest.Algorithm) error {
	dir := s.path(blobsDir, string(alg))
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return syncDir(s.path(blobsDir))
}

// deleteBlob removes a blob durably.
func (s *Store) deleteBlob(d digest.Digest) error {
	if err := cas.ValidateDigest(d); err != nil {
		return err
	}
	p := s.blobPath(d)
	if err := os.Remove(p); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", d, cas.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	return nil
}

// sectionReadCloser is a ranged reader over a blob file.
type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (r sectionReadCloser) Close() error { return r.f.Close() }

func isNotFound(err error) bool { return errors.Is(err, cas.ErrNotFound) }
