package swarm

import (
	"context"
	"slices"
	"time"
)

// Super-seeding (BitTorrent's, BEP 16 in spirit): while the fetcher streams
// a blob from the origin it holds pieces no other node has. Were every
// piece announced to every neighbour, each would rank those pieces rarest
// and ask the fetcher for them, the fetcher's uplink would carry each new
// piece to many peers, and the other nodes' uplinks would have little that
// is wanted. Instead the fetcher tells each new piece to one neighbour
// only (on that neighbour's have stream), sends it to that neighbour, and
// the neighbour passes it on. Once the origin stream ends and each piece
// it brought was sent whole once (or offerTimeout later: endSeeding), the
// fetcher tells everything and serves as any node does.
//
// Nothing is lost when a neighbour fails the fetcher: a piece whose
// neighbour does not ask for it within offerTimeout is offered to another
// as well; a neighbour whose have streams all end (it died, or dropped the
// fetcher) has its pieces, those offered and those it took, offered again
// to others; and a piece that none of the fetcher's own neighbours but its
// taker holds a while after it was sent (spreadTimeout, or four times the
// send if longer: the taker hangs, or passes nothing on) is offered again.

// offerTimeout is how long a piece offered to one neighbour waits for its
// request before the fetcher offers it to another as well.
const offerTimeout = time.Second

// spreadTimeout is the least time a piece sent to one neighbour may take
// to reach another of the fetcher's neighbours before it is offered again.
const spreadTimeout = 5 * time.Second

// giveUpOffers is how long a piece may be offered without being sent
// whole before it is told to every neighbour, so that no run of unasked
// or failed offers holds a piece back (nor, the offers waiting being
// bounded, the pieces after it). A request for a piece the fetcher
// super-seeds waits as long for an upload slot: the piece is to be had
// nowhere else, a requester told to come back later leaves the fetcher's
// uplink idle, and the requests that wait are few (seeding.limit).
const giveUpOffers = 4 * offerTimeout

// seedTick is how often the offers are checked for their timeout.
const seedTick = offerTimeout / 4

// seedReads bounds the neighbours of a super-seeding fetcher, whose have
// streams it reads, to this many times Options.Neighbours. A piece is
// offered to a neighbour known to lack it before a node whose pieces the
// fetcher does not know.
const seedReads = 4

// peerHeader names the requesting node on the requests of the peer API,
// and givenHeader, on a refusal, the node a piece was given to.
// transferHeader names the transfer of a blob that reads a have stream (on
// the request) and that serves it (on the answer), so that what a node
// knows of its reader's pieces is known to be of the same transfer.
const (
	peerHeader     = "Gantry-Peer"
	givenHeader    = "Gantry-Piece-Given"
	transferHeader = "Gantry-Transfer"
)

// seeding is the fetcher's state of one blob while its origin stream runs.
// The transfer's lock guards it.
type seeding struct {
	pieces   []seedPiece
	log      []reveal // what the have streams are told, in order
	queue    []int    // pieces to offer, in the order they landed
	watchers map[string]*watcher
	// limit bounds the pieces offered and not yet asked for, and those
	// asked for that wait for an upload slot: enough to keep the slots
	// busy, few enough that a request seldom waits offerTimeout.
	limit int
	// holds reports whether the fetcher knows a neighbour to hold a
	// piece (nil: it knows of none). A piece is offered only to
	// neighbours that lack it.
	holds func(piece int, peer string) bool
	// knows reports whether the fetcher reads a neighbour's have stream
	// (nil: it reads every one). A piece is offered to a neighbour known
	// to lack it before one that may hold it.
	knows func(peer string) bool
	trace func(msg string, args ...any) // transfer.trace, or nil
	// endBy is zero while the origin stream runs. Once it ended, the
	// seeding goes on until every piece it brought was sent whole once
	// (or told to all), endBy at the latest.
	endBy time.Time
}

// note traces a step of the seeding, if tracing.
func (s *seeding) note(msg string, args ...any) {
	if s.trace != nil {
		s.trace(msg, args...)
	}
}

