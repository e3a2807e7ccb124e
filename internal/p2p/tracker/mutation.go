package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Operations of a mutation.
const (
	// opOpen: Peer opened its stream Session at Replica, from Addr (a
	// Leaf or not); the
	// peer's earlier session, wherever it was, is over, and the fetcher
	// leases it held pass to the new one.
	opOpen = "open"
	// opEnd: the stream Session of Peer ended.
	opEnd = "end"
	// opAnnounce: Peer announced Announce on its stream Session.
	opAnnounce = "announce"
	// opExpire: the lease Lease of the swarm of Digest, renewed at Since,
	// ran out.
	opExpire = "expire"
	// opAlive: Replica is alive.
	opAlive = "alive"
	// opDown: Target, a replica last alive at Since, is gone: the
	// sessions it served end.
	opDown = "down"
)

// mutation is one change of the tracker's state: an entry of the shared
// log, applied alike by every replica.
type mutation struct {
	Op       string        `json:"op"`
	Replica  string        `json:"replica,omitempty"` // who appended it
	Peer     string        `json:"peer,omitempty"`
	Session  string        `json:"session,omitempty"`
	Addr     string        `json:"addr,omitempty"`
	Leaf     bool          `json:"leaf,omitempty"`
	Announce *Announce     `json:"announce,omitempty"`
	Digest   digest.Digest `json:"digest,omitempty"`
	Lease    uint64        `json:"lease,omitempty"`
	Since    int64         `json:"since,omitempty"` // Unix nanoseconds
	Target   string        `json:"target,omitempty"`
}

// decodeMutation parses an entry of the shared log. Another process wrote
// it: it is checked as an announce from an agent is.
func decodeMutation(b []byte) (mutation, error) {
	var m mutation
	if err := json.Unmarshal(b, &m); err != nil {
		return mutation{}, fmt.Errorf("tracker log entry: %w", err)
	}
	switch m.Op {
	case opOpen, opEnd, opAnnounce:
		if !validPeerID(m.Peer) || m.Session == "" {
			return mutation{}, fmt.Errorf("tracker log entry %s: bad peer or session", m.Op)
		}
		if m.Op == opAnnounce {
			if m.Announce == nil {
				return mutation{}, fmt.Errorf("tracker log entry %s: no announce", m.Op)
			}
			if err := m.Announce.validate(); err != nil {
				return mutation{}, fmt.Errorf("tracker log entry %s: %w", m.Op, err)
			}
			if m.Announce.Peer != m.Peer {
				return mutation{}, fmt.Errorf("tracker log entry %s: announce of %q for peer %q", m.Op, m.Announce.Peer, m.Peer)
			}
		}
	case opExpire:
		if err := m.Digest.Validate(); err != nil {
			return mutation{}, fmt.Errorf("tracker log entry %s: digest: %w", m.Op, err)
		}
	case opAlive:
		if m.Replica == "" {
			return mutation{}, fmt.Errorf("tracker log entry %s: no replica", m.Op)
		}
	case opDown:
		if m.Target == "" {
			return mutation{}, fmt.Errorf("tracker log entry %s: no replica", m.Op)
		}
	default:
		return mutation{}, fmt.Errorf("tracker log entry: unknown op %q", m.Op)
	}
	return m, nil
}

// submit makes m happen: at once without a shared log, else once the log
// took it and this replica applied it (so the caller reads its writes).
func (t *Tracker) submit(ctx context.Context, m mutation) error {
	m.Replica = t.replica
	if t.opts.Shared == nil {
		t.mu.Lock()
		t.apply(m, time.Now())
		t.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("tracker: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	seq, err := t.opts.Shared.Append(ctx, b)
	if err != nil {
		t.setHealth(err)
		return fmt.Errorf("tracker: shared log: %w", err)
	}
	for {
		t.mu.Lock()
		done, wait := t.seq >= seq, t.applied
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("tracker: entry %d of the shared log not read back: %w", seq, ctx.Err())
		}
	}
}

// apply applies m, which the log dated now. t.mu is held.
func (t *Tracker) apply(m mutation, now time.Time) {
	switch m.Op {
	case opOpen:
		sess := &session{peer: m.Peer, key: m.Session, addr: m.Addr, leaf: m.Leaf, replica: m.Replica, swarms: map[digest.Digest]struct{}{}}
		if old := t.sessions[m.Peer]; old != nil {
			// The peer reconnected: its old stream is over, but not the
			// leases it holds.
			t.keepLeases(old, sess)
			t.endSession(old, now)
		}
		t.sessions[m.Peer] = sess
		if _, ok := t.seen[m.Replica]; !ok {
			t.seen[m.Replica] = now
		}
	case opEnd:
		if sess := t.sessions[m.Peer]; sess != nil && sess.key == m.Session {
			t.endSession(sess, now)
		}
	case opAnnounce:
		sess := t.sessions[m.Peer]
		if sess == nil || sess.key != m.Session {
			return // an announce on a stream since replaced
		}
		a := m.Announce
		// Publications first: a fetcher's last pieces and its completion
		// (a complete join) often come in one announce, and completing
		// ends its lease.
		for _, p := range a.Publish {
			t.publish(sess, p, now)
		}
		for _, j := range a.Join {
			if _, in := sess.swarms[j.Digest]; in || len(sess.swarms) < t.opts.MaxSwarmsPerPeer {
				t.join(sess, j, now)
			}
		}
		for _, d := range a.Complete {
			t.complete(sess, d, now)
		}
		for _, d := range a.Leave {
			t.leave(sess, d, now)
		}
	case opExpire:
		t.expire(m, now)
	case opAlive:
		t.seen[m.Replica] = now
	case opDown:
		if seen, ok := t.seen[m.Target]; !ok || seen.UnixNano() != m.Since {
			return // it said it was alive since
		}
		t.log.Warn("a tracker replica went silent; ending the streams it served", "replica", m.Target)
		delete(t.seen, m.Target)
		for _, sess := range t.sessions {
			if sess.replica == m.Target {
				t.endSession(sess, now)
			}
		}
	}
}

// endSession ends a peer's session: it leaves every swarm it was in, and
// its stream is cut if served here. t.mu is held.
func (t *Tracker) endSession(sess *session, now time.Time) {
	if t.sessions[sess.peer] == sess {
		delete(t.sessions, sess.peer)
	}
	if st := t.streams[sess.key]; st != nil {
		t.cut(st)
	}
	for d := range sess.swarms {
		t.leave(sess, d, now)
	}
}
