package swarm

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// An upload slot for a piece of 64 KiB is held until the piece is nearly
// on the wire, not only until the kernel has taken it into the socket's
// buffer. With one slot and a reader that reads nothing yet, a second
// request is told the node is busy; once the first reader has read its
// piece, a third is served.
func TestUploadSlotHeldWhileThePieceIsOnItsWay(t *testing.T) {
	b := make([]byte, 1<<20)
	_, _ = crand.Read(b)
	_, tr := nodeTransfer(t, Options{UploadSlots: 1}, b, 64<<10)
	if _, err := tr.file.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	tr.complete = true
	tr.mu.Unlock()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(tr.serveRange))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()

	// The slow reader: a small window, and nothing read yet.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
	}}
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const piece = 64 << 10
	fmt.Fprintf(c, "GET /p2p/v1/blobs/%s HTTP/1.1\r\nHost: peer\r\nRange: bytes=0-%d\r\n\r\n", tr.d, piece-1)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil) // the header only: the piece waits
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("the first request: %v, %v", resp, err)
	}
	time.Sleep(200 * time.Millisecond) // time enough for the kernel to take what it will

	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+blobsPath+tr.d.String(), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", piece, 2*piece-1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusPartialContent && !bytes.Equal(got, b[piece:2*piece]) {
			t.Fatal("the second piece came wrong")
		}
		return resp.StatusCode
	}
	if code := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("a request while the only slot's piece waits unsent: %d, want 503 (the slot was let go before the piece left)", code)
	}

	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, b[:piece]) {
		t.Fatalf("the first piece: %d bytes, %v", len(got), err)
	}
	if code := get(); code != http.StatusPartialContent {
		t.Fatalf("a request once the slot's piece was read: %d, want 206", code)
	}
}