// lacks reports whether peer is not known to hold piece i.
func (s *seeding) lacks(i int, peer string) bool {
	return s.holds == nil || !s.holds(i, peer)
}

// seedPiece is what the fetcher did with one piece it super-seeds. It is
// offered (cur), asked for and sent (sending; started once it has a slot),
// taken, or none of these (in the queue, or told to all).
type seedPiece struct {
	own     bool      // the origin stream brought it: it is offered
	all     bool      // told to every neighbour
	to      []string  // the neighbours it was offered to
	cur     string    // the neighbour whose request it waits for
	at      time.Time // when it was last offered
	first   time.Time // when it was first offered, since it was last sent whole
	sending string    // the neighbour asking for it, or being sent it
	started bool      // the sending has its upload slot
	since   time.Time // when the sending started
	taken   string    // the neighbour it was sent to whole
	spread  time.Time // when it is offered again if none but taken holds it (zero: it spread)
}

// reveal tells have streams of a piece: the stream of peer to, or all ("").
type reveal struct {
	piece int
	to    string
}

// watcher is a neighbour reading the fetcher's have stream.
type watcher struct {
	streams int       // have streams open
	pending int       // pieces offered to it that it has not asked for
	last    time.Time // when it was last offered a piece
}

// startSeeding begins super-seeding, as the origin stream of the fetcher
// starts: the pieces held already are told to everyone. t.mu is held.
func (t *transfer) startSeeding(ctx context.Context) {
	s := &seeding{
		pieces:   make([]seedPiece, len(t.state)),
		watchers: map[string]*watcher{},
		limit:    t.n.opts.UploadSlots,
		trace:    t.trace,
		holds: func(i int, peer string) bool {
			nb := t.neighbours[peer]
			return nb != nil && (nb.complete || nb.has[i])
		},
		knows: func(peer string) bool { return t.neighbours[peer] != nil },
	}
	for i, st := range t.state {
		if st == verified {
			s.revealAll(i)
		}
	}
	t.seed = s
	t.n.spawn(func() {
		tick := time.NewTicker(seedTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				t.mu.Lock()
				if t.seed != s {
					t.mu.Unlock()
					return
				}
				if s.expire(now, t.heldElsewhere) {
					t.signal()
				}
				t.seedOver(now)
				t.mu.Unlock()
			}
		}
	})
	t.signal()
}

// endSeeding is called as the origin stream ends whole. Super-seeding
// goes on while a piece the stream brought was sent to no one, for
// offerTimeout at most; until the blob is whole and its digest matched,
// its have streams then tell no more than before, and a piece one
// neighbour took is refused to the others. Were it all told at once,
// every node would ask the fetcher at once for the pieces it alone holds
// and for those others hold alike, and its upload slots would go to the
// latter: with a 1 MiB blob (16 pieces, streamed in under a second) at
// 32 nodes, the last two pieces waited 1.5 s behind the others.
// t.mu is held.
func (t *transfer) endSeeding() {
	if s := t.seed; s != nil && s.unsent() {
		s.endBy = time.Now().Add(offerTimeout)
		s.note("seed ends", "by", s.endBy)
		return
	}
	t.stopSeeding()
}

// seedOver ends the super-seeding that outlives its stream (endSeeding)
// once no piece the stream brought is left unsent, or by its endBy.
// t.mu is held.
func (t *transfer) seedOver(now time.Time) {
	if s := t.seed; s != nil && !s.endBy.IsZero() && (now.After(s.endBy) || !s.unsent()) {
		t.stopSeeding()
	}
}

// unsent reports whether a piece the origin stream brought was sent whole
// to no one and is not told to all.
func (s *seeding) unsent() bool {
	for i := range s.pieces {
		if p := &s.pieces[i]; p.own && !p.all && p.taken == "" {
			return true
		}
	}
	return false
}

// stopSeeding ends super-seeding: the have streams tell everything again.
// t.mu is held.
func (t *transfer) stopSeeding() {
	if t.seed != nil {
		t.seed = nil
		t.signal()
	}
}

