package swarm

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// counting counts the reads of r that returned bytes.
type counting struct {
	r     io.Reader
	reads int
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.reads++
	}
	return n, err
}

// trickle serves /N: N random bytes (seeded by N), written a segment at
// a time with a pause between, as a piece comes over a shared link.
func trickle(t *testing.T, pause time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Path[1:])
		body := payload(n)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		rc := http.NewResponseController(w)
		for len(body) > 0 {
			k := min(len(body), 1448)
			if _, err := w.Write(body[:k]); err != nil {
				return
			}
			_ = rc.Flush()
			body = body[k:]
			time.Sleep(pause)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func payload(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	_, _ = r.Read(b)
	return b
}

// get reads /n of srv through batched, with reads of at most chunk bytes,
// and returns how many reads of the socket brought bytes, and whether the
// connection was one used before.
func get(t *testing.T, client *http.Client, srv *httptest.Server, n, chunk int) (reads int, reused bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conn net.Conn
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { conn, reused = ci.Conn, ci.Reused }})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/"+strconv.Itoa(n), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c := &counting{r: resp.Body}
	body := batched(c, conn, int64(n), readSlack(client), rcvBatch)
	got := make([]byte, 0, n)
	buf := make([]byte, chunk)
	for len(got) < n {
		k, err := body.Read(buf[:min(chunk, n-len(got))])
		got = append(got, buf[:k]...)
		if err != nil && !(err == io.EOF && len(got) == n) {
			t.Fatalf("%d bytes in %d-byte reads: after %d: %v", n, chunk, len(got), err)
		}
	}
	if !bytes.Equal(got, payload(n)) {
		t.Fatalf("%d bytes in %d-byte reads: the bytes differ", n, chunk)
	}
	return c.reads, reused
}

// A piece that trickles in is read in batches of rcvBatch, not a segment
// at a time, and none of its bytes is held back: the last ones come, and
// the connection serves the next request.
func TestBatchedReads(t *testing.T) {
	if !lowatSupported {
		t.Skip("no receive low-water mark on this platform")
	}
	srv := trickle(t, 200*time.Microsecond)
	client := defaultHTTPClient(nil)
	reads, _ := get(t, client, srv, 256<<10, 256<<10)
	// 181 segments; in batches of 64 KiB, about 4 reads and a few more
	// for what the transport's buffer held.
	if reads > 20 {
		t.Errorf("256 KiB coming a segment at a time took %d reads, want at most 20", reads)
	}
	for _, n := range []int{1, 1448, 4095, 4096, 4097, 8193, rcvBatch - 1, rcvBatch + 1, rcvBatch + 4097, 300_001} {
		for _, chunk := range []int{100, 4096, 256 << 10} {
			start := time.Now()
			_, reused := get(t, client, srv, n, chunk)
			if !reused {
				t.Errorf("%d bytes in %d-byte reads: the connection was not kept for the next request", n, chunk)
			}
			// At 1448 bytes per 200 µs, 300 KB take 40 ms; a byte held
			// back would take the 10 s timeout.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%d bytes in %d-byte reads took %v", n, chunk, d)
			}
		}
	}
}

// A piece is read in batches small enough to come within a quarter of
// the stall timeout at its neighbour's rate, since the bytes a read brings
// are the swarm's progress; from a neighbour not yet measured, as it
// comes.
func TestBatchFor(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want int
	}{
		{0, 1},
		{180e3, rcvBatch}, // B/7 at 10 Mbit/s
		{13e3, 16250},     // 13 KB/s: a batch each 1.25 s
		{1, 1},
	} {
		if got := batchFor(tc.rate, 5*time.Second); got != tc.want {
			t.Errorf("batchFor(%v B/s, 5 s) = %d; want %d", tc.rate, got, tc.want)
		}
	}
}

// Once the body's last byte is read the low-water mark is 1 again, even
// from a body that tells io.EOF only on the next read: the connection
// goes back to the transport's pool, and its next answer may be a 503 of
// a few bytes.
func TestBatchedResetsAtTheEnd(t *testing.T) {
	if !lowatSupported {
		t.Skip("no receive low-water mark on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 200 << 10
	body := batched(bytes.NewReader(payload(n)), conn, n, 4<<10, rcvBatch)
	if _, err := io.ReadFull(body, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	rc, _ := conn.(*net.TCPConn).SyscallConn()
	var lowat int
	_ = rc.Control(func(fd uintptr) { lowat, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) })
	if err != nil || lowat != 1 {
		t.Errorf("SO_RCVLOWAT after the body's last byte: %d (%v); want 1", lowat, err)
	}
}
