package tracker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// pieceHash is a SHA-256 piece hash for tests.
func pieceHash(i int) digest.Digest { return digest.FromString(fmt.Sprint("piece ", i)) }

// roundTrip passes evs, events that waited together for a stream,
// through a compactor, JSON and an expander, as a compact stream does,
// and returns what the reader gets, the lines and the bytes of the stream.
func roundTrip(t *testing.T, c *compactor, x *expander, evs []Event) (got []Event, lines, n int) {
	t.Helper()
	for _, w := range c.compactAll(evs) {
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		lines++
		n += len(b) + 1
		var back wireEvent
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		e, err := x.expand(back)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got = append(got, e...)
	}
	return got, lines, n
}

// merged returns evs with the piece events of a swarm that follow each
// other as one, their pieces by index: what a reader learns from them.
func merged(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if n := len(out); n > 0 && ev.Type == EventPiece && out[n-1].Type == EventPiece && out[n-1].Digest == ev.Digest {
			out[n-1].Pieces = append(out[n-1].Pieces, ev.Pieces...)
			continue
		}
		ev.Pieces = slices.Clone(ev.Pieces)
		out = append(out, ev)
	}
	for _, ev := range out {
		slices.SortFunc(ev.Pieces, func(a, b PieceHash) int { return a.Index - b.Index })
	}
	return out
}

func TestCompactRoundTrip(t *testing.T) {
	a, b := digest.FromString("blob a"), digest.FromString("blob b")
	other := digest.Digest("sha512:" + strings.Repeat("ab", 64))
	var all []PieceHash
	for i := range 64 {
		all = append(all, PieceHash{Index: i, Hash: pieceHash(i)})
	}
	evs := []Event{
		{Type: EventHello},
		{Type: EventPeer, Digest: a, Peer: &Peer{ID: "n1", Addr: "10.0.0.1:5051", Seq: 1}},
		{Type: EventFetcher, Digest: a, Fetcher: "n1", Lease: 3},
		{Type: EventLayout, Digest: a, Layout: &Layout{Size: 1 << 20, PieceSize: 16 << 10, PieceBlocks: 4}},
		{Type: EventPiece, Digest: a, Pieces: all[:1]},
		{Type: EventPiece, Digest: b, Pieces: all[5:9]},
		{Type: EventPiece, Digest: a, Pieces: []PieceHash{all[3], all[1], all[2], {Index: 7, Hash: other}, all[40]}},
		{Type: EventPing},
		{Type: EventGone, Digest: b, Peer: &Peer{ID: "n2"}},
		{Type: EventPiece, Digest: b, Pieces: []PieceHash{{Index: 0, Hash: other}}},
		{Type: EventPiece, Digest: a, Pieces: all},
	}
	got, _, _ := roundTrip(t, new(compactor), new(expander), evs)
	if want := merged(evs); !reflect.DeepEqual(merged(got), want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", merged(got), want)
	}
}

// More swarms than slots: a slot given to another swarm names it again.
func TestCompactSlotsWrap(t *testing.T) {
	c, x := new(compactor), new(expander)
	var evs []Event
	for i := range SwarmSlots + 10 {
		evs = append(evs, Event{Type: EventPiece, Digest: digest.FromString(fmt.Sprint("blob ", i)), Pieces: []PieceHash{{Index: i % 7, Hash: pieceHash(i)}}})
		// The first swarms again, while and after their slots pass on.
		evs = append(evs, Event{Type: EventGone, Digest: digest.FromString(fmt.Sprint("blob ", i%20)), Peer: &Peer{ID: "n"}})
	}
	got, _, _ := roundTrip(t, c, x, evs)
	if !reflect.DeepEqual(got, evs) {
		t.Fatal("events read back differ from those sent")
	}
	if len(c.slot) > SwarmSlots {
		t.Fatalf("%d swarms hold slots, at most %d", len(c.slot), SwarmSlots)
	}
}

