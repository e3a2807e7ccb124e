package swarm_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
)

// frozenRequest asks srv for bytes first-last of d as peer, on a
// connection with a small receive window, and reads nothing of the
// answer: a peer whose process stopped while its kernel still
// acknowledges. The connection closes with the test.
func frozenRequest(t *testing.T, addr string, d digest.Digest, first, last int64, peer string) {
	t.Helper()
	dl := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
	}}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /p2p/v1/blobs/%s HTTP/1.1\r\nHost: peer\r\nGantry-Peer: %s\r\nRange: bytes=%d-%d\r\n\r\n", d, peer, first, last)
}

// A peer that stops reading what it asked for holds the upload slot its
// piece took only until a write to it has waited for the stall timeout:
// then the node lets the peer go and serves the others.
// (A frozen peer, its kernel still acknowledging with a shut window, held
// the slot for as long as its connection lived: a node with every slot so
// held answered every other peer "busy" for good.)
func TestFrozenPeerLetsTheSlotGo(t *testing.T) {
	const size = 16 << 20 // more than the sockets' buffers take in
	b := randomBlob(t, size)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	stall := 500 * time.Millisecond
	c := newCluster(t, 1, swarm.Options{UploadSlots: 1, StallTimeout: stall})
	holder := c.nodes[0]
	c.pullAll(b, o, 20*time.Second)
	c.waitWhole(d)

	frozenRequest(t, holder.srv.Listener.Addr().String(), d, 0, size-1, "frozen")
	time.Sleep(100 * time.Millisecond) // its write fills the buffers and blocks

	const piece = 64 << 10
	deadline := time.Now().Add(10 * stall)
	for {
		req, _ := http.NewRequest(http.MethodGet, holder.srv.URL+"/p2p/v1/blobs/"+d.String(), nil)
		req.Header.Set("Gantry-Peer", "honest")
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", piece, 2*piece-1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusPartialContent {
			if err != nil || !bytes.Equal(got, b[piece:2*piece]) {
				t.Fatalf("the piece: %d bytes, %v", len(got), err)
			}
			return
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a request while a frozen peer holds the slot: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a peer that reads nothing held the only upload slot for %s (stall timeout %s)", 10*stall, stall)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