// revealAll tells piece i to every neighbour.
func (s *seeding) revealAll(i int) {
	p := &s.pieces[i]
	if p.all {
		return
	}
	s.withdraw(i)
	p.all = true
	s.log = append(s.log, reveal{piece: i})
	s.note("seed tell all", "piece", i)
}

// push queues piece i, just landed from the origin at now, to be offered.
func (s *seeding) push(i int, now time.Time) {
	s.pieces[i].own = true
	s.queue = append(s.queue, i)
	s.dispatch(now)
}

// waiting counts the pieces offered and not asked for, and those asked
// for that wait for an upload slot.
func (s *seeding) waiting() int {
	n := 0
	for i := range s.pieces {
		p := &s.pieces[i]
		if p.cur != "" || p.sending != "" && !p.started {
			n++
		}
	}
	return n
}

// dispatch offers queued pieces, each to the neighbour with the fewest
// offers waiting for its request (then the one offered a piece longest
// ago), while fewer than limit wait.
func (s *seeding) dispatch(now time.Time) {
	for n := s.waiting(); len(s.queue) > 0 && n < s.limit; {
		i := s.queue[0]
		p := &s.pieces[i]
		if p.all || p.sending != "" || p.taken != "" || p.cur != "" {
			s.queue = s.queue[1:]
			continue
		}
		id := s.best(i, p.to) // a piece offered again goes elsewhere
		if id == "" {
			id = s.best(i, nil)
		}
		if id == "" && len(s.watchers) > 0 {
			// Every neighbour holds it: it spread. Whoever asks gets it.
			s.queue = s.queue[1:]
			s.revealAll(i)
			continue
		}
		if id == "" {
			return
		}
		s.queue = s.queue[1:]
		s.offer(i, id, now)
		n++
	}
}

// best is the neighbour to offer piece i to, one that lacks it and is not
// one of except, known to lack it if any is; "" if none.
func (s *seeding) best(i int, except []string) string {
	var id string
	var b *watcher
	known := false
	for wid, w := range s.watchers {
		if slices.Contains(except, wid) || !s.lacks(i, wid) {
			continue
		}
		k := s.knows == nil || s.knows(wid)
		if b == nil || k && !known || k == known && (w.pending < b.pending || w.pending == b.pending && w.last.Before(b.last)) {
			id, b, known = wid, w, k
		}
	}
	return id
}

// offer tells piece i to the neighbour id, and waits for its request.
func (s *seeding) offer(i int, id string, now time.Time) {
	p := &s.pieces[i]
	s.withdraw(i)
	w := s.watchers[id]
	w.pending++
	w.last = now
	p.cur, p.at = id, now
	if p.first.IsZero() {
		p.first = now
	}
	if !slices.Contains(p.to, id) {
		p.to = append(p.to, id)
	}
	// Told again if told before: a neighbour refused the piece while
	// another was sent it forgot that the fetcher holds it.
	s.log = append(s.log, reveal{piece: i, to: id})
	s.note("seed offer", "piece", i, "to", id, "pending", w.pending)
}

// withdraw stops waiting for the request of piece i's current offer (the
// neighbour still knows of the piece).
func (s *seeding) withdraw(i int) {
	p := &s.pieces[i]
	if p.cur == "" {
		return
	}
	if w := s.watchers[p.cur]; w != nil {
		w.pending--
	}
	p.cur = ""
}

// claimable reports whether piece i may be sent to peer: not if it is
// being sent to, or was sent to, another (holder).
func (s *seeding) claimable(i int, peer string) (ok bool, holder string) {
	p := &s.pieces[i]
	switch {
	case p.all || !p.own:
		return true, ""
	case p.sending != "" && p.sending != peer:
		return false, p.sending
	case p.taken != "" && p.taken != peer:
		return false, p.taken
	}
	return true, ""
}

// claim takes piece i, asked for by peer, for sending to it (see
// claimable), and reports whether it is a piece the fetcher super-seeds
// (then start and sent follow).
func (s *seeding) claim(i int, peer string) (ok bool, holder string, seeded bool) {
	p := &s.pieces[i]
	if ok, holder := s.claimable(i, peer); !ok || p.all || !p.own || p.sending == peer {
		return ok, holder, false
	}
	s.withdraw(i)
	p.sending, p.started = peer, false
	s.note("seed claim", "piece", i, "peer", peer)
	return true, "", true
}

