package swarm

import (
	"testing"
	"time"
)

// offeredTo lists, for each piece, the neighbour whose request it waits
// for ("" if none).
func (s *seeding) offeredTo() []string {
	out := make([]string, len(s.pieces))
	for i, p := range s.pieces {
		out[i] = p.cur
	}
	return out
}

// The seeding's life of a piece: offered to one neighbour, refused to the
// others while it is sent and once it was, offered again when the
// neighbour that took it goes before anyone else holds it, or when the
// neighbour offered it does not ask within offerTimeout.
func TestSeedingStates(t *testing.T) {
	now := time.Now()
	// The clock moves on between the steps, as on a loaded machine (CI
	// once took over a millisecond here): the seeding goes by the times it
	// is given, not by its own reading of the clock.
	time.Sleep(5 * time.Millisecond)
	s := &seeding{pieces: make([]seedPiece, 4), watchers: map[string]*watcher{}, limit: 2}
	for _, id := range []string{"a", "b", "c"} {
		s.watch(id, now)
	}
	s.push(0, now)
	s.push(1, now)
	s.push(2, now) // over the limit of 2 offers waiting: queued
	got := s.offeredTo()
	if got[0] == "" || got[1] == "" || got[0] == got[1] || got[2] != "" {
		t.Fatalf("offers %q: want pieces 0 and 1 to two neighbours, 2 queued", got)
	}
	a, other := got[0], got[1]
	if ok, _, seeded := s.claim(0, a); !ok || !seeded {
		t.Fatalf("the neighbour offered piece 0 could not claim it")
	}
	if ok, holder, _ := s.claim(0, other); ok || holder != a {
		t.Errorf("claim of a piece asked for by %s by %s: ok %v, holder %q; want refused naming %s", a, other, ok, holder, a)
	}
	if s.offeredTo()[2] != "" {
		t.Errorf("piece 2 offered while piece 0 waits for an upload slot: over the limit")
	}
	s.start(0, a, now)
	c := s.offeredTo()[2]
	if c == "" {
		t.Fatalf("piece 2 not offered once piece 0 had its upload slot")
	}
	s.sent(0, a, true, now)
	if ok, holder, _ := s.claim(0, other); ok || holder != a {
		t.Errorf("claim of a piece sent to %s by %s: ok %v, holder %q; want refused naming %s", a, other, ok, holder, a)
	}
	if ok, _, _ := s.claim(2, c); !ok {
		t.Fatalf("the neighbour offered piece 2 could not claim it")
	}
	s.start(2, c, now)
	s.sent(2, c, true, now)
	// a goes before anyone else holds piece 0: it is offered to another.
	s.unwatch(a, now, func(int, string) bool { return false })
	if got := s.offeredTo()[0]; got == "" || got == a {
		t.Errorf("piece 0 offered to %q after its taker went; want another neighbour", got)
	}
	// An offer unasked for offerTimeout goes to another neighbour as well.
	before := s.pieces[1].cur
	s.expire(now.Add(offerTimeout+time.Millisecond), func(int, string) bool { return true })
	if after := s.pieces[1].cur; after == before || len(s.pieces[1].to) != 2 {
		t.Errorf("piece 1 offered to %q then %q (told to %q); want a second neighbour told", before, after, s.pieces[1].to)
	}
}

// A piece offered for giveUpOffers and sent to no one is told to every
// neighbour, so that unasked offers do not hold back the seeding; before
// that, a neighbour offered it again is told again (it may have forgotten
// it after a refusal).
func TestSeedingGivesUpOffers(t *testing.T) {
	now := time.Now()
	s := &seeding{pieces: make([]seedPiece, 2), watchers: map[string]*watcher{}, limit: 1}
	s.watch("a", now)
	s.push(0, now)
	s.push(1, now)
	told := len(s.log)
	s.expire(now.Add(offerTimeout+time.Millisecond), func(int, string) bool { return false })
	if len(s.log) != told+1 || s.log[told] != (reveal{piece: 0, to: "a"}) {
		t.Errorf("after an offer expired with one neighbour, the log has %v; want piece 0 told to a again", s.log[told:])
	}
	s.expire(now.Add(giveUpOffers+offerTimeout), func(int, string) bool { return false })
	if !s.pieces[0].all {
		t.Fatalf("piece 0 offered past giveUpOffers is not told to all")
	}
	if s.pieces[1].cur != "a" {
		t.Errorf("piece 1 offered to %q once piece 0 was given up; want a", s.pieces[1].cur)
	}
}

// A piece is offered only to a neighbour that lacks it: an offer to one
// that holds it already waits for a request that never comes, and holds
// back the pieces queued behind it (a swarm of 32 nodes stalled so for
// 4 s, the fetcher's uplink idle, when pieces that had spread beyond the
// fetcher's sight were offered again to nodes that held them). An offer
// whose neighbour came to hold the piece elsewhere is withdrawn; a piece
// every neighbour holds is offered to none.
func TestSeedingOffersOnlyToLackers(t *testing.T) {
	now := time.Now()
	held := map[string]map[int]bool{"a": {0: true, 1: true}, "b": {0: true}, "c": {}}
	s := &seeding{pieces: make([]seedPiece, 4), watchers: map[string]*watcher{}, limit: 2,
		holds: func(i int, peer string) bool { return held[peer][i] }}
	for _, id := range []string{"a", "b", "c"} {
		s.watch(id, now)
	}
	s.push(0, now)
	if got := s.pieces[0].cur; got != "c" {
		t.Fatalf("piece 0, held by a and b, offered to %q; want c", got)
	}
	s.push(1, now)
	if got := s.pieces[1].cur; got != "b" {
		t.Fatalf("piece 1, held by a, offered to %q; want b (c has an offer waiting)", got)
	}
	s.push(2, now)      // queued: two offers wait
	held["c"][0] = true // c took piece 0 from another node
	s.expire(now.Add(seedTick), func(int, string) bool { return true })
	if s.pieces[0].cur != "" {
		t.Errorf("piece 0 still offered to %q, which holds it", s.pieces[0].cur)
	}
	if s.pieces[2].cur == "" {
		t.Errorf("piece 2 not offered once the offer of piece 0 was withdrawn")
	}
	// Piece 0 sent, then not seen to spread: offered again, but every
	// neighbour holds it, so it is offered to none.
	s.pieces[0].taken, s.pieces[0].spread = "a", now.Add(time.Second)
	s.expire(now.Add(2*time.Second), func(int, string) bool { return false })
	if s.pieces[0].cur != "" {
		t.Errorf("piece 0, held by every neighbour, offered again to %q", s.pieces[0].cur)
	}
}

