package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
)

// Content paths (blobs/<alg>/<hex>, an upload's data file) are opened
// without following a symbolic link anywhere below the store's directory,
// and only regular files are content: a link or a directory planted where
// a blob belongs would otherwise be served under a digest it does not
// have, appended to by a PATCH, or moved into the store by fsck. Such an
// entry is damage: reads answer not found, writes fail, and fsck reports
// it (--repair moves the entry itself aside, never what it points at).

// notRegularError says that something other than a regular file stands at
// a content path. It wraps cas.ErrNotFound: the content is not there.
type notRegularError struct {
	path string
	what string // "a symbolic link", "a directory", ...
}

func (e *notRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file: gantry neither follows nor serves it (gantry fsck --repair moves it aside)", e.path, e.what)
}

func (e *notRegularError) Unwrap() error { return cas.ErrNotFound }

// describeMode names a file type for notRegularError.
func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// rel returns p relative to the store's directory; p is one of s.path's.
func (s *Store) rel(p string) (string, error) {
	r, err := filepath.Rel(s.dir, p)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") || filepath.IsAbs(r) {
		return "", fmt.Errorf("%s is outside store %s", p, s.dir)
	}
	return r, nil
}

// openContent opens the content file at p (a path under the store) with
// flag, following no symbolic link below the store's directory, and checks
// that it is a regular file. A missing file wraps os.ErrNotExist; anything
// else at p is a *notRegularError.
func (s *Store) openContent(p string, flag int) (*os.File, error) {
	r, err := s.rel(p)
	if err != nil {
		return nil, err
	}
	f, err := openBeneath(s.dirf, s.dir, r, flag)
	if err != nil {
		if isLinkRefusal(err) {
			return nil, &notRegularError{path: p, what: "reached through a symbolic link"}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &notRegularError{path: p, what: describeMode(fi.Mode())}
	}
	return f, nil
}

// statContent returns the size of the regular file at p without following
// a link there. A missing file wraps os.ErrNotExist.
func statContent(p string) (int64, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, &notRegularError{path: p, what: describeMode(fi.Mode())}
	}
	return fi.Size(), nil
}

// isNotRegular reports whether err says a content path holds something
// other than a regular file.
func isNotRegular(err error) bool {
	var nr *notRegularError
	return errors.As(err, &nr)
}
