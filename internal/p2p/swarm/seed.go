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
// the neighbour passes it on. Once the origin stream ends, the fetcher
// tells everything and serves as any node does.
//
// Nothing is lost when a neighbour fails the fetcher: a piece whose
// neighbour does not ask for it within offerTimeout is offered to another
// as well; a neighbour whose have streams all end (it died, or dropped the
// fetcher) has its pieces, those offered and those it took, offered again
// to others.

// offerTimeout is how long a piece offered to one neighbour waits for its
// request before the fetcher offers it to another as well; a request for
// an offered piece waits as long for an upload slot (the piece is to be
// had nowhere else, and a requester told to come back later leaves the
// fetcher's uplink idle).
const offerTimeout = time.Second

// seedTick is how often the offers are checked for their timeout.
const seedTick = offerTimeout / 4

// peerHeader names the requesting node on the requests of the peer API,
// and givenHeader, on a refusal, the node a piece was given to.
const (
	peerHeader  = "Gantry-Peer"
	givenHeader = "Gantry-Piece-Given"
)

// seeding is the fetcher's state of one blob while its origin stream runs.
// The transfer's lock guards it.
type seeding struct {
	pieces   []seedPiece
	log      []reveal // what the have streams are told, in order
	queue    []int    // pieces to offer, in the order they landed
	watchers map[string]*watcher
	offered  int // pieces offered and not yet being sent
	limit    int // most pieces offered and not yet being sent
}

// seedPiece is what the fetcher did with one piece.
type seedPiece struct {
	own     bool      // the origin stream brought it: it is offered
	all     bool      // told to every neighbour
	to      []string  // the neighbours it was offered to
	cur     string    // the neighbour whose request it waits for
	at      time.Time // when it was last offered
	sending string    // the neighbour it is being sent to
	taken   string    // the neighbour it was sent to whole
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
				if s.expire(now) {
					t.signal()
				}
				t.mu.Unlock()
			}
		}
	})
	t.signal()
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
}

// push queues piece i, just landed from the origin, to be offered.
func (s *seeding) push(i int) {
	s.pieces[i].own = true
	s.queue = append(s.queue, i)
	s.dispatch(time.Now())
}

// dispatch offers queued pieces, each to the neighbour with the fewest
// offers waiting for its request (then the one offered a piece longest
// ago), while fewer than limit offers wait.
func (s *seeding) dispatch(now time.Time) bool {
	changed := false
	for len(s.queue) > 0 && s.offered < s.limit {
		i := s.queue[0]
		p := &s.pieces[i]
		if p.all || p.sending != "" || p.taken != "" || p.cur != "" {
			s.queue = s.queue[1:]
			continue
		}
		id := s.best(nil)
		if id == "" {
			break
		}
		s.queue = s.queue[1:]
		s.offer(i, id, now)
		changed = true
	}
	return changed
}

// best is the neighbour to offer a piece to, not one of except; "" if none.
func (s *seeding) best(except []string) string {
	var id string
	var b *watcher
	for wid, w := range s.watchers {
		if slices.Contains(except, wid) {
			continue
		}
		if b == nil || w.pending < b.pending || w.pending == b.pending && w.last.Before(b.last) {
			id, b = wid, w
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
	s.offered++
	p.cur, p.at = id, now
	if !slices.Contains(p.to, id) {
		p.to = append(p.to, id)
		s.log = append(s.log, reveal{piece: i, to: id})
	}
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
	s.offered--
	p.cur = ""
}

// requeue offers piece i again, before the pieces that wait their first.
func (s *seeding) requeue(i int) {
	s.withdraw(i)
	s.queue = slices.Insert(s.queue, 0, i)
}

// claim takes piece i for sending to peer: false, and the neighbour that
// has it or is being sent it, if that is another.
func (s *seeding) claim(i int, peer string) (ok bool, holder string) {
	p := &s.pieces[i]
	if ok, holder := s.claimable(i, peer); !ok || p.all || !p.own {
		return ok, holder
	}
	s.withdraw(i)
	p.sending = peer
	return true, ""
}

// sent records the end of sending piece i to peer: whole, or not (it is
// offered again).
func (s *seeding) sent(i int, peer string, whole bool, now time.Time) {
	p := &s.pieces[i]
	if p.all || !p.own || p.sending != peer {
		return
	}
	p.sending = ""
	if whole {
		p.taken = peer
	} else {
		s.requeue(i)
	}
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
// offered to it and those it took are offered to others: it may have
// died before it passed them on.
func (s *seeding) unwatch(peer string, now time.Time) {
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
			s.offered--
			p.cur = ""
			s.queue = slices.Insert(s.queue, 0, i)
		} else if p.taken == peer {
			p.taken = ""
			s.queue = slices.Insert(s.queue, 0, i)
		}
	}
	s.dispatch(now)
}

// expire offers to another neighbour each piece whose offer has waited
// offerTimeout for its request (the first one may still ask for it).
// It reports whether a have stream has news.
func (s *seeding) expire(now time.Time) bool {
	changed := false
	for i := range s.pieces {
		p := &s.pieces[i]
		if p.cur == "" || now.Sub(p.at) < offerTimeout {
			continue
		}
		if id := s.best(p.to); id != "" {
			s.offer(i, id, now)
			changed = true
		} else {
			p.at = now
		}
	}
	return s.dispatch(now) || changed
}

// claimable reports whether piece i may be sent to peer (see claim),
// without taking it.
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