// start records that the sending of piece i to peer has its upload slot.
func (s *seeding) start(i int, peer string, now time.Time) {
	p := &s.pieces[i]
	if p.sending == peer {
		p.started, p.since = true, now
	}
	s.dispatch(now)
}

// sent records the end of sending piece i to peer: whole, or not (no slot
// came, or the peer went; it is offered again).
func (s *seeding) sent(i int, peer string, whole bool, now time.Time) {
	p := &s.pieces[i]
	if p.sending != peer {
		return
	}
	s.note("seed sent", "piece", i, "peer", peer, "whole", whole)
	if whole {
		p.taken, p.first = peer, time.Time{}
		p.spread = now.Add(max(spreadTimeout, 4*now.Sub(p.since)))
	} else {
		s.queue = slices.Insert(s.queue, 0, i)
	}
	p.sending, p.started = "", false
	s.dispatch(now)
}

// watch counts a have stream of peer opened.
func (s *seeding) watch(peer string, now time.Time) {
	w := s.watchers[peer]
	if w == nil {
		w = &watcher{}
		s.watchers[peer] = w
	}
	w.streams++
	s.dispatch(now)
}

// unwatch counts a have stream of peer closed. With its last, the pieces
// offered to it, and those it took that no other neighbour of the fetcher
// holds (held tells), are offered to others: it may have died before it
// passed them on.
func (s *seeding) unwatch(peer string, now time.Time, held func(piece int, except string) bool) {
	w := s.watchers[peer]
	if w == nil {
		return
	}
	if w.streams--; w.streams > 0 {
		return
	}
	delete(s.watchers, peer)
	for i := range s.pieces {
		p := &s.pieces[i]
		if p.cur == peer {
			p.cur = ""
			s.queue = slices.Insert(s.queue, 0, i)
		} else if p.taken == peer && !held(i, peer) {
			p.taken = ""
			s.queue = slices.Insert(s.queue, 0, i)
		}
	}
	s.dispatch(now)
}

// expire offers to another neighbour each piece whose offer has waited
// offerTimeout for its request (the first one may still ask for it), and
// each piece sent whole that no neighbour of the fetcher but its taker
// holds after its spread time (held tells). It reports whether it offered
// a piece.
func (s *seeding) expire(now time.Time, held func(piece int, except string) bool) bool {
	n := len(s.log)
	for i := range s.pieces {
		p := &s.pieces[i]
		if p.taken != "" && !p.spread.IsZero() && now.After(p.spread) {
			if held(i, p.taken) {
				p.spread = time.Time{} // it spreads
			} else {
				s.note("seed not spread", "piece", i, "taken", p.taken)
				p.taken = ""
				s.queue = slices.Insert(s.queue, 0, i)
			}
			continue
		}
		if p.cur != "" && !s.lacks(i, p.cur) {
			// The neighbour offered it took it from another node: it
			// spread, and is to be had from there.
			s.note("seed offer moot", "piece", i, "to", p.cur)
			p.taken, p.spread, p.first = p.cur, now.Add(spreadTimeout), time.Time{}
			s.withdraw(i)
			continue
		}
		if p.cur == "" || now.Sub(p.at) < offerTimeout {
			continue
		}
		if now.Sub(p.first) > giveUpOffers {
			// Offered for long and sent to no one: the fetcher stops
			// choosing who gets it, and whoever asks does.
			s.revealAll(i)
			continue
		}
		id := s.best(i, p.to)
		if id == "" {
			id = s.best(i, []string{p.cur}) // each was told: tell one again
		}
		if id == "" {
			id = p.cur // the only one
		}
		s.offer(i, id, now)
	}
	s.dispatch(now)
	return len(s.log) != n
}

// heldElsewhere reports whether a neighbour of the node other than except
// holds piece i. t.mu is held.
func (t *transfer) heldElsewhere(i int, except string) bool {
	for id, nb := range t.neighbours {
		if id != except && (nb.complete || nb.has[i]) {
			return true
		}
	}
	return false
}
