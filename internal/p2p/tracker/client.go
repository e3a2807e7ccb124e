package tracker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxEventBytes bounds one line of a stream the client reads: a piece
// event of MaxPieces hashes.
const maxEventBytes = 32 << 20

// Client is a peer's side of the tracker's API.
type Client struct {
	// URL is the tracker's base URL ("http://tracker:7070").
	URL string
	// HTTP is the client used; nil means http.DefaultClient. Its timeout
	// must be zero or the stream is cut by it.
	HTTP *http.Client
	// Peer is the peer's ID, Addr where it serves pieces.
	Peer, Addr string
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Stream opens the peer's stream and calls fn for each event, in order,
// until the stream ends or ctx is done. It returns nil only if ctx ended it.
// fn runs on Stream's goroutine; a slow fn makes the tracker cut the
// stream. The first event is EventHello: after it, the peer announces.
func (c *Client) Stream(ctx context.Context, fn func(Event)) error {
	q := url.Values{"peer": {c.Peer}, "addr": {c.Addr}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+StreamPath+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("tracker %s: %w", c.URL, err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("tracker %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tracker %s: stream: %s", c.URL, answer(resp))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("tracker %s: stream: %w", c.URL, err)
		}
		fn(ev)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tracker %s: stream: %w", c.URL, err)
	}
	return fmt.Errorf("tracker %s: stream ended", c.URL)
}

// Announce sends a to the tracker. a.Peer is set to the client's Peer.
func (c *Client) Announce(ctx context.Context, a Announce) error {
	a.Peer = c.Peer
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+AnnouncePath, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("tracker %s: %w", c.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("tracker %s: announce: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("tracker %s: announce: %s", c.URL, answer(resp))
	}
	return nil
}

// answer describes an unexpected response in one line.
func answer(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(b))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg == "" {
		return resp.Status
	}
	return resp.Status + ": " + msg
}
