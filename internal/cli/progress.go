package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// reporter is the progress UI of every command that moves blobs (copy,
// bundle create, bundle push and load): it turns copy events into progress
// bars (on a terminal), debug log lines (otherwise) and counts for the
// summary line. Sizes are in IEC units, as formatBytes writes them.
type reporter struct {
	e     *env
	quiet bool

	mu                      sync.Mutex
	copied, skipped, mounts int
	bytes                   int64

	// Terminal only.
	bars    *mpb.Progress
	total   *mpb.Bar
	inFly   map[string]*blobBar
	started int64 // bytes of the blobs started
}

type blobBar struct {
	bar  *mpb.Bar
	seen int64
}

func newReporter(e *env, quiet bool) *reporter {
	r := &reporter{e: e, quiet: quiet}
	if !quiet && isTerminal(e.stderr) {
		start := time.Now()
		r.bars = mpb.New(mpb.WithOutput(e.stderr), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
		r.total = r.bars.AddBar(0, mpb.BarPriority(1<<30), // stays at the bottom
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
				// mpb's AverageSpeed stays blank on a copy that ends before
				// its first refresh; this one always says something.
				return formatRate(s.Current, time.Since(start))
			}, decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
		)
		r.inFly = map[string]*blobBar{}
	}
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// event is the copy's Options.Progress; the engine calls it from several
// goroutines.
func (r *reporter) event(ev copy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := ev.Desc.Digest.String()
	switch ev.Kind {
	case copy.EventStart:
		if r.bars != nil && ev.Desc.Size > 0 {
			// The total grows as the walk discovers blobs.
			r.started += ev.Desc.Size
			r.total.SetTotal(r.started, false)
			r.inFly[d] = &blobBar{bar: r.bars.AddBar(ev.Desc.Size, mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(shortDigest(d), decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace)),
				mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)),
			)}
		}
	case copy.EventProgress:
		if b := r.inFly[d]; b != nil {
			b.bar.SetCurrent(ev.Bytes)
			r.total.IncrInt64(ev.Bytes - b.seen)
			b.seen = ev.Bytes
		}
	case copy.EventDone:
		r.copied++
		r.bytes += ev.Bytes
		if b := r.inFly[d]; b != nil {
			r.total.IncrInt64(ev.Desc.Size - b.seen)
			b.bar.SetCurrent(ev.Desc.Size)
			delete(r.inFly, d)
		}
		if r.bars == nil && !r.quiet {
			r.e.log.Debug("copied", "digest", d, "size", ev.Desc.Size, "mediaType", ev.Desc.MediaType)
		}
	case copy.EventSkip:
		r.skipped++
		if r.bars == nil && !r.quiet {
			r.e.log.Debug("already present", "digest", d, "size", ev.Desc.Size, "mediaType", ev.Desc.MediaType)
		}
	case copy.EventMount:
		r.mounts++
		if r.bars == nil && !r.quiet {
			r.e.log.Debug("mounted", "digest", d, "size", ev.Desc.Size, "mediaType", ev.Desc.MediaType)
		}
	}
}

// finish removes the bars: completed on success, dropped on failure so the
// error that follows is not lost among them.
func (r *reporter) finish(ok bool) {
	if r.bars == nil {
		return
	}
	r.mu.Lock()
	for d, b := range r.inFly {
		b.bar.Abort(true)
		delete(r.inFly, d)
	}
	if ok {
		r.total.SetTotal(-1, true)
	} else {
		r.total.Abort(false)
	}
	r.mu.Unlock()
	r.bars.Wait()
}

// summary is the line printed once the copy is done.
func (r *reporter) summary(took time.Duration) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("copied %s (%s), skipped %d already present", plural(r.copied, "blob"), formatBytes(r.bytes), r.skipped)
	if r.mounts > 0 {
		s += fmt.Sprintf(", mounted %d", r.mounts)
	}
	return s + fmt.Sprintf(" in %s (%s)", took.Round(time.Millisecond), formatRate(r.bytes, took))
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
