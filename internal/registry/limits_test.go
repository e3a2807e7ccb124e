package registry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
)

// rawRequest writes a request head and body on a new connection to srv,
// all of it before reading anything, as a client that streams its body
// does, and returns the response. A server that answers without reading
// the body and closes makes the write fail (a broken pipe or a reset)
// instead.
func rawRequest(t *testing.T, srv *httptest.Server, head string, body []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatalf("writing the request: %v (the server did not read the body before it answered)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// An oversized manifest is answered 413 MANIFEST_INVALID with an OCI error
// body that the client gets to read: the server drains a body a little over
// the limit before answering, whether its length is declared or chunked.
func TestOversizedManifestIsAnswered(t *testing.T) {
	srv := httptest.NewServer(registry.New(memory.New(), registry.Options{}))
	t.Cleanup(srv.Close)
	body := bytes.Repeat([]byte(" "), oci.MaxManifestSize+768<<10)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			head := "PUT /v2/app/manifests/latest HTTP/1.1\r\nHost: x\r\nContent-Type: " + "application/vnd.oci.image.manifest.v1+json\r\n"
			b := body
			if chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
				var cb bytes.Buffer
				for off := 0; off < len(body); off += 64 << 10 {
					part := body[off:min(off+64<<10, len(body))]
					fmt.Fprintf(&cb, "%x\r\n%s\r\n", len(part), part)
				}
				cb.WriteString("0\r\n\r\n")
				b = cb.Bytes()
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
			}
			resp, rb := rawRequest(t, srv, head, b)
			var e struct {
				Errors []struct{ Code string } `json:"errors"`
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(rb, &e) != nil || len(e.Errors) == 0 || e.Errors[0].Code != "MANIFEST_INVALID" {
				t.Fatalf("oversized manifest: %d %s, want 413 MANIFEST_INVALID", resp.StatusCode, rb)
			}
		})
	}
}

// stall starts a request on a new connection whose body never comes: the
// head declares a body, and nothing follows. Closing the connection ends
// it.
func stall(t *testing.T, base, method, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n", method, path)
	return conn
}

// Uploads in flight are bounded per repository and in total; past a bound
// a request gets 429 TOOMANYREQUESTS with Retry-After, and the bound frees
// as the requests end.
func TestUploadConcurrencyBounds(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			reg := registry.New(s.open(t), registry.Options{MaxUploads: 3, MaxRepositoryUploads: 2})
			srv := httptest.NewServer(reg)
			t.Cleanup(srv.Close)
			c := &client{t: t, base: srv.URL}
			// waitInFlight waits for the stalled requests to be admitted
			// (and for the handlers of earlier requests to return, which
			// may come after their clients have the answer).
			waitInFlight := func(n int) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); reg.UploadsInFlight() != n; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d uploads in flight, want %d", reg.UploadsInFlight(), n)
					}
				}
			}
			var locs []string
			for _, name := range []string{"a", "a", "b"} {
				locs = append(locs, c.do("POST", "/v2/"+name+"/blobs/uploads/", nil).Header.Get("Location"))
			}
			var conns []net.Conn
			for i, loc := range locs[:2] {
				waitInFlight(i)
				conns = append(conns, stall(t, c.base, "PATCH", loc))
			}
			waitInFlight(2)
			r := c.do("POST", "/v2/a/blobs/uploads/", nil)
			c.expect(r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			conns = append(conns, stall(t, c.base, "PATCH", locs[2]))
			waitInFlight(3)
			c.expect(c.do("POST", "/v2/c/blobs/uploads/", nil), http.StatusTooManyRequests, "TOOMANYREQUESTS")
			c.expect(c.do("GET", "/v2/", nil), http.StatusOK, "") // reads are not bounded
			for _, conn := range conns {
				conn.Close()
			}
			waitInFlight(0)
			c.expect(c.do("POST", "/v2/a/blobs/uploads/", nil), http.StatusAccepted, "")
			c.pushBlob("a", []byte("after the stalls"))
		})
	}
}

// A body that sends nothing for BodyIdleTimeout fails the request with
// 408, the session keeps the bytes that came and can be resumed, and the
// upload bound is given back.
func TestBodyIdleTimeout(t *testing.T) {
	forStores(t, registry.Options{BodyIdleTimeout: 300 * time.Millisecond, MaxRepositoryUploads: 1}, func(t *testing.T, c *client) {
		loc := c.do("POST", "/v2/a/blobs/uploads/", nil).Header.Get("Location")
		conn := stall(t, c.base, "PATCH", loc)
		_, _ = conn.Write([]byte("0123456789"))
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("stalled PATCH got no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stalled PATCH: %d, want 408", resp.StatusCode)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("stalled PATCH answered after %s", took)
		}
		r := c.do("GET", loc, nil)
		c.expect(r, http.StatusNoContent, "")
		if got := r.Header.Get("Range"); got != "0-9" {
			t.Fatalf("session after the stall: Range %q, want 0-9", got)
		}
		rest := []byte("abcdef")
		d := digest.FromBytes(append([]byte("0123456789"), rest...))
		c.expect(c.do("PUT", loc+"?digest="+d.String(), rest), http.StatusCreated, "")
	})
}

