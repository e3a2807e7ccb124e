package swarm

import (
	"context"
	"sync"
	"time"
)

// slots are a node's upload slots: a piece is sent only once it holds
// one, and a request that finds them all busy waits its turn for a while.
// When a slot frees, it goes to the waiting request of the peer that holds
// the most of the blob, not to the one that came first: while the uplinks
// of a swarm cannot keep up with the fetcher's stream, serving the peers
// nearest their end first (shortest remaining first) brings half the
// nodes to their end sooner, and the last no later than the swarm's
// uplinks, busy all along, allow.
type slots struct {
	mu      sync.Mutex
	free    int
	waiting []*slotWaiter
}

type slotWaiter struct {
	held    int64         // the requester's bytes of the blob
	granted chan struct{} // closed when the slot is the waiter's
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire takes a slot for a requester holding held bytes of the blob,
// waiting at most wait for one. It reports whether it got one; a slot got
// is given back with release.
func (s *slots) acquire(ctx context.Context, held int64, wait time.Duration) bool {
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return true
	}
	w := &slotWaiter{held: held, granted: make(chan struct{})}
	s.waiting = append(s.waiting, w)
	s.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.granted:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.waiting {
		if o == w {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			return false
		}
	}
	// Granted as the wait ended: the slot is passed on, not lost.
	s.releaseLocked()
	return false
}

// release gives a slot back: to the waiter holding the most of the blob
// (the first of them on a tie), else to the free ones.
func (s *slots) release() {
	s.mu.Lock()
	s.releaseLocked()
	s.mu.Unlock()
}

func (s *slots) releaseLocked() {
	if len(s.waiting) == 0 {
		s.free++
		return
	}
	best := 0
	for i, w := range s.waiting {
		if w.held > s.waiting[best].held {
			best = i
		}
	}
	w := s.waiting[best]
	s.waiting = append(s.waiting[:best], s.waiting[best+1:]...)
	close(w.granted)
}
