package tracker

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// A compact stream (the stream's query has compact=1, which every gantry
// agent since this form asks for) carries the same events in fewer bytes:
// most of a stream is the piece hashes of the swarms its peer is in, an
// event for every piece or few that land at the fetcher, each repeating
// the blob's digest. On a compact stream
//
//   - a swarm is named by a slot, a number from 1 to SwarmSlots that the
//     stream assigns it: the first event of a swarm in a slot carries the
//     digest and the slot ("swarm"), later ones only the slot; a slot is
//     given to another swarm, with that swarm's digest, only when every
//     slot has been used;
//   - SHA-256 piece hashes go as bytes: "at" is the first piece's index,
//     "hashes" the hashes of pieces at, at+1, ..., 32 bytes each, one
//     after the other, in base64. Hashes of other algorithms, or pieces
//     not in a run, go in "pieces" as on a full stream;
//   - the "peer" events of one swarm that wait together for the stream
//     (a cold herd joining) go as one, their members in "peers", in order.
//
// A peer that did not ask gets the full form, so agents and trackers of
// either kind work together.

// SwarmSlots is how many swarms a compact stream names by slot at once.
const SwarmSlots = 1024

// hashBytes is the length of a SHA-256 hash.
const hashBytes = 32

// wireEvent is an Event as a stream carries it.
type wireEvent struct {
	Event
	Swarm  int    `json:"swarm,omitempty"`
	At     int    `json:"at,omitempty"`
	Hashes []byte `json:"hashes,omitempty"`
	Peers  []Peer `json:"peers,omitempty"`
}

// compactor writes a compact stream's events: it keeps which swarm holds
// which slot.
type compactor struct {
	slots [SwarmSlots]digest.Digest // slot k is slots[k-1]
	slot  map[digest.Digest]int
	next  int // the slot taken last
}

// compactAll returns evs, events that wait together for the stream, in
// the compact form: each peer event that follows one of the same swarm
// joins it.
func (c *compactor) compactAll(evs []Event) []wireEvent {
	var out []wireEvent
	var last *wireEvent // the last line, if a peer event
	var lastSwarm digest.Digest
	for _, ev := range evs {
		if last != nil && ev.Type == EventPeer && ev.Peer != nil && ev.Digest == lastSwarm {
			if last.Peer != nil {
				last.Peers, last.Peer = []Peer{*last.Peer}, nil
			}
			last.Peers = append(last.Peers, *ev.Peer)
			continue
		}
		out = append(out, c.compact(ev)...)
		last, lastSwarm = nil, ev.Digest
		if w := &out[len(out)-1]; w.Type == EventPeer && w.Peer != nil && ev.Digest != "" {
			last = w
		}
	}
	return out
}

// compact returns ev in the compact form, one wire event or several (a
// piece event whose pieces are in several runs).
func (c *compactor) compact(ev Event) []wireEvent {
	if ev.Digest == "" {
		return []wireEvent{{Event: ev}}
	}
	w := wireEvent{Event: ev}
	w.Swarm = c.slot[ev.Digest]
	if w.Swarm == 0 {
		w.Swarm = c.take(ev.Digest)
	} else {
		w.Digest = ""
	}
	if len(ev.Pieces) == 0 {
		return []wireEvent{w}
	}
	w.Pieces = nil
	var out []wireEvent
	var odd []PieceHash // not SHA-256
	for _, p := range ev.Pieces {
		h, ok := sha256Bytes(p.Hash)
		if !ok {
			odd = append(odd, p)
			continue
		}
		if n := len(out); n > 0 && out[n-1].At+len(out[n-1].Hashes)/hashBytes == p.Index {
			out[n-1].Hashes = append(out[n-1].Hashes, h...)
			continue
		}
		run := w
		if len(out) > 0 {
			run.Event = Event{Type: ev.Type} // the slot is named once
		}
		run.At, run.Hashes = p.Index, h
		out = append(out, run)
	}
	if len(odd) > 0 {
		if len(out) == 0 {
			w.Pieces = odd
			return []wireEvent{w}
		}
		out[len(out)-1].Pieces = odd
	}
	return out
}

// take gives d a slot, the one used longest ago.
func (c *compactor) take(d digest.Digest) int {
	if c.slot == nil {
		c.slot = make(map[digest.Digest]int)
	}
	c.next = c.next%SwarmSlots + 1
	if old := c.slots[c.next-1]; old != "" {
		delete(c.slot, old)
	}
	c.slots[c.next-1] = d
	c.slot[d] = c.next
	return c.next
}

// sha256Bytes returns the bytes of a SHA-256 hash, or false for a hash of
// another algorithm.
func sha256Bytes(d digest.Digest) ([]byte, bool) {
	if d.Algorithm() != digest.SHA256 || len(d.Encoded()) != 2*hashBytes {
		return nil, false
	}
	b, err := hex.DecodeString(d.Encoded())
	return b, err == nil
}

// expander reads a stream's events, compact or not.
type expander struct {
	slots [SwarmSlots]digest.Digest
}

// expand returns w as the events it stands for: one, with its swarm's
// digest and its pieces, or a peer event for each of its peers.
func (x *expander) expand(w wireEvent) ([]Event, error) {
	ev := w.Event
	if w.Swarm != 0 {
		if w.Swarm < 1 || w.Swarm > SwarmSlots {
			return nil, fmt.Errorf("swarm slot %d out of [1, %d]", w.Swarm, SwarmSlots)
		}
		if ev.Digest != "" {
			if err := ev.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("swarm slot %d: %w", w.Swarm, err)
			}
			x.slots[w.Swarm-1] = ev.Digest
		}
		ev.Digest = x.slots[w.Swarm-1]
		if ev.Digest == "" {
			return nil, fmt.Errorf("swarm slot %d was never named", w.Swarm)
		}
	}
	if len(w.Peers) > 0 {
		if ev.Type != EventPeer || ev.Peer != nil {
			return nil, fmt.Errorf("peers in a %q event, want a peer event without a peer", ev.Type)
		}
		evs := make([]Event, len(w.Peers))
		for i := range w.Peers {
			evs[i] = ev
			evs[i].Peer = &w.Peers[i]
		}
		return evs, nil
	}
	if len(w.Hashes) == 0 {
		return []Event{ev}, nil
	}
	n := len(w.Hashes) / hashBytes
	switch {
	case len(w.Hashes)%hashBytes != 0:
		return nil, fmt.Errorf("piece hashes of %d bytes, not a multiple of %d", len(w.Hashes), hashBytes)
	case w.At < 0 || w.At > MaxPieces-n:
		return nil, errors.New("piece hashes past the last piece a layout may have")
	}
	ps := make([]PieceHash, 0, n+len(ev.Pieces))
	for i := range n {
		h := w.Hashes[i*hashBytes : (i+1)*hashBytes]
		ps = append(ps, PieceHash{Index: w.At + i, Hash: digest.NewDigestFromBytes(digest.SHA256, h)})
	}
	ev.Pieces = append(ps, ev.Pieces...)
	return []Event{ev}, nil
}
