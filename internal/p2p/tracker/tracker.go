package tracker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Options configure a Tracker. The zero value works.
type Options struct {
	// Logger receives one line per stream opened and closed. Default: none.
	Logger *slog.Logger
	// StreamBuffer is how many events may wait for a peer that reads its
	// stream slowly; past it the stream is cut (the peer reconnects and
	// announces again, which costs it nothing but a round trip). Default
	// 1024.
	StreamBuffer int
	// MaxAnnounceBytes bounds the body of an announce. Default 16 MiB
	// (a complete join of a blob of MaxPieces pieces).
	MaxAnnounceBytes int64
	// MaxSwarmsPerPeer bounds the swarms one peer may be in. Default
	// 100,000.
	MaxSwarmsPerPeer int
	// LeaseTimeout is how long a fetcher may publish nothing before its
	// lease goes to the next member: a fetcher whose origin hangs, or a
	// peer that takes the lease and never fetches, holds a swarm up no
	// longer than this. Default 10 s.
	LeaseTimeout time.Duration
	// PingInterval is how long a stream may be idle before the tracker
	// sends a ping on it. Default 10 s.
	PingInterval time.Duration
	// WriteTimeout is how long a write to a stream may wait on its peer:
	// past it the stream ends, as if the peer had gone. A peer that stops
	// reading (its process stopped while its kernel still acknowledges)
	// is cut at once when its queue fills (StreamBuffer), but the
	// stream's handler waits in its write until this bound. Default 10 s.
	WriteTimeout time.Duration
	// Shared, if set, is the log of changes this tracker shares with its
	// replicas (see OpenRedis): every change goes through it and every
	// replica applies it, in the log's order. Nil: the state is in this
	// process's memory only.
	Shared SharedLog
	// ReplicaTimeout is, with Shared, how long a replica may be silent
	// before the others end the streams it served (their agents have
	// reconnected elsewhere, or are gone). Replicas say they are alive
	// five times per timeout. Default 5 s.
	ReplicaTimeout time.Duration
	// SnapshotEvery is, with Shared, how many log entries pass between
	// two snapshots of the state; the log is trimmed to the entries after
	// the newest snapshot. Default 1000.
	SnapshotEvery uint64
}

// Tracker is the swarms' state and its HTTP API (see the package
// documentation). It is an http.Handler.
//
// Every change to the state is a mutation: without Options.Shared it is
// applied at once under mu; with it, it is appended to the shared log and
// applied, by every replica alike, when Run reads it back. Applying a
// mutation depends only on the state and the mutation (and the time the
// log gave it), so every replica holds the same swarms, elects the same
// fetcher under the same lease, and pushes the changes to the streams it
// serves itself.
type Tracker struct {
	opts    Options
	log     *slog.Logger
	replica string // this replica's name in the shared log

	mu       sync.Mutex
	sessions map[string]*session // by peer: each peer's current stream, wherever served
	streams  map[string]*stream  // by session key: the streams served here
	swarms   map[digest.Digest]*swarm
	seen     map[string]time.Time // replicas: when each last said it was alive
	cutAt    map[string]cutStream // by session key: streams this replica cut (with Shared)
	closed   bool                 // Close was called
	stopped  bool                 // Run is returning: cut starts no goroutine

	// With Shared: the log's position, and what Run's reader knows.
	seq        uint64    // the last entry applied
	lastID     string    // its ID in the log
	logTime    time.Time // its time, and when it was applied here
	appliedAt  time.Time
	synced     bool          // a snapshot was loaded: the state is the log's
	applied    chan struct{} // closed and replaced when entries are applied
	healthErr  error         // why the shared log cannot be used, or nil
	snapshotMu sync.Mutex    // one snapshot written at a time

	bg      sync.WaitGroup // Run's goroutines
	ends    sync.WaitGroup // goroutines ending the sessions of cut streams
	quit    chan struct{}  // closed when Run returns
	quitted sync.Once
}

// session is a peer's current stream as every replica knows it.
type session struct {
	peer, key, addr, replica string
	leaf                     bool // Peer.Leaf
	swarms                   map[digest.Digest]struct{}
}

// cutStream is a stream this replica cut, whose session waits for its
// peer to come back.
type cutStream struct {
	peer string
	at   time.Time
}