// Peer events of one swarm that wait together go as one line; the reader
// gets them back one by one, in order.
func TestCompactMergesPeers(t *testing.T) {
	a, b := digest.FromString("blob a"), digest.FromString("blob b")
	peer := func(d digest.Digest, id string, seq uint64) Event {
		return Event{Type: EventPeer, Digest: d, Peer: &Peer{ID: id, Addr: "10.0.0.1:5051", Seq: seq}}
	}
	evs := []Event{
		peer(a, "n1", 1), peer(a, "n2", 2), peer(a, "n3", 3),
		peer(b, "n1", 1),
		{Type: EventPiece, Digest: a, Pieces: []PieceHash{{Index: 0, Hash: pieceHash(0)}}},
		peer(a, "n4", 4), peer(a, "n5", 5),
		{Type: EventGone, Digest: a, Peer: &Peer{ID: "n2"}},
		peer(a, "n6", 6),
	}
	got, lines, _ := roundTrip(t, new(compactor), new(expander), evs)
	if !reflect.DeepEqual(got, evs) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, evs)
	}
	if lines != 6 {
		t.Fatalf("%d lines, want 6: n1-n3 of a, n1 of b, the piece, n4-n5, the gone, n6", lines)
	}
}

// A compact stream of a 1 MiB blob's swarm, as a member sees it: the
// other members joining, then 64 pieces' hashes, one event each, as the
// fetcher publishes them. The full form repeats the blob's digest and
// spells each hash in hex.
func TestCompactStreamBytes(t *testing.T) {
	d := digest.FromString("blob")
	var evs []Event
	for i := range 31 {
		evs = append(evs, Event{Type: EventPeer, Digest: d, Peer: &Peer{ID: fmt.Sprintf("node-%02d", i), Addr: fmt.Sprintf("10.77.0.%d:5051", i+10), Seq: uint64(i + 1)}})
	}
	for i := range 64 {
		evs = append(evs, Event{Type: EventPiece, Digest: d, Pieces: []PieceHash{{Index: i, Hash: pieceHash(i)}}})
	}
	full := 0
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		full += len(b) + 1
	}
	got, _, compact := roundTrip(t, new(compactor), new(expander), evs)
	if !reflect.DeepEqual(got, evs) {
		t.Fatal("events read back differ from those sent")
	}
	atMostHalf(t, compact, full)
}

// atMostHalf checks that a compact stream took at most half the bytes of
// the full one.
func atMostHalf(t *testing.T, compact, full int) {
	t.Helper()
	t.Logf("full stream %d bytes, compact %d", full, compact)
	if compact*2 > full {
		t.Fatalf("compact stream of %d bytes, full %d: want at most half", compact, full)
	}
}

