package cli

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// fileReloader holds what load reads from a set of files (a certificate
// and its key, an htpasswd file), and reads them again when they change:
// another file renamed over one of them, or a new modification time or
// size; it looks at most every interval, when the value is asked for, so
// a burst of requests costs no stat and an idle server no timer. A new
// version that does not load keeps the old value in use and is logged
// once; so is a file that cannot be read.
type fileReloader[T any] struct {
	// flags name the files, for errors: "--tls-cert".
	flags, files []string
	// what names the value in log lines: "TLS certificate pair".
	what string
	// load reads the files.
	load func() (T, error)
	// reloaded logs a new value, with its own details.
	reloaded func(T)
	log      *slog.Logger
	every    time.Duration

	mu      sync.Mutex
	val     T
	loaded  []fileStamp // of the value in use
	failed  []fileStamp // of the last version that did not load
	checked time.Time
	// statFailed says an unreadable file was logged already.
	statFailed bool
}

// fileStamp is what tells a changed file: the file itself (a file renamed
// over the old one, as certificate managers and Kubernetes' Secret volumes
// replace them, is another file even when written in the same clock tick
// with the same size), its modification time and its size.
type fileStamp struct{ info os.FileInfo }

func stamp(path string) (fileStamp, error) {
	st, err := os.Stat(path) // through symlinks, as Kubernetes swaps them
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st}, nil
}

func (a fileStamp) same(b fileStamp) bool {
	return a.info != nil && b.info != nil && os.SameFile(a.info, b.info) &&
		a.info.ModTime().Equal(b.info.ModTime()) && a.info.Size() == b.info.Size()
}

// sameStamps reports whether two sets of stamps are of the same files.
func sameStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

// start reads the files, for the start: an error names them.
func (r *fileReloader[T]) start() error {
	stamps, err := r.stamps()
	if err != nil {
		return err
	}
	v, err := r.load()
	if err != nil {
		return err
	}
	r.val, r.loaded, r.checked = v, stamps, time.Now()
	return nil
}

func (r *fileReloader[T]) stamps() ([]fileStamp, error) {
	out := make([]fileStamp, len(r.files))
	for i, f := range r.files {
		s, err := stamp(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.flags[i], err)
		}
		out[i] = s
	}
	return out, nil
}

// get returns the value, read again first if the files changed.
func (r *fileReloader[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < r.every {
		return r.val
	}
	r.checked = time.Now()
	stamps, err := r.stamps()
	if err != nil {
		if !r.statFailed {
			r.log.Error(r.what+" unreadable; serving the one loaded before", "err", err)
			r.statFailed = true
		}
		return r.val
	}
	r.statFailed = false
	if sameStamps(stamps, r.loaded) || sameStamps(stamps, r.failed) {
		return r.val
	}
	v, err := r.load()
	if err != nil {
		r.log.Error("new "+r.what+" does not load; serving the one loaded before", "err", err)
		r.failed = stamps
		return r.val
	}
	r.val, r.loaded, r.failed = v, stamps, nil
	r.reloaded(v)
	return r.val
}
