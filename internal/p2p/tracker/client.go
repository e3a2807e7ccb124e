package tracker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// maxEventBytes bounds one line of a stream the client reads: a piece
// event of MaxPieces hashes.
const maxEventBytes = 32 << 20

// Client is a peer's side of the tracker's API.
type Client struct {
	// URL is the tracker's base URL ("http://tracker:7070"), or the base
	// URLs of several replicas sharing their state, separated by commas:
	// the client streams from and announces to one of them, the first
	// that answers, and moves to another when its stream ends.
	URL string
	// HTTP is the client used; nil means http.DefaultClient. Its timeout
	// must be zero or the stream is cut by it.
	HTTP *http.Client
	// Peer is the peer's ID, Addr where it serves pieces.
	Peer, Addr string
	// Leaf asks to be a leaf of small blobs' trees (Peer.Leaf).
	Leaf bool
	// IdleTimeout ends a stream on which nothing arrived for this long (the
	// tracker pings an idle stream every 10 s by default), so that a
	// tracker gone without closing the connection is left in bounded time.
	// Default 30 s.
	IdleTimeout time.Duration

	cur atomic.Uint32 // the replica in use, an index in URL's list
}

// urls returns the replicas' base URLs.
func (c *Client) urls() []string {
	var us []string
	for u := range strings.SplitSeq(c.URL, ",") {
		if u = strings.TrimSuffix(strings.TrimSpace(u), "/"); u != "" {
			us = append(us, u)
		}
	}
	if len(us) == 0 {
		us = []string{""}
	}
	return us
}

// Current returns the base URL of the replica the client uses.
func (c *Client) Current() string {
	us := c.urls()
	return us[int(c.cur.Load())%len(us)]
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
// stream. The first event is EventHello: after it, the peer announces
// (everything again: the replica may not be the one it was).
//
// With several replicas, Stream tries each in turn from the one in use
// and keeps the first that answers; when that stream ends, the next call
// starts with the next replica.
func (c *Client) Stream(ctx context.Context, fn func(Event)) error {
	us := c.urls()
	start := int(c.cur.Load())
	var errs []error
	for i := range us {
		k := (start + i) % len(us)
		resp, err := c.open(ctx, us[k])
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.cur.Store(uint32(k))
		err = c.read(ctx, us[k], resp, fn)
		if err != nil {
			c.cur.Store(uint32((k + 1) % len(us)))
		}
		return err
	}
	return errors.Join(errs...)
}

// open opens the stream at the replica u.
func (c *Client) open(ctx context.Context, u string) (*http.Response, error) {
	q := url.Values{"peer": {c.Peer}, "addr": {c.Addr}, "compact": {"1"}}
	if c.Leaf {
		q.Set("leaf", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+StreamPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", u, err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("tracker %s: stream: %s", u, answer(resp))
	}
	return resp, nil
}

// read reads the stream of resp from the replica u.
func (c *Client) read(ctx context.Context, u string, resp *http.Response, fn func(Event)) error {
	defer resp.Body.Close()
	idle := c.IdleTimeout
	if idle <= 0 {
		idle = 30 * time.Second
	}
	var silent atomic.Bool
	watchdog := time.AfterFunc(idle, func() {
		silent.Store(true)
		resp.Body.Close()
	})
	defer watchdog.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var x expander
	for sc.Scan() {
		watchdog.Reset(idle)
		var w wireEvent
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			return fmt.Errorf("tracker %s: stream: %w", u, err)
		}
		evs, err := x.expand(w)
		if err != nil {
			return fmt.Errorf("tracker %s: stream: %w", u, err)
		}
		for _, ev := range evs {
			fn(ev)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if silent.Load() {
		return fmt.Errorf("tracker %s: stream: nothing came for %s", u, idle)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tracker %s: stream: %w", u, err)
	}
	return fmt.Errorf("tracker %s: stream ended", u)
}

// Announce sends a to the replica whose stream is open (see Stream).
// a.Peer is set to the client's Peer.
func (c *Client) Announce(ctx context.Context, a Announce) error {
	a.Peer = c.Peer
	u := c.Current()
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("tracker %s: announce: %w", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+AnnouncePath, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("tracker %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("tracker %s: announce: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("tracker %s: announce: %s", u, answer(resp))
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
