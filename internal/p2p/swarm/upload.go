package swarm

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// ConnContext is for the ConnContext of the http.Server that serves
// Handler: it lets the answer to a piece request reach its connection, so
// that an upload slot (Options.UploadSlots) is held while a small piece is
// on its way (holdSlot).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

type connKey struct{}

// holdMax is the largest piece holdSlot bounds.
const holdMax = 64 << 10

// holdSlot bounds the bytes of a piece of holdMax or less that the socket
// of the request ctx came on takes unsent (TCP_NOTSENT_LOWAT) to a quarter
// of the piece: the piece's write, and with it its upload slot, then lasts
// until the piece is nearly on the wire. A larger piece leaves the
// socket's default, and so does a connection that is not plain TCP.
//
// Without the bound a write ends once the kernel has taken the bytes into
// the socket's buffer, which holds a whole piece of 64 KiB at once: the
// slot is free again long before the piece has left, and every request is
// served at once. At 32 nodes on 10 Mbit/s, the first node to get a 1 MiB
// blob's first piece was asked for it by 21 others and sent it to all of
// them at once, each at a twenty-first of its uplink: they got it
// 0.4-1.2 s after they asked, where 64 KiB takes 0.05 s at the link's
// rate. With the bound, the median node got a 1 MiB blob about 7%
// sooner (BENCHMARKS.md). A piece of 256 KiB or more is held back mostly
// by the socket's buffer already; holding its slot for the rest as well
// made a 64 MiB blob at 32 nodes slower, and cost more CPU.
func holdSlot(ctx context.Context, size int64) {
	tc, ok := ctx.Value(connKey{}).(*net.TCPConn)
	if !ok || !notsentSupported {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		v := 0 // the system's default: no bound
		if size <= holdMax {
			v = int(max(size/4, 1))
		}
		_ = rc.Control(func(fd uintptr) { setNotsent(fd, v) })
	}
}

// stallWriter is an answer to a peer whose every write (32 KiB at most)
// must end within stall: a peer that stops reading (its process stopped
// while its kernel still acknowledges, with a shut window) would otherwise
// hold what its request holds, an upload slot or a have stream, for as
// long as its connection lives. The time between writes (waiting for a
// piece's next block, for the upload rate, for a have line) is not
// counted.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	set   time.Time // when the deadline was last moved
}

func newStallWriter(w http.ResponseWriter, stall time.Duration) *stallWriter {
	sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
	sw.arm() // for a header written once the handler returns
	return sw
}

// arm moves the writes' deadline to stall from now. Moving it costs a
// timer update; once per eighth of stall is enough for a write that
// stalls to fail between 7/8 of stall and all of it after it began (as
// the registry's request bodies do). Without a deadline to set (a writer
// that is not a connection's) the answer is unbounded.
func (w *stallWriter) arm() {
	if now := time.Now(); now.Sub(w.set) > w.stall/8 {
		_ = w.rc.SetWriteDeadline(now.Add(w.stall))
		w.set = now
	}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

// ReadFrom copies r in writes of 32 KiB at most.
func (w *stallWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := getBuf(32 << 10)
	defer putBuf(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, buf)
}

func (w *stallWriter) FlushError() error {
	w.arm()
	return w.rc.Flush()
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
