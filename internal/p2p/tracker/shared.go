package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// SharedLog is the ordered log of changes that tracker replicas share
// (OpenRedis gives one on a Redis server). Its order is the replicas'
// agreement: every replica applies the same entries in the same order, so
// a fetcher's lease, granted or passed on by an entry, is granted once for
// all of them. Its methods are safe for concurrent use.
type SharedLog interface {
	// Append adds an entry at the end of the log, atomically numbered
	// one more than the last, and returns its number.
	Append(ctx context.Context, data []byte) (seq uint64, err error)
	// Read returns the entries after the one whose ID is after ("" for
	// the log's start), in order, waiting up to about a second for one.
	Read(ctx context.Context, after string) ([]Entry, error)
	// Snapshot returns the newest snapshot saved, or one of Seq 0 and ID ""
	// if there is none.
	Snapshot(ctx context.Context) (Snapshot, error)
	// SaveSnapshot saves s unless a newer one is saved, and may drop the
	// entries before the snapshot it replaces.
	SaveSnapshot(ctx context.Context, s Snapshot) error
}

// Entry is one entry of a SharedLog.
type Entry struct {
	// Seq numbers the entries 1, 2, 3...: a gap says entries were lost.
	Seq uint64
	// ID is the entry's place in the log (Read's after).
	ID string
	// Time is when the log took the entry, by the log's clock: every
	// replica dates what the entry does alike.
	Time time.Time
	// Data is the entry.
	Data []byte
}

// Snapshot is the state of the tracker after the entry Seq (ID).
type Snapshot struct {
	Seq  uint64
	ID   string
	Data []byte
}

// setHealth records whether the shared log answers. t.mu is not held.
func (t *Tracker) setHealth(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.healthErr == nil {
		t.log.Warn("the shared log does not answer", "err", err)
		t.cutAll("the shared log does not answer")
	}
	if err != nil {
		t.healthErr = fmt.Errorf("tracker: shared log: %w", err)
	} else {
		t.healthErr = nil
	}
}

