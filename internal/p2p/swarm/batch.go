package swarm

import (
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// rcvBatch is how many bytes of a piece a requester lets the kernel
// gather before it wakes to read them. At the rates a swarm shares, a
// piece comes a segment every few milliseconds; read as they come, that
// is a goroutine woken and a system call for every 1.4 KiB, which on a
// node that serves as much as it takes is most of its CPU.
const rcvBatch = 64 << 10

// batchFor is the batch a piece is read in from a neighbour whose pieces
// came at rate bytes a second: rcvBatch, or less, so that a batch comes
// within a quarter of the stall timeout (the bytes a read brings count as
// the swarm's progress); 1, no batching, from a neighbour not yet
// measured.
func batchFor(rate float64, stall time.Duration) int {
	return int(max(1, min(rcvBatch, rate*stall.Seconds()/4)))
}

// batched returns body, the rest of a response of left bytes whose
// connection is conn, read in batches: the socket's receive low-water
// mark (SO_RCVLOWAT) holds a read back until batch bytes wait, or fewer
// near the end, so that the last bytes are never held back. The
// transport's read buffer may hold up to slack bytes of the body already,
// which the socket will not bring again. body itself if conn is not plain
// TCP (TLS frames the bytes anew) or the platform has no low-water mark.
func batched(body io.Reader, conn net.Conn, left int64, slack, batch int) io.Reader {
	tc, ok := conn.(*net.TCPConn)
	if !ok || !lowatSupported || batch <= 1 {
		return body
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return body
	}
	return &batchReader{r: body, rc: rc, left: left, slack: int64(slack), batch: int64(batch), lowat: 1}
}

// readSlack is what batched must allow for on the connections of client:
// the read buffer of its transport; -1 if the transport is not one whose
// buffer is known.
func readSlack(client *http.Client) int {
	tr, ok := client.Transport.(*http.Transport)
	if !ok {
		return -1
	}
	if tr.ReadBufferSize > 0 {
		return tr.ReadBufferSize
	}
	return 4 << 10 // net/http's default
}

// batchReader is batched's reader.
type batchReader struct {
	r     io.Reader
	rc    syscall.RawConn
	left  int64 // bytes of the body not yet read
	slack int64
	batch int64
	lowat int // the socket's low-water mark as last set
}

func (b *batchReader) Read(p []byte) (int, error) {
	b.set(int(max(1, min(b.batch, b.left-b.slack))))
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil || b.left <= 0 {
		// The connection may serve another request, whose answer may be
		// a few bytes (net/http's bodies tell io.EOF with their last
		// bytes, but a reader need not).
		b.set(1)
	}
	return n, err
}

// set sets the socket's low-water mark to v, if it is not v already.
func (b *batchReader) set(v int) {
	if v == b.lowat {
		return
	}
	if b.rc.Control(func(fd uintptr) { setLowat(fd, v) }) == nil {
		b.lowat = v
	}
}