func TestExpandRefuses(t *testing.T) {
	d := digest.FromString("blob")
	for _, tc := range []struct {
		name string
		w    wireEvent
	}{
		{"slot 0 named", wireEvent{Event: Event{Type: EventPeer, Digest: d}, Swarm: -1}},
		{"slot past the last", wireEvent{Event: Event{Type: EventPeer, Digest: d}, Swarm: SwarmSlots + 1}},
		{"slot never named", wireEvent{Event: Event{Type: EventPeer}, Swarm: 2}},
		{"bad digest", wireEvent{Event: Event{Type: EventPeer, Digest: "sha256:xyz"}, Swarm: 3}},
		{"short hash", wireEvent{Event: Event{Type: EventPiece}, Hashes: make([]byte, 31)}},
		{"negative index", wireEvent{Event: Event{Type: EventPiece}, At: -1, Hashes: make([]byte, 32)}},
		{"past the last piece", wireEvent{Event: Event{Type: EventPiece}, At: MaxPieces - 1, Hashes: make([]byte, 64)}},
		{"peers in a gone event", wireEvent{Event: Event{Type: EventGone}, Swarm: 1, Peers: []Peer{{ID: "n"}}}},
		{"peers beside a peer", wireEvent{Event: Event{Type: EventPeer, Peer: &Peer{ID: "m"}}, Swarm: 1, Peers: []Peer{{ID: "n"}}}},
	} {
		x := new(expander)
		if _, err := x.expand(wireEvent{Event: Event{Type: EventPeer, Digest: d}, Swarm: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := x.expand(tc.w); err == nil {
			t.Errorf("%s: expanded", tc.name)
		}
	}
}

// streamLines opens a stream at the tracker with query q and sends its
// lines, raw, to the channel returned.
func streamLines(t *testing.T, url, q string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+StreamPath+"?"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	lines := make(chan string, 1000)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// An agent that does not ask for the compact form (one of before it) is
// sent full events; one that asks, the same events compact.
func TestStreamForms(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr)
	defer srv.Close()
	defer tr.Close()
	full := streamLines(t, srv.URL, "peer=old&addr=127.0.0.1:1")
	compact := streamLines(t, srv.URL, "peer=new&addr=127.0.0.1:2&compact=1")
	fetcher := &Client{URL: srv.URL, Peer: "f", Addr: "127.0.0.1:3"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hello := make(chan struct{}, 1)
	go fetcher.Stream(ctx, func(ev Event) {
		if ev.Type == EventHello {
			hello <- struct{}{}
		}
	})
	<-hello
	d := digest.FromString("blob")
	layout := Layout{Size: 1 << 20, PieceSize: 16 << 10, PieceBlocks: 4}
	announce := func(c *Client, a Announce) {
		t.Helper()
		if err := c.Announce(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	announce(fetcher, Announce{Join: []Join{{Digest: d}}})
	for _, id := range []string{"old", "new"} {
		announce(&Client{URL: srv.URL, Peer: id}, Announce{Join: []Join{{Digest: d}}})
	}
	announce(fetcher, Announce{Publish: []Publish{{Digest: d, Lease: 1, Layout: &layout}}})
	for i := range layout.Pieces() {
		announce(fetcher, Announce{Publish: []Publish{{Digest: d, Lease: 1, Pieces: []PieceHash{{Index: i, Hash: pieceHash(i)}}}}})
	}
	// read takes a stream's lines until it has every piece's hash.
	read := func(lines <-chan string, x *expander) ([]Event, int) {
		var evs []Event
		n, hashes := 0, 0
		timeout := time.After(10 * time.Second)
		for hashes < layout.Pieces() {
			select {
			case l := <-lines:
				n += len(l) + 1
				var w wireEvent
				if err := json.Unmarshal([]byte(l), &w); err != nil {
					t.Fatal(err)
				}
				got := []Event{w.Event}
				if x != nil {
					var err error
					if got, err = x.expand(w); err != nil {
						t.Fatalf("%s: %v", l, err)
					}
				} else if w.Swarm != 0 || len(w.Hashes) != 0 || len(w.Peers) != 0 {
					t.Fatalf("compact event on a full stream: %s", l)
				}
				for _, ev := range got {
					if ev.Type != EventPing {
						hashes += len(ev.Pieces)
						evs = append(evs, ev)
					}
				}
			case <-timeout:
				t.Fatalf("%d of %d hashes", hashes, layout.Pieces())
			}
		}
		return evs, n
	}
	fullEvs, fullBytes := read(full, nil)
	compactEvs, compactBytes := read(compact, new(expander))
	// The two peers joined one after the other: each is told of the
	// members in its own order; the swarm's layout and hashes are the same.
	swarmOf := func(evs []Event) []Event {
		return merged(slices.DeleteFunc(slices.Clone(evs), func(ev Event) bool { return ev.Type != EventLayout && ev.Type != EventPiece }))
	}
	if c, f := swarmOf(compactEvs), swarmOf(fullEvs); !reflect.DeepEqual(c, f) {
		t.Fatalf("compact stream read as\n%+v\nfull\n%+v", c, f)
	}
	atMostHalf(t, compactBytes, fullBytes)
}

// FuzzStreamLine reads arbitrary lines as a stream's reader does, after a
// line that names slot 1: a line is refused, or read as an event whose
// pieces are in the range a layout may have, with valid hashes.
func FuzzStreamLine(f *testing.F) {
	d := digest.FromString("blob")
	for _, s := range []string{
		`{"type":"piece","swarm":1,"at":3,"hashes":"` + strings.Repeat("A", 43) + `="}`,
		`{"type":"peer","digest":"` + d.String() + `","swarm":9,"peer":{"id":"n","addr":"10.0.0.1:5051","seq":2}}`,
		`{"type":"piece","swarm":1,"at":131071,"hashes":"` + strings.Repeat("A", 43) + `=","pieces":[{"index":0,"hash":"` + d.String() + `"}]}`,
		`{"type":"gone","swarm":2,"peer":{"id":"n"}}`,
		`{"type":"piece","digest":"` + d.String() + `","pieces":[{"index":1,"hash":"` + d.String() + `"}]}`,
		`{"type":"peer","swarm":1,"peers":[{"id":"n1","addr":"10.0.0.1:5051","seq":1},{"id":"n2","seq":2}]}`,
		`{"type":"ping"}`, `{"swarm":1025}`, `{"hashes":"AAAA"}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		x := new(expander)
		if _, err := x.expand(wireEvent{Event: Event{Type: EventPeer, Digest: d}, Swarm: 1}); err != nil {
			t.Fatal(err)
		}
		var w wireEvent
		if json.Unmarshal(line, &w) != nil {
			return
		}
		evs, err := x.expand(w)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if w.Swarm != 0 && ev.Digest.Validate() != nil {
				t.Fatalf("%s: swarm %q", line, ev.Digest)
			}
		}
		if len(w.Peers) > 0 {
			if len(evs) != len(w.Peers) {
				t.Fatalf("%s: %d events for %d peers", line, len(evs), len(w.Peers))
			}
			return
		}
		for _, p := range evs[0].Pieces[:len(w.Hashes)/hashBytes] {
			if p.Index < 0 || p.Index >= MaxPieces || p.Hash.Validate() != nil {
				t.Fatalf("%s: piece %+v", line, p)
			}
		}
	})
}

// An agent's client reads the full form from a tracker of before the
// compact one, which ignores compact=1.
func TestClientReadsFullStream(t *testing.T) {
	tr := New(Options{})
	defer tr.Close()
	old := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Del("compact")
		r.URL.RawQuery = q.Encode()
		tr.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(old)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	d := digest.FromString("blob")
	layout := Layout{Size: 1 << 20, PieceSize: 16 << 10, PieceBlocks: 4}
	events := make(chan Event, 1000)
	clients := map[string]*Client{}
	for _, id := range []string{"f", "a", "b"} {
		c := &Client{URL: srv.URL, Peer: id, Addr: "127.0.0.1:1"}
		clients[id] = c
		hello := make(chan struct{})
		go c.Stream(ctx, func(ev Event) {
			switch {
			case ev.Type == EventHello:
				close(hello)
			case id == "b":
				events <- ev
			}
		})
		<-hello
		if err := c.Announce(t.Context(), Announce{Join: []Join{{Digest: d}}}); err != nil {
			t.Fatal(err)
		}
	}
	var ps []PieceHash
	for i := range layout.Pieces() {
		ps = append(ps, PieceHash{Index: i, Hash: pieceHash(i)})
	}
	if err := clients["f"].Announce(t.Context(), Announce{Publish: []Publish{{Digest: d, Lease: 1, Layout: &layout, Pieces: ps}}}); err != nil {
		t.Fatal(err)
	}
	var members []string
	var got []PieceHash
	for timeout := time.After(10 * time.Second); len(got) < len(ps); {
		select {
		case ev := <-events:
			if ev.Digest != d {
				t.Fatalf("event of swarm %q", ev.Digest)
			}
			switch ev.Type {
			case EventPeer:
				members = append(members, ev.Peer.ID)
			case EventPiece:
				got = append(got, ev.Pieces...)
			}
		case <-timeout:
			t.Fatalf("%d of %d hashes", len(got), len(ps))
		}
	}
	if want := []string{"b", "f", "a"}; !slices.Equal(members, want) {
		t.Fatalf("told of members %q, want %q", members, want)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatal("hashes read back differ from those published")
	}
}