// A piece goes to a neighbour the fetcher knows to lack it before one whose
// have stream it does not read (beyond its bound of seedReads), even one
// with fewer offers waiting: of the other it cannot tell whether an offer
// would be asked for or wait out offerTimeout.
func TestSeedingOffersToKnownLackers(t *testing.T) {
	now := time.Now()
	read := map[string]bool{"a": true}
	s := &seeding{pieces: make([]seedPiece, 4), watchers: map[string]*watcher{}, limit: 4,
		holds: func(int, string) bool { return false },
		knows: func(peer string) bool { return read[peer] }}
	for _, id := range []string{"a", "b", "c"} {
		s.watch(id, now)
	}
	s.push(0, now)
	s.push(1, now)
	if got := s.offeredTo()[:2]; got[0] != "a" || got[1] != "a" {
		t.Errorf("pieces 0 and 1 offered to %q; want both to a, the only node whose pieces the fetcher knows", got)
	}
	// Once a holds piece 2, it goes to one of the others.
	s.holds = func(i int, peer string) bool { return i == 2 && peer == "a" }
	s.push(2, now)
	if got := s.offeredTo()[2]; got != "b" && got != "c" {
		t.Errorf("piece 2, held by a, offered to %q; want b or c", got)
	}
}

// As its origin stream ends, a fetcher with pieces the stream brought
// that it sent to no one goes on super-seeding: a piece sent to one
// neighbour is still refused to others, naming the taker, so that its
// upload slots go to the pieces only it holds. It tells everything once
// each was sent whole, or offerTimeout after the stream's end. (A 1 MiB
// blob at 32 nodes: every node asked the fetcher for every piece at its
// stream's end, and the last two waited behind the others for 1.5 s.)
func TestSeedingOutlivesTheStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(tr *transfer, s *seeding, now time.Time)
	}{
		{"every piece sent", func(tr *transfer, s *seeding, now time.Time) {
			for i := 1; i < len(s.pieces); i++ {
				peer := s.pieces[i].cur
				if ok, _, _ := s.claim(i, peer); !ok {
					t.Fatalf("the neighbour offered piece %d could not claim it", i)
				}
				s.start(i, peer, now)
				s.sent(i, peer, true, now)
				if tr.seedOver(now); tr.seed == nil && i < len(s.pieces)-1 {
					t.Fatalf("seeding ended with piece %d of %d sent", i, len(s.pieces))
				}
			}
		}},
		{"offerTimeout past the end", func(tr *transfer, s *seeding, now time.Time) {
			tr.seedOver(s.endBy.Add(-time.Millisecond))
			if tr.seed == nil {
				t.Fatalf("seeding ended before its end with pieces unsent")
			}
			tr.seedOver(s.endBy.Add(time.Millisecond))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, tr := nodeTransfer(t, Options{UploadSlots: 8}, payload(4<<16), 64<<10)
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.startSeeding(t.Context())
			s := tr.seed
			now := time.Now()
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				s.watch(id, now)
			}
			for i := range s.pieces {
				tr.state[i] = verified
				s.push(i, now)
			}
			taker := s.pieces[0].cur
			s.claim(0, taker)
			s.start(0, taker, now)
			s.sent(0, taker, true, now)

			before := time.Now()
			tr.endSeeding()
			if tr.seed != s {
				t.Fatalf("seeding ended with the stream, 3 of 4 pieces sent to no one")
			}
			if d := s.endBy.Sub(before); d < offerTimeout || d > offerTimeout+time.Second {
				t.Errorf("seeding ends %v after the stream; want offerTimeout (%v)", d, offerTimeout)
			}
			other := "a"
			if other == taker {
				other = "b"
			}
			if ok, holder, _ := s.claim(0, other); ok || holder != taker {
				t.Errorf("after the stream, piece 0 asked for by %s: ok %v, holder %q; want refused naming %s", other, ok, holder, taker)
			}
			tc.after(tr, s, now)
			if tr.seed != nil {
				t.Errorf("seeding goes on")
			}
		})
	}
	// A stream whose every piece was sent ends the seeding with it.
	_, tr := nodeTransfer(t, Options{}, payload(1<<16), 64<<10)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.startSeeding(t.Context())
	s := tr.seed
	s.watch("a", time.Now())
	tr.state[0] = verified
	s.push(0, time.Now())
	s.claim(0, "a")
	s.start(0, "a", time.Now())
	s.sent(0, "a", true, time.Now())
	if tr.endSeeding(); tr.seed != nil {
		t.Errorf("seeding goes on after a stream whose pieces were all sent")
	}
}
