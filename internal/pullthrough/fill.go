package pullthrough

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fill is one blob on its way from the upstream into the cache. Its bytes
// go to a temporary file that the clients joined read as it grows.
type fill struct {
	desc ocispec.Descriptor
	path string
	open chan struct{} // closed once the upstream answered (openErr set)

	mu      sync.Mutex
	cond    *sync.Cond
	opened  bool  // open is closed
	openErr error // written before open is closed, never after
	n       int64 // bytes written to path
	done    bool
	err     error   // the fill's failure, once done
	repos   []*repo // repositories that asked, to link it into their cache
}

// fillIdle fails a fill whose upstream sends nothing for this long.
const fillIdle = 2 * time.Minute

// join returns a reader of desc for repository r, starting a fill when
// none is running. It returns once the upstream answered, so a blob the
// upstream does not have is an error, not a broken body.
func (s *Store) join(ctx context.Context, r *repo, desc ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	f, ok := s.fills[desc.Digest]
	if ok && f.desc.Size != desc.Size {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s@%s: asked for %d bytes while %d are being fetched: %w", r.name, desc.Digest, desc.Size, f.desc.Size, cas.ErrSizeMismatch)
	}
	if !ok {
		tmp, err := os.CreateTemp(s.opts.TempDir, "gantry-mirror-*")
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("pullthrough: %s: %w", desc.Digest, err)
		}
		f = &fill{desc: desc, path: tmp.Name(), open: make(chan struct{}), repos: []*repo{r}}
		f.cond = sync.NewCond(&f.mu)
		s.fills[desc.Digest] = f
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(f, r, tmp)
		}()
	}
	// The file is opened under s.mu: run removes it only after taking
	// the fill out of the map, under s.mu too.
	file, err := os.Open(f.path)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("pullthrough: %s: %w", desc.Digest, err)
	}
	if ok {
		f.mu.Lock()
		if !f.done {
			f.repos = append(f.repos, r)
		}
		f.mu.Unlock()
	}
	select {
	case <-f.open:
	case <-ctx.Done():
		file.Close()
		return nil, ctx.Err()
	}
	if f.openErr != nil {
		file.Close()
		return nil, f.openErr
	}
	rd := &fillReader{f: f, file: file, ctx: ctx}
	rd.stop = context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	return rd, nil
}

// run fetches f from the upstream of r into tmp, checks it, commits it to
// the cache and links it into every repository that asked.
func (s *Store) run(f *fill, r *repo, tmp *os.File) {
	err := s.fetchInto(f, r, tmp)
	if err == nil {
		err = s.commit(f, tmp)
	}
	tmp.Close()
	s.mu.Lock()
	delete(s.fills, f.desc.Digest)
	os.Remove(f.path)
	s.mu.Unlock()
	if err != nil {
		s.opts.Logger.Warn("mirror fill failed; nothing cached", "repository", r.name, "digest", f.desc.Digest, "upstream", r.rt.URL, "err", err)
	}
	f.mu.Lock()
	if !f.opened {
		f.opened, f.openErr = true, err
		close(f.open)
	}
	f.done, f.err = true, err
	f.cond.Broadcast()
	f.mu.Unlock()
}

// fetchInto streams the blob into tmp, hashing it, and fails unless it
// matches f.desc.
func (s *Store) fetchInto(f *fill, r *repo, tmp *os.File) error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	rc, err := r.up.Fetch(ctx, f.desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	f.mu.Lock()
	f.opened = true
	close(f.open)
	f.mu.Unlock()
	idle := time.AfterFunc(fillIdle, cancel)
	defer idle.Stop()
	v := cas.VerifyReader(rc, f.desc)
	buf := make([]byte, 256<<10)
	for {
		k, rerr := v.Read(buf)
		if k > 0 {
			idle.Reset(fillIdle)
			if _, err := tmp.Write(buf[:k]); err != nil {
				return fmt.Errorf("pullthrough: %s: writing %s: %w", f.desc.Digest, f.path, err)
			}
			f.mu.Lock()
			f.n += int64(k)
			f.cond.Broadcast()
			f.mu.Unlock()
		}
		if rerr == io.EOF {
			return nil // the verifier's verdict: size and digest match
		}
		if rerr != nil {
			return fmt.Errorf("pullthrough: upstream blob %s@%s: %w", r.upName, f.desc.Digest, rerr)
		}
	}
}

// commit puts the verified file into the first repository that asked and
// links it into the others.
func (s *Store) commit(f *fill, tmp *os.File) error {
	ctx := context.WithoutCancel(s.ctx)
	f.mu.Lock()
	repos := f.repos
	f.mu.Unlock()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	first := repos[0]
	if err := first.cache.Push(ctx, f.desc, tmp); err != nil && !errors.Is(err, cas.ErrExists) {
		return fmt.Errorf("pullthrough: caching %s: %w", f.desc.Digest, err)
	}
	f.mu.Lock()
	// Repositories that join from now on read the cache, not the fill;
	// they may still have joined the fill before it left the map.
	repos = f.repos
	f.mu.Unlock()
	seen := map[string]bool{first.name: true}
	for _, r := range repos {
		if seen[r.name] {
			continue
		}
		seen[r.name] = true
		if err := link(ctx, r, first, f.desc); err != nil {
			return err
		}
	}
	return nil
}

// link makes a blob that the cache holds for repository from held by r
// too: a mount where the cache can, else a copy.
func link(ctx context.Context, r, from *repo, desc ocispec.Descriptor) error {
	if mt, ok := r.cache.(cas.Mounter); ok && mt.Mount(ctx, desc, from.name) == nil {
		return nil
	}
	rc, err := from.cache.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := r.cache.Push(ctx, desc, rc); err != nil && !errors.Is(err, cas.ErrExists) {
		return fmt.Errorf("pullthrough: caching %s in %s: %w", desc.Digest, r.name, err)
	}
	return nil
}

// fillReader reads a fill as it grows. It holds back the blob's last byte
// until the fill has checked the digest and committed the blob, so a
// client never reads a complete blob that turns out wrong.
type fillReader struct {
	f    *fill
	file *os.File
	ctx  context.Context
	stop func() bool
	off  int64
}

func (rd *fillReader) Read(p []byte) (int, error) {
	f := rd.f
	size := f.desc.Size
	if rd.off >= size {
		return 0, io.EOF
	}
	f.mu.Lock()
	for {
		if f.done && f.err != nil {
			f.mu.Unlock()
			return 0, f.err
		}
		limit := min(f.n, size-1)
		if f.done {
			limit = size
		}
		if rd.off < limit {
			if int64(len(p)) > limit-rd.off {
				p = p[:limit-rd.off]
			}
			break
		}
		if err := rd.ctx.Err(); err != nil {
			f.mu.Unlock()
			return 0, err
		}
		f.cond.Wait()
	}
	f.mu.Unlock()
	n, err := rd.file.ReadAt(p, rd.off)
	rd.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (rd *fillReader) Close() error {
	rd.stop()
	return rd.file.Close()
}