// stream is a peer's stream served by this replica.
type stream struct {
	peer, key string
	events    chan Event
	done      chan struct{} // closed when the stream is cut
	ended     bool
}

// swarm is the state of one blob's distribution.
type swarm struct {
	members map[string]*Peer
	order   []string  // member IDs in join order, for the fetcher election
	joins   [2]uint64 // the members that joined, the last Peer.Seq given: others, leaves (SeqKind)
	fetcher string
	lease   uint64
	renewed time.Time           // when the fetcher last published, or was elected
	expired map[string]struct{} // members whose lease ran out, passed over by elect
	// rejoin says the fetcher's place was kept when its peer reconnected
	// (its old stream was replaced by a new one, at this replica or
	// another), and the peer has not joined again since: it does by
	// announcing again, or leaves when its lease runs out.
	rejoin bool
	layout *Layout
	hashes []digest.Digest // per piece, "" until published
}

// New returns a tracker with no swarms. With Options.Shared, it learns
// the replicas' state when Run starts, and serves only then.
func New(opts Options) *Tracker {
	if opts.StreamBuffer <= 0 {
		opts.StreamBuffer = 1024
	}
	if opts.MaxAnnounceBytes <= 0 {
		opts.MaxAnnounceBytes = 16 << 20
	}
	if opts.MaxSwarmsPerPeer <= 0 {
		opts.MaxSwarmsPerPeer = 100000
	}
	if opts.LeaseTimeout <= 0 {
		opts.LeaseTimeout = 10 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = 5 * time.Second
	}
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 1000
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		opts:     opts,
		log:      log,
		replica:  randomName(),
		sessions: map[string]*session{},
		streams:  map[string]*stream{},
		swarms:   map[digest.Digest]*swarm{},
		seen:     map[string]time.Time{},
		cutAt:    map[string]cutStream{},
		applied:  make(chan struct{}),
		quit:     make(chan struct{}),
	}
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close ends every stream and refuses new ones (503), so that an HTTP
// server's graceful shutdown does not wait for streams that never end on
// their own. With a shared log, the sessions of those streams wait for
// their agents at the other replicas, leases included (see cut); Close
// waits a few seconds at most for the ends it started.
func (t *Tracker) Close() {
	t.mu.Lock()
	t.closed = true
	for _, st := range t.streams {
		t.cut(st)
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.ends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Healthy returns why the tracker cannot serve, or nil: with a shared log,
// the log is unreachable or not read yet.
func (t *Tracker) Healthy() error {
	if t.opts.Shared == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.healthErr != nil {
		return t.healthErr
	}
	if !t.synced {
		return errors.New("tracker: the shared state is not read yet")
	}
	return nil
}

// ServeHTTP serves the stream and announce endpoints.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == StreamPath && r.Method == http.MethodGet:
		t.serveStream(w, r)
	case r.URL.Path == AnnouncePath && r.Method == http.MethodPost:
		t.serveAnnounce(w, r)
	case r.URL.Path == StreamPath || r.URL.Path == AnnouncePath:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

// Swarm is a snapshot of one swarm, for tests and metrics.
type Swarm struct {
	Members   []Peer
	Fetcher   string
	Lease     uint64
	Layout    *Layout
	Published int
}

// Stats are counts of a tracker's state, for metrics.
type Stats struct {
	// Streams is the number of agents connected to this replica; Swarms
	// the blobs being distributed or held; Members the places in all
	// swarms; Fetching the swarms with a fetcher.
	Streams, Swarms, Members, Fetching int
}

// Stats returns the tracker's counts.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Streams: len(t.streams), Swarms: len(t.swarms)}
	for _, sw := range t.swarms {
		s.Members += len(sw.members)
		if sw.fetcher != "" {
			s.Fetching++
		}
	}
	return s
}

// Swarm returns a snapshot of the swarm of d, and false if there is none.
func (t *Tracker) Swarm(d digest.Digest) (Swarm, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sw, ok := t.swarms[d]
	if !ok {
		return Swarm{}, false
	}
	s := Swarm{Fetcher: sw.fetcher, Lease: sw.lease, Layout: sw.layout}
	for _, id := range sw.order {
		s.Members = append(s.Members, *sw.members[id])
	}
	for _, h := range sw.hashes {
		if h != "" {
			s.Published++
		}
	}
	return s, true
}

func validPeerID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func (t *Tracker) serveStream(w http.ResponseWriter, r *http.Request) {
	id, addr, leaf := r.URL.Query().Get("peer"), r.URL.Query().Get("addr"), r.URL.Query().Get("leaf") == "1"
	if !validPeerID(id) {
		http.Error(w, "stream: peer: want 1 to 128 printable characters", http.StatusBadRequest)
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil || len(addr) > 256 {
		http.Error(w, fmt.Sprintf("stream: addr %q: want host:port", addr), http.StatusBadRequest)
		return
	}
	if err := t.Healthy(); err != nil {
		http.Error(w, "stream: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	st := &stream{
		peer:   id,
		key:    t.replica + "/" + randomName(),
		events: make(chan Event, t.opts.StreamBuffer),
		done:   make(chan struct{}),
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		http.Error(w, "stream: the tracker is shutting down", http.StatusServiceUnavailable)
		return
	}
	t.streams[st.key] = st
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.end(st) // the peer went, unless the tracker cut it first
		t.mu.Unlock()
		t.log.Info("peer stream closed", "peer", id)
	}()
	if err := t.submit(r.Context(), mutation{Op: opOpen, Peer: id, Session: st.key, Addr: addr, Leaf: leaf}); err != nil {
		http.Error(w, fmt.Sprintf("stream: %v", err), http.StatusServiceUnavailable)
		return
	}
	t.log.Info("peer stream opened", "peer", id, "addr", addr, "leaf", leaf)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	var cmp *compactor
	if r.URL.Query().Get("compact") == "1" {
		cmp = new(compactor)
	}
	// write writes events that waited together for the stream.
	write := func(evs []Event) error {
		if cmp == nil {
			for _, ev := range evs {
				if err := enc.Encode(ev); err != nil {
					return err
				}
			}
			return nil
		}
		for _, we := range cmp.compactAll(evs) {
			if err := enc.Encode(we); err != nil {
				return err
			}
		}
		return nil
	}
	var batch []Event
	// Each batch of writes, up to its flush, must end within WriteTimeout.
	// (Only a writer that cannot set a deadline, not net/http's server,
	// would let them wait as long as the connection lives.)
	bound := func() { _ = rc.SetWriteDeadline(time.Now().Add(t.opts.WriteTimeout)) }
	// Hello goes first, whatever the open queued: the peer announces
	// after it, and its own joins bring it the swarms' states.
	bound()
	if err := enc.Encode(Event{Type: EventHello}); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	ping := time.NewTicker(t.opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ping.C:
			bound()
			if err := enc.Encode(Event{Type: EventPing}); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case ev := <-st.events:
			ping.Reset(t.opts.PingInterval)
			bound()
			// Write what else is queued with it, and flush once.
			batch = append(batch[:0], ev)
			for more := true; more; {
				select {
				case ev := <-st.events:
					batch = append(batch, ev)
					more = len(batch) < cap(st.events)
				default:
					more = false
				}
			}
			if err := write(batch); err != nil {
				return
			}
			clear(batch) // let go of what the events hold
			if err := rc.Flush(); err != nil {
				return
			}
		case <-st.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// cut ends a stream served here, at once, not when its handler returns
// (which a peer that does not read holds up in a write); its peer
// reconnects. Without a shared log the session the stream carries ends
// with it. With one, the session waits for its peer: the peer's new
// stream, at this replica or another, takes it over with the leases it
// holds (see keepLeases), and Run ends it if none came within
// ReplicaTimeout (or the other replicas do, once this one is silent).
// t.mu is held.
func (t *Tracker) cut(st *stream) {
	t.stop(st, false)
}

// end ends a stream served here whose peer went (or was cut, see cut),
// and the session it carries. t.mu is held.
func (t *Tracker) end(st *stream) {
	t.stop(st, true)
}

// stop is cut and end. t.mu is held.
func (t *Tracker) stop(st *stream, peerWent bool) {
	if st.ended {
		return
	}
	st.ended = true
	close(st.done)
	if t.streams[st.key] == st {
		delete(t.streams, st.key)
	}
	if sess := t.sessions[st.peer]; sess == nil || sess.key != st.key || t.stopped {
		return // no session, another stream's, or Run has returned
	}
	if t.opts.Shared != nil && !peerWent {
		t.cutAt[st.key] = cutStream{peer: st.peer, at: time.Now()}
		return
	}
	t.ends.Go(func() {
		// Should the shared log fail, Run's reaper ends the session
		// later; once Run returned, the other replicas do.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			select {
			case <-t.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := t.submit(ctx, mutation{Op: opEnd, Peer: st.peer, Session: st.key}); err != nil && ctx.Err() == nil {
			t.log.Warn("ending the session of a closed stream", "peer", st.peer, "err", err)
		}
	})
}

// cutAll cuts every stream served here: their peers reconnect and
// announce again, which repairs whatever the state lost. t.mu is held.
func (t *Tracker) cutAll(why string) {
	if len(t.streams) > 0 {
		t.log.Warn("cutting every stream; the agents reconnect and announce again", "streams", len(t.streams), "reason", why)
	}
	for _, st := range t.streams {
		t.cut(st)
	}
}

// send queues ev for the stream of sess if this replica serves it, and
// cuts a stream whose queue is full. t.mu is held.
func (t *Tracker) send(sess *session, ev Event) {
	st := t.streams[sess.key]
	if st == nil || st.ended {
		return
	}
	select {
	case st.events <- ev:
	default:
		t.log.Warn("peer reads its stream too slowly; cutting it", "peer", sess.peer)
		t.cut(st)
	}
}

// broadcast sends ev to every member of sw but skip. t.mu is held.
func (t *Tracker) broadcast(sw *swarm, ev Event, skip string) {
	for _, id := range sw.order {
		if id == skip {
			continue
		}
		if sess := t.sessions[id]; sess != nil {
			t.send(sess, ev)
		}
	}
}

// errBadAnnounce marks an announce the tracker cannot take at all.
var errBadAnnounce = errors.New("bad announce")

func (t *Tracker) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	var a Announce
	body := http.MaxBytesReader(w, r.Body, t.opts.MaxAnnounceBytes)
	if err := json.NewDecoder(body).Decode(&a); err != nil {
		http.Error(w, fmt.Sprintf("announce: %v", err), http.StatusBadRequest)
		return
	}
	if err := a.validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	sess := t.sessions[a.Peer]
	if sess == nil && t.opts.Shared != nil {
		// The stream may be open at another replica (behind one Service,
		// say) whose entry this one has not read yet.
		timer := time.NewTimer(2 * time.Second)
		defer timer.Stop()
		for waiting := true; sess == nil && waiting; {
			wait := t.applied
			t.mu.Unlock()
			select {
			case <-wait:
			case <-timer.C:
				waiting = false
			case <-r.Context().Done():
				waiting = false
			}
			t.mu.Lock()
			sess = t.sessions[a.Peer]
		}
	}
	if sess == nil {
		t.mu.Unlock()
		http.Error(w, fmt.Sprintf("announce: peer %q has no stream open: open %s first", a.Peer, StreamPath), http.StatusConflict)
		return
	}
	for _, j := range a.Join {
		if _, in := sess.swarms[j.Digest]; !in && len(sess.swarms) >= t.opts.MaxSwarmsPerPeer {
			t.mu.Unlock()
			http.Error(w, fmt.Sprintf("announce: peer %q is in %d swarms, at most %d", a.Peer, len(sess.swarms), t.opts.MaxSwarmsPerPeer), http.StatusTooManyRequests)
			return
		}
	}
	key := sess.key
	t.mu.Unlock()
	if err := t.submit(r.Context(), mutation{Op: opAnnounce, Peer: a.Peer, Session: key, Announce: &a}); err != nil {
		// The peer learns its announce was lost when its stream ends: it
		// reconnects and announces everything again.
		t.mu.Lock()
		if st := t.streams[key]; st != nil {
			t.cut(st)
		}
		t.mu.Unlock()
		http.Error(w, fmt.Sprintf("announce: %v", err), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validate checks what can be checked of a without the tracker's state.
func (a *Announce) validate() error {
	if !validPeerID(a.Peer) {
		return fmt.Errorf("%w: peer: want 1 to 128 printable characters", errBadAnnounce)
	}
	check := func(d digest.Digest) error {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: digest %q: %v", errBadAnnounce, d, err)
		}
		return nil
	}
	checkPieces := func(d digest.Digest, l *Layout, ps []PieceHash) error {
		if l != nil {
			if err := l.Validate(); err != nil {
				return fmt.Errorf("%w: %s: %v", errBadAnnounce, d, err)
			}
		}
		for _, p := range ps {
			if p.Index < 0 || p.Index >= MaxPieces {
				return fmt.Errorf("%w: %s: piece index %d out of range", errBadAnnounce, d, p.Index)
			}
			if err := p.Hash.Validate(); err != nil {
				return fmt.Errorf("%w: %s: piece %d: %v", errBadAnnounce, d, p.Index, err)
			}
		}
		return nil
	}
	for _, j := range a.Join {
		if err := check(j.Digest); err != nil {
			return err
		}
		if err := checkPieces(j.Digest, j.Layout, j.Pieces); err != nil {
			return err
		}
	}
	for _, d := range append(slices.Clone(a.Leave), a.Complete...) {
		if err := check(d); err != nil {
			return err
		}
	}
	for _, p := range a.Publish {
		if err := check(p.Digest); err != nil {
			return err
		}
		if err := checkPieces(p.Digest, p.Layout, p.Pieces); err != nil {
			return err
		}
	}
	return nil
}

// Expire passes the lease of every fetcher that published nothing for
// Options.LeaseTimeout before now to the next member. Run calls it
// periodically (with a shared log, at the log's time).
func (t *Tracker) Expire(now time.Time) {
	t.mu.Lock()
	var due []mutation
	for d, sw := range t.swarms {
		if sw.fetcher == "" || now.Sub(sw.renewed) < t.opts.LeaseTimeout {
			continue
		}
		due = append(due, mutation{Op: opExpire, Digest: d, Lease: sw.lease, Since: sw.renewed.UnixNano()})
	}
	t.mu.Unlock()
	for _, m := range due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := t.submit(ctx, m)
		cancel()
		if err != nil {
			t.log.Warn("passing an expired lease on", "digest", m.Digest, "err", err)
			return
		}
	}
}

// Run expires fetcher leases (see Expire) until ctx is done. With a
// shared log it also reads the log and applies what it brings, says
// that this replica is alive, ends the sessions of replicas that went
// silent and writes snapshots: a replica serves only while Run runs.
func (t *Tracker) Run(ctx context.Context) {
	defer func() {
		t.quitted.Do(func() { close(t.quit) })
		t.bg.Wait()
		// No session end starts once Wait may begin (an Add from zero
		// must not race it); the other replicas end those sessions.
		t.mu.Lock()
		t.stopped = true
		t.mu.Unlock()
		t.ends.Wait()
	}()
	if t.opts.Shared != nil {
		t.bg.Go(func() { t.follow(ctx) })
	}
	every := max(t.opts.LeaseTimeout/4, 10*time.Millisecond)
	if t.opts.Shared != nil {
		every = min(every, t.opts.ReplicaTimeout/5)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if t.opts.Shared != nil {
				now = t.sharedTick(ctx)
			}
			t.Expire(now)
		}
	}
}

// join makes sess a member of the swarm of j.Digest, sends it the swarm's
// state and tells the other members. t.mu is held.
func (t *Tracker) join(sess *session, j Join, now time.Time) {
	d := j.Digest
	sw := t.swarms[d]
	if sw == nil {
		sw = &swarm{members: map[string]*Peer{}}
		t.swarms[d] = sw
	}
	if m := sw.members[sess.peer]; m != nil {
		// A fetcher whose place was kept across its reconnection joins
		// again: its new stream is told the swarm as it stands.
		rejoined := sw.rejoin && sw.fetcher == sess.peer
		if rejoined {
			sw.rejoin = false
			if m.Addr != sess.addr || m.Leaf != sess.leaf {
				if m.Leaf != sess.leaf {
					m.Seq = sw.join(sess.leaf) // a place in the count of its kind
				}
				m.Addr, m.Leaf = sess.addr, sess.leaf
				t.broadcast(sw, Event{Type: EventPeer, Digest: d, Peer: new(*m)}, sess.peer)
			}
		}
		t.takeHashes(sw, d, j, sess.peer)
		if j.Complete && !m.Complete {
			t.complete(sess, d, now)
		}
		if rejoined {
			t.send(sess, Event{Type: EventPeer, Digest: d, Peer: new(*m)})
			t.sendSwarm(sess, sw, d)
			t.send(sess, Event{Type: EventFetcher, Digest: d, Fetcher: sw.fetcher, Lease: sw.lease})
		}
		return
	}
	me := &Peer{ID: sess.peer, Addr: sess.addr, Complete: j.Complete, Seq: sw.join(sess.leaf), Leaf: sess.leaf}
	sw.members[sess.peer] = me
	sw.order = append(sw.order, sess.peer)
	sess.swarms[d] = struct{}{}

	t.takeHashes(sw, d, j, sess.peer)
	t.send(sess, Event{Type: EventPeer, Digest: d, Peer: new(*me)}) // its place
	t.sendSwarm(sess, sw, d)
	t.broadcast(sw, Event{Type: EventPeer, Digest: d, Peer: new(*me)}, sess.peer)
	if !t.elect(sw, d, now) {
		t.send(sess, Event{Type: EventFetcher, Digest: d, Fetcher: sw.fetcher, Lease: sw.lease})
	}
}

// join counts a member that joins sw, a leaf or not, and returns its
// Peer.Seq.
func (sw *swarm) join(leaf bool) uint64 {
	k := SeqKind(leaf)
	sw.joins[k]++
	return sw.joins[k]
}

// sendSwarm sends sess the other members of sw, its layout and the hashes
// published. t.mu is held.
func (t *Tracker) sendSwarm(sess *session, sw *swarm, d digest.Digest) {
	for _, id := range sw.order {
		if id != sess.peer {
			t.send(sess, Event{Type: EventPeer, Digest: d, Peer: new(*sw.members[id])})
		}
	}
	if sw.layout != nil {
		t.send(sess, Event{Type: EventLayout, Digest: d, Layout: new(*sw.layout)})
		if ps := published(sw); len(ps) > 0 {
			t.send(sess, Event{Type: EventPiece, Digest: d, Pieces: ps})
		}
	}
}

// keepLeases moves the places of a reconnecting peer in the swarms it
// fetches for from its old session to its new one: the lease is the
// peer's, and a peer that reconnects (its tracker replica died, or cut its
// stream) is alive and may still be streaming from the origin. Another
// fetcher would open a second origin stream. The peer keeps the lease by
// joining again, as it does on every new stream, or loses it, and its
// place, when the lease runs out. t.mu is held.
func (t *Tracker) keepLeases(old, sess *session) {
	for d := range old.swarms {
		if sw := t.swarms[d]; sw != nil && sw.fetcher == old.peer {
			delete(old.swarms, d)
			sess.swarms[d] = struct{}{}
			sw.rejoin = true
		}
	}
}

// takeHashes takes the layout and piece hashes a complete member brings:
// all of them when the swarm has no layout (a restarted tracker lost it),
// those not yet published when its layout is the swarm's (a fetcher whose
// origin is down publishes none). A member with another layout brings
// nothing: the swarm's members already count pieces by the swarm's. t.mu
// is held.
func (t *Tracker) takeHashes(sw *swarm, d digest.Digest, j Join, from string) {
	if !j.Complete || j.Layout == nil || len(j.Pieces) != j.Layout.Pieces() {
		return
	}
	if sw.layout == nil {
		t.setLayout(sw, d, *j.Layout, from)
	}
	if *sw.layout == *j.Layout {
		t.setHashes(sw, d, j.Pieces, from)
	}
}

// published returns the hashes published in sw.
func published(sw *swarm) []PieceHash {
	var ps []PieceHash
	for i, h := range sw.hashes {
		if h != "" {
			ps = append(ps, PieceHash{Index: i, Hash: h})
		}
	}
	return ps
}

// elect makes sure sw has a fetcher if and only if it needs one: no member
// is complete. It tells every member and returns true when the fetcher
// changed. t.mu is held.
func (t *Tracker) elect(sw *swarm, d digest.Digest, now time.Time) bool {
	want, fallback := "", ""
	for _, id := range sw.order {
		if sw.members[id].Complete {
			want, fallback = "", ""
			break
		}
		if _, out := sw.expired[id]; out {
			if fallback == "" {
				fallback = id
			}
			continue
		}
		if want == "" {
			want = id
		}
	}
	if want == "" && fallback != "" {
		// Every member's lease ran out once: they all get another turn.
		clear(sw.expired)
		want = fallback
	}
	if sw.fetcher != "" && sw.members[sw.fetcher] != nil && want != "" {
		return false // a live fetcher keeps its lease
	}
	if want == sw.fetcher {
		return false
	}
	sw.fetcher = want
	sw.lease++
	sw.rejoin = false
	sw.renewed = now
	t.broadcast(sw, Event{Type: EventFetcher, Digest: d, Fetcher: sw.fetcher, Lease: sw.lease}, "")
	return true
}

// expire passes the lease of the fetcher of d on, if it is still the
// lease m names, renewed when m says: a replica that saw it run out
// decided so, and another replica (or a publication) may have acted
// first. t.mu is held.
func (t *Tracker) expire(m mutation, now time.Time) {
	sw := t.swarms[m.Digest]
	if sw == nil || sw.fetcher == "" || sw.lease != m.Lease || sw.renewed.UnixNano() != m.Since {
		return
	}
	t.log.Warn("fetcher published nothing in time; passing its lease on", "digest", m.Digest, "peer", sw.fetcher)
	if sw.expired == nil {
		sw.expired = map[string]struct{}{}
	}
	holder := sw.fetcher
	sw.expired[holder] = struct{}{}
	sw.fetcher = ""
	if sess := t.sessions[holder]; sw.rejoin && sess != nil {
		// Its peer reconnected and never joined again: it is gone.
		sw.rejoin = false
		t.leave(sess, m.Digest, now) // elects the next
		return
	}
	sw.rejoin = false
	t.elect(sw, m.Digest, now)
}

// leave takes sess out of the swarm of d. t.mu is held.
func (t *Tracker) leave(sess *session, d digest.Digest, now time.Time) {
	sw := t.swarms[d]
	delete(sess.swarms, d)
	if sw == nil || sw.members[sess.peer] == nil {
		return
	}
	delete(sw.members, sess.peer)
	sw.order = slices.DeleteFunc(sw.order, func(id string) bool { return id == sess.peer })
	if len(sw.order) == 0 {
		delete(t.swarms, d)
		return
	}
	t.broadcast(sw, Event{Type: EventGone, Digest: d, Peer: &Peer{ID: sess.peer}}, "")
	t.elect(sw, d, now)
}

// complete records that sess holds the blob d whole. t.mu is held.
func (t *Tracker) complete(sess *session, d digest.Digest, now time.Time) {
	sw := t.swarms[d]
	if sw == nil {
		return
	}
	m := sw.members[sess.peer]
	if m == nil || m.Complete {
		return
	}
	m.Complete = true
	t.broadcast(sw, Event{Type: EventPeer, Digest: d, Peer: new(*m)}, sess.peer)
	t.elect(sw, d, now)
}

// publish takes what the fetcher of a swarm publishes under its lease.
// t.mu is held.
func (t *Tracker) publish(sess *session, p Publish, now time.Time) {
	sw := t.swarms[p.Digest]
	if sw == nil || sw.fetcher != sess.peer || sw.lease != p.Lease {
		return // a fetcher that lost its lease learns it from its stream
	}
	sw.renewed = now
	// The fetcher knows what it publishes: it is not told again.
	if p.Layout != nil && sw.layout == nil {
		t.setLayout(sw, p.Digest, *p.Layout, sess.peer)
	}
	if sw.layout != nil {
		t.setHashes(sw, p.Digest, p.Pieces, sess.peer)
	}
}

// setLayout sets the layout of sw and tells the members but skip.
func (t *Tracker) setLayout(sw *swarm, d digest.Digest, l Layout, skip string) {
	sw.layout = &l
	sw.hashes = make([]digest.Digest, l.Pieces())
	t.broadcast(sw, Event{Type: EventLayout, Digest: d, Layout: new(l)}, skip)
}

// setHashes records the hashes of ps not yet published and tells the
// members but skip. A published hash is never replaced.
func (t *Tracker) setHashes(sw *swarm, d digest.Digest, ps []PieceHash, skip string) {
	var fresh []PieceHash
	for _, p := range ps {
		if p.Index < len(sw.hashes) && sw.hashes[p.Index] == "" {
			sw.hashes[p.Index] = p.Hash
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		t.broadcast(sw, Event{Type: EventPiece, Digest: d, Pieces: fresh}, skip)
	}
}