// follow reads the shared log and applies it until ctx is done: first the
// newest snapshot, then every entry after it. An entry that does not
// follow the last one applied (entries lost: trimmed while this replica
// lagged, or the log's server restarted empty) makes it load the state
// again, and cut its streams so that their agents announce again.
func (t *Tracker) follow(ctx context.Context) {
	log := t.opts.Shared
	for ctx.Err() == nil {
		t.mu.Lock()
		synced, after := t.synced, t.lastID
		t.mu.Unlock()
		if !synced {
			if err := t.load(ctx); err != nil {
				t.setHealth(err)
				sleep(ctx, 500*time.Millisecond)
				continue
			}
			continue
		}
		entries, err := log.Read(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.setHealth(err)
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		t.setHealth(nil)
		var snapshot bool
		t.mu.Lock()
		for _, e := range entries {
			if e.Seq != t.seq+1 {
				t.log.Warn("the shared log lost entries; loading the state again", "want", t.seq+1, "got", e.Seq)
				t.synced = false
				t.cutAll("entries of the shared log were lost")
				break
			}
			t.seq, t.lastID, t.logTime, t.appliedAt = e.Seq, e.ID, e.Time, time.Now()
			m, err := decodeMutation(e.Data)
			if err != nil {
				t.log.Warn("skipping an entry of the shared log", "seq", e.Seq, "err", err)
				continue
			}
			t.apply(m, e.Time)
			if e.Seq%t.opts.SnapshotEvery == 0 && m.Replica == t.replica {
				snapshot = true
			}
		}
		close(t.applied)
		t.applied = make(chan struct{})
		var s Snapshot
		if snapshot && t.synced {
			s = t.snapshot()
		}
		t.mu.Unlock()
		if s.Seq > 0 {
			t.bg.Go(func() { t.saveSnapshot(ctx, s) })
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// load takes the newest snapshot as the state, and the first entry after
// it: if entries between were lost, the state starts empty there.
func (t *Tracker) load(ctx context.Context) error {
	log := t.opts.Shared
	s, err := log.Snapshot(ctx)
	if err != nil {
		return err
	}
	st, err := decodeState(s.Data)
	if err != nil {
		t.log.Warn("the shared snapshot is unreadable; starting from an empty state", "err", err)
		st = stateJSON{}
	}
	entries, err := log.Read(ctx, s.ID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(entries) > 0 && entries[0].Seq != s.Seq+1 {
		t.log.Warn("the shared log lost entries after its snapshot; starting from an empty state", "snapshot", s.Seq, "next", entries[0].Seq)
		s = Snapshot{Seq: entries[0].Seq - 1, ID: s.ID}
		st = stateJSON{}
	}
	t.restore(st)
	t.seq, t.lastID, t.synced = s.Seq, s.ID, true
	t.appliedAt = time.Now()
	if t.logTime.IsZero() {
		t.logTime = t.appliedAt
	}
	// What the streams served here were told may not hold any more.
	t.cutAll("the state was loaded from the shared log")
	close(t.applied)
	t.applied = make(chan struct{})
	t.healthErr = nil
	t.log.Info("shared state loaded", "seq", s.Seq, "swarms", len(t.swarms), "sessions", len(t.sessions))
	return nil // the entries read are read again by follow
}

// sharedTick runs with a shared log at each tick of Run: it says this
// replica is alive, ends the sessions of replicas gone silent and those
// of streams this replica serves no more, and returns the log's time.
func (t *Tracker) sharedTick(ctx context.Context) time.Time {
	t.mu.Lock()
	now := t.logTime.Add(time.Since(t.appliedAt))
	ready := t.synced && t.healthErr == nil
	var due []mutation
	if ready {
		due = append(due, mutation{Op: opAlive})
		for r, seen := range t.seen {
			if r != t.replica && now.Sub(seen) > t.opts.ReplicaTimeout {
				due = append(due, mutation{Op: opDown, Target: r, Since: seen.UnixNano()})
			}
		}
		for _, sess := range t.sessions {
			if sess.replica != t.replica || t.streams[sess.key] != nil {
				continue
			}
			// A stream cut here waits for its peer to come back (cut).
			if c, ok := t.cutAt[sess.key]; ok && time.Since(c.at) < t.opts.ReplicaTimeout {
				continue
			}
			due = append(due, mutation{Op: opEnd, Peer: sess.peer, Session: sess.key})
		}
	}
	for key, c := range t.cutAt {
		if sess := t.sessions[c.peer]; sess == nil || sess.key != key {
			delete(t.cutAt, key) // ended, or taken over by a new stream
		}
	}
	t.mu.Unlock()
	for _, m := range due {
		if err := t.submit(ctx, m); err != nil {
			break
		}
	}
	return now
}

// saveSnapshot saves s, logging a failure: the next snapshot will do.
func (t *Tracker) saveSnapshot(ctx context.Context, s Snapshot) {
	if !t.snapshotMu.TryLock() {
		return
	}
	defer t.snapshotMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := t.opts.Shared.SaveSnapshot(ctx, s); err != nil {
		t.log.Warn("saving a snapshot of the shared state", "seq", s.Seq, "err", err)
	}
}

// stateJSON is the state of a tracker as a snapshot holds it.
type stateJSON struct {
	Sessions []sessionJSON    `json:"sessions,omitempty"`
	Swarms   []swarmJSON      `json:"swarms,omitempty"`
	Seen     map[string]int64 `json:"seen,omitempty"`
}

type sessionJSON struct {
	Peer    string `json:"peer"`
	Key     string `json:"key"`
	Addr    string `json:"addr"`
	Leaf    bool   `json:"leaf,omitempty"`
	Replica string `json:"replica"`
}

type swarmJSON struct {
	Digest  digest.Digest   `json:"digest"`
	Members []Peer          `json:"members"`
	Fetcher string          `json:"fetcher,omitempty"`
	Lease   uint64          `json:"lease,omitempty"`
	Renewed int64           `json:"renewed,omitempty"`
	Expired []string        `json:"expired,omitempty"`
	Rejoin  bool            `json:"rejoin,omitempty"`
	Layout  *Layout         `json:"layout,omitempty"`
	Hashes  []digest.Digest `json:"hashes,omitempty"`
	Joins   uint64          `json:"joins,omitempty"`
	Leaves  uint64          `json:"leafJoins,omitempty"` // the leaves' count of joins
}

// snapshot returns the state as of the last entry applied. t.mu is held.
func (t *Tracker) snapshot() Snapshot {
	var st stateJSON
	for _, sess := range t.sessions {
		st.Sessions = append(st.Sessions, sessionJSON{Peer: sess.peer, Key: sess.key, Addr: sess.addr, Leaf: sess.leaf, Replica: sess.replica})
	}
	st.Seen = map[string]int64{}
	for r, at := range t.seen {
		st.Seen[r] = at.UnixNano()
	}
	for d, sw := range t.swarms {
		s := swarmJSON{Digest: d, Fetcher: sw.fetcher, Lease: sw.lease, Renewed: sw.renewed.UnixNano(), Rejoin: sw.rejoin, Layout: sw.layout, Hashes: sw.hashes, Joins: sw.joins[0], Leaves: sw.joins[1]}
		for _, id := range sw.order {
			s.Members = append(s.Members, *sw.members[id])
		}
		for id := range sw.expired {
			s.Expired = append(s.Expired, id)
		}
		slices.Sort(s.Expired)
		st.Swarms = append(st.Swarms, s)
	}
	// In order, so that replicas at one entry save the same bytes.
	slices.SortFunc(st.Sessions, func(a, b sessionJSON) int { return strings.Compare(a.Peer, b.Peer) })
	slices.SortFunc(st.Swarms, func(a, b swarmJSON) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	b, _ := json.Marshal(st) // plain data: cannot fail
	return Snapshot{Seq: t.seq, ID: t.lastID, Data: b}
}

func decodeState(b []byte) (stateJSON, error) {
	var st stateJSON
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return stateJSON{}, fmt.Errorf("tracker snapshot: %w", err)
	}
	return st, nil
}

// restore makes st the state. t.mu is held.
func (t *Tracker) restore(st stateJSON) {
	t.sessions = map[string]*session{}
	t.swarms = map[digest.Digest]*swarm{}
	t.seen = map[string]time.Time{}
	for r, at := range st.Seen {
		t.seen[r] = time.Unix(0, at)
	}
	for _, s := range st.Sessions {
		if validPeerID(s.Peer) {
			t.sessions[s.Peer] = &session{peer: s.Peer, key: s.Key, addr: s.Addr, leaf: s.Leaf, replica: s.Replica, swarms: map[digest.Digest]struct{}{}}
		}
	}
	for _, s := range st.Swarms {
		if s.Digest.Validate() != nil || len(s.Members) == 0 {
			continue
		}
		sw := &swarm{members: map[string]*Peer{}, fetcher: s.Fetcher, lease: s.Lease, renewed: time.Unix(0, s.Renewed), rejoin: s.Rejoin && s.Fetcher != ""}
		for _, m := range s.Members {
			sess := t.sessions[m.ID]
			if sess == nil || sw.members[m.ID] != nil {
				continue
			}
			sw.members[m.ID] = new(m)
			sw.order = append(sw.order, m.ID)
			sess.swarms[s.Digest] = struct{}{}
			k := SeqKind(m.Leaf)
			sw.joins[k] = max(sw.joins[k], m.Seq)
		}
		sw.joins[0] = max(sw.joins[0], s.Joins)
		sw.joins[1] = max(sw.joins[1], s.Leaves)
		if len(s.Expired) > 0 {
			sw.expired = map[string]struct{}{}
			for _, id := range s.Expired {
				sw.expired[id] = struct{}{}
			}
		}
		if s.Layout != nil && s.Layout.Validate() == nil && len(s.Hashes) == s.Layout.Pieces() {
			sw.layout = s.Layout
			sw.hashes = s.Hashes
		}
		if len(sw.order) > 0 {
			t.swarms[s.Digest] = sw
		}
	}
}