// Open sessions are capped per repository and in total: POSTs past a cap
// get 429 with Retry-After until sessions end.
func TestSessionCap(t *testing.T) {
	forStores(t, registry.Options{MaxRepositorySessions: 3, MaxSessions: 5}, func(t *testing.T, c *client) {
		var locs []string
		for range 3 {
			r := c.do("POST", "/v2/a/blobs/uploads/", nil)
			c.expect(r, http.StatusAccepted, "")
			locs = append(locs, r.Header.Get("Location"))
		}
		r := c.do("POST", "/v2/a/blobs/uploads/", nil)
		c.expect(r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		c.pushBlob("a", []byte("a monolithic upload opens no session"))
		for range 2 {
			c.expect(c.do("POST", "/v2/b/blobs/uploads/", nil), http.StatusAccepted, "")
		}
		c.expect(c.do("POST", "/v2/c/blobs/uploads/", nil), http.StatusTooManyRequests, "TOOMANYREQUESTS")
		c.expect(c.do("DELETE", locs[0], nil), http.StatusNoContent, "")
		c.expect(c.do("POST", "/v2/a/blobs/uploads/", nil), http.StatusAccepted, "")
	})
}

// Requests for upload IDs that name no session leave nothing behind: no
// session lock, no session in the store.
func TestUnknownUploadIDs(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store := s.open(t)
			reg := registry.New(store, registry.Options{})
			srv := httptest.NewServer(reg)
			t.Cleanup(srv.Close)
			c := &client{t: t, base: srv.URL}
			for i := range 200 {
				id := fmt.Sprintf("%032x", i)
				for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
					r := c.do(m, "/v2/a/blobs/uploads/"+id+"?digest="+digest.FromString("x").String(), []byte("x"))
					c.expect(r, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
				}
			}
			if _, total, err := store.(cas.UploadCounter).OpenUploads(t.Context(), "a"); err != nil || total != 0 {
				t.Fatalf("after 800 requests for unknown uploads the store has %d sessions (%v), want 0", total, err)
			}
			if n := reg.SessionLocks(); n != 0 {
				t.Fatalf("after 800 requests for unknown uploads the registry holds %d session locks, want 0", n)
			}
		})
	}
}

// Concurrent POSTs of one repository never open more sessions than the
// cap: the check and the creation are one step, so the cap holds however
// many requests race for the last slots.
func TestSessionCapConcurrent(t *testing.T) {
	const sessionCap, posts = 4, 48
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			srv := httptest.NewServer(registry.New(st, registry.Options{MaxRepositorySessions: sessionCap}))
			t.Cleanup(srv.Close)
			codes := make(chan int, posts)
			start := make(chan struct{})
			for range posts {
				go func() {
					<-start
					resp, err := http.Post(srv.URL+"/v2/a/blobs/uploads/", "", nil)
					if err != nil {
						codes <- 0
						return
					}
					resp.Body.Close()
					codes <- resp.StatusCode
				}()
			}
			close(start)
			accepted := 0
			for range posts {
				switch code := <-codes; code {
				case http.StatusAccepted:
					accepted++
				case http.StatusTooManyRequests:
				default:
					t.Errorf("POST: %d, want 202 or 429", code)
				}
			}
			inRepo, _, err := st.(cas.UploadCounter).OpenUploads(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			// A POST racing with a session being made may count it twice
			// and be refused (429, Retry-After): never one too many.
			if accepted < 1 || accepted > sessionCap || inRepo != accepted {
				t.Fatalf("%d POSTs accepted, %d sessions open; want 1 to %d, and as many open as accepted", accepted, inRepo, sessionCap)
			}
			// Alone, POSTs fill the cap exactly.
			for range sessionCap - accepted {
				resp, err := http.Post(srv.URL+"/v2/a/blobs/uploads/", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("POST under the cap: %d", resp.StatusCode)
				}
			}
			resp, err := http.Post(srv.URL+"/v2/a/blobs/uploads/", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("POST past the cap: %d, want 429", resp.StatusCode)
			}
		})
	}
}

// An upload refused with 429 is answered to a client that streams its
// body before it reads: the server reads (and discards) a body up to a
// bound, as it does for an oversized manifest.
func TestTooManyIsAnswered(t *testing.T) {
	reg := registry.New(memory.New(), registry.Options{MaxRepositoryUploads: 1})
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL}
	loc := c.do("POST", "/v2/a/blobs/uploads/", nil).Header.Get("Location")
	stall(t, c.base, "PATCH", loc)
	for deadline := time.Now().Add(10 * time.Second); reg.UploadsInFlight() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stalled PATCH was not admitted")
		}
	}
	body := bytes.Repeat([]byte("x"), 900<<10)
	d := digest.FromBytes(body)
	head := fmt.Sprintf("POST /v2/a/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", d, len(body))
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// The body comes at the pace of a slow link, for longer than the HTTP
	// server waits before it closes a connection whose body nobody read.
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(body); off += 64 << 10 {
		time.Sleep(60 * time.Millisecond)
		if _, err := conn.Write(body[off:min(off+64<<10, len(body))]); err != nil {
			t.Fatalf("writing the body: %v (the server did not read it before it answered)", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !bytes.Contains(rb, []byte("TOOMANYREQUESTS")) {
		t.Fatalf("monolithic upload past the bound: %d %s, want 429 TOOMANYREQUESTS", resp.StatusCode, rb)
	}
}
