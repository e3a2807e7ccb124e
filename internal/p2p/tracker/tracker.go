package tracker

import (
	"context"
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
}

// Tracker is the swarms' state and its HTTP API (see the package
// documentation). It is an http.Handler; all its state is in memory.
type Tracker struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	swarms   map[digest.Digest]*swarm
	closed   bool // Close was called
}

// session is one peer's open stream.
type session struct {
	id, addr string
	events   chan Event
	done     chan struct{} // closed when the session ends
	swarms   map[digest.Digest]struct{}
	ended    bool
}

// swarm is the state of one blob's distribution.
type swarm struct {
	members map[string]*Peer
	order   []string // member IDs in join order, for the fetcher election
	fetcher string
	lease   uint64
	renewed time.Time           // when the fetcher last published, or was elected
	expired map[string]struct{} // members whose lease ran out, passed over by elect
	layout  *Layout
	hashes  []digest.Digest // per piece, "" until published
}

// New returns a tracker with no swarms.
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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		opts:     opts,
		log:      log,
		sessions: map[string]*session{},
		swarms:   map[digest.Digest]*swarm{},
	}
}

// Close ends every stream and refuses new ones (503), so that an HTTP
// server's graceful shutdown does not wait for streams that never end on
// their own.
func (t *Tracker) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, sess := range t.sessions {
		t.end(sess)
	}
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
	// Streams is the number of agents connected; Swarms the blobs being
	// distributed or held; Members the places in all swarms; Fetching the
	// swarms with a fetcher.
	Streams, Swarms, Members, Fetching int
}

// Stats returns the tracker's counts.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Streams: len(t.sessions), Swarms: len(t.swarms)}
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
	id, addr := r.URL.Query().Get("peer"), r.URL.Query().Get("addr")
	if !validPeerID(id) {
		http.Error(w, "stream: peer: want 1 to 128 printable characters", http.StatusBadRequest)
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		http.Error(w, fmt.Sprintf("stream: addr %q: want host:port", addr), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	sess := &session{
		id:     id,
		addr:   addr,
		events: make(chan Event, t.opts.StreamBuffer),
		done:   make(chan struct{}),
		swarms: map[digest.Digest]struct{}{},
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		http.Error(w, "stream: the tracker is shutting down", http.StatusServiceUnavailable)
		return
	}
	if old := t.sessions[id]; old != nil {
		t.end(old) // the peer reconnected: its old stream is over
	}
	t.sessions[id] = sess
	sess.events <- Event{Type: EventHello}
	t.mu.Unlock()
	t.log.Info("peer stream opened", "peer", id, "addr", addr)
	defer func() {
		t.mu.Lock()
		t.end(sess)
		t.mu.Unlock()
		t.log.Info("peer stream closed", "peer", id)
	}()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for {
		select {
		case ev := <-sess.events:
			if err := enc.Encode(ev); err != nil {
				return
			}
			// Write what else is queued before flushing once.
			for more := true; more; {
				select {
				case ev := <-sess.events:
					if err := enc.Encode(ev); err != nil {
						return
					}
				default:
					more = false
				}
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-sess.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// end ends a session: it leaves every swarm it was in. t.mu is held.
func (t *Tracker) end(sess *session) {
	if sess.ended {
		return
	}
	sess.ended = true
	close(sess.done)
	if t.sessions[sess.id] == sess {
		delete(t.sessions, sess.id)
	}
	for d := range sess.swarms {
		t.leave(sess, d)
	}
}

// send queues ev for sess, and ends a session whose queue is full. t.mu
// is held.
func (t *Tracker) send(sess *session, ev Event) {
	if sess.ended {
		return
	}
	select {
	case sess.events <- ev:
	default:
		t.log.Warn("peer reads its stream too slowly; cutting it", "peer", sess.id)
		t.end(sess)
	}
}

// broadcast sends ev to every member of sw but skip. t.mu is held.
func (t *Tracker) broadcast(sw *swarm, ev Event, skip string) {
	for _, id := range slices.Clone(sw.order) {
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
	defer t.mu.Unlock()
	sess := t.sessions[a.Peer]
	if sess == nil {
		http.Error(w, fmt.Sprintf("announce: peer %q has no stream open: open %s first", a.Peer, StreamPath), http.StatusConflict)
		return
	}
	for _, j := range a.Join {
		if _, in := sess.swarms[j.Digest]; !in && len(sess.swarms) >= t.opts.MaxSwarmsPerPeer {
			http.Error(w, fmt.Sprintf("announce: peer %q is in %d swarms, at most %d", a.Peer, len(sess.swarms), t.opts.MaxSwarmsPerPeer), http.StatusTooManyRequests)
			return
		}
	}
	// Publications first: a fetcher's last pieces and its completion (a
	// complete join) often come in one announce, and completing ends its
	// lease.
	for _, p := range a.Publish {
		t.publish(sess, p)
	}
	for _, j := range a.Join {
		t.join(sess, j)
	}
	for _, d := range a.Complete {
		t.complete(sess, d)
	}
	for _, d := range a.Leave {
		t.leave(sess, d)
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

// join makes sess a member of the swarm of j.Digest, sends it the swarm's
// state and tells the other members. t.mu is held.
func (t *Tracker) join(sess *session, j Join) {
	d := j.Digest
	sw := t.swarms[d]
	if sw == nil {
		sw = &swarm{members: map[string]*Peer{}}
		t.swarms[d] = sw
	}
	if m := sw.members[sess.id]; m != nil {
		if j.Complete && !m.Complete {
			t.complete(sess, d)
		}
		return
	}
	me := &Peer{ID: sess.id, Addr: sess.addr, Complete: j.Complete}
	sw.members[sess.id] = me
	sw.order = append(sw.order, sess.id)
	sess.swarms[d] = struct{}{}

	// A complete member brings the layout and hashes a restarted tracker
	// lost.
	if j.Complete && j.Layout != nil && sw.layout == nil && len(j.Pieces) == j.Layout.Pieces() {
		t.setLayout(sw, d, *j.Layout, sess.id)
		t.setHashes(sw, d, j.Pieces, sess.id)
	}

	for _, id := range sw.order {
		if id != sess.id {
			t.send(sess, Event{Type: EventPeer, Digest: d, Peer: new(*sw.members[id])})
		}
	}
	if sw.layout != nil {
		t.send(sess, Event{Type: EventLayout, Digest: d, Layout: new(*sw.layout)})
		if ps := published(sw); len(ps) > 0 {
			t.send(sess, Event{Type: EventPiece, Digest: d, Pieces: ps})
		}
	}
	t.broadcast(sw, Event{Type: EventPeer, Digest: d, Peer: new(*me)}, sess.id)
	if !t.elect(sw, d) {
		t.send(sess, Event{Type: EventFetcher, Digest: d, Fetcher: sw.fetcher, Lease: sw.lease})
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
func (t *Tracker) elect(sw *swarm, d digest.Digest) bool {
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
	sw.renewed = time.Now()
	t.broadcast(sw, Event{Type: EventFetcher, Digest: d, Fetcher: sw.fetcher, Lease: sw.lease}, "")
	return true
}

// Expire passes the lease of every fetcher that published nothing for
// Options.LeaseTimeout to the next member. Run calls it periodically.
func (t *Tracker) Expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for d, sw := range t.swarms {
		if sw.fetcher == "" || now.Sub(sw.renewed) < t.opts.LeaseTimeout {
			continue
		}
		t.log.Warn("fetcher published nothing in time; passing its lease on", "digest", d, "peer", sw.fetcher)
		if sw.expired == nil {
			sw.expired = map[string]struct{}{}
		}
		sw.expired[sw.fetcher] = struct{}{}
		sw.fetcher = ""
		t.elect(sw, d)
	}
}

// Run expires fetcher leases (see Expire) until ctx is done.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(max(t.opts.LeaseTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.Expire(now)
		}
	}
}

// leave takes sess out of the swarm of d. t.mu is held.
func (t *Tracker) leave(sess *session, d digest.Digest) {
	sw := t.swarms[d]
	delete(sess.swarms, d)
	if sw == nil || sw.members[sess.id] == nil {
		return
	}
	delete(sw.members, sess.id)
	sw.order = slices.DeleteFunc(sw.order, func(id string) bool { return id == sess.id })
	if len(sw.order) == 0 {
		delete(t.swarms, d)
		return
	}
	t.broadcast(sw, Event{Type: EventGone, Digest: d, Peer: &Peer{ID: sess.id}}, "")
	t.elect(sw, d)
}

// complete records that sess holds the blob d whole. t.mu is held.
func (t *Tracker) complete(sess *session, d digest.Digest) {
	sw := t.swarms[d]
	if sw == nil {
		return
	}
	m := sw.members[sess.id]
	if m == nil || m.Complete {
		return
	}
	m.Complete = true
	t.broadcast(sw, Event{Type: EventPeer, Digest: d, Peer: new(*m)}, sess.id)
	t.elect(sw, d)
}

// publish takes what the fetcher of a swarm publishes under its lease.
// t.mu is held.
func (t *Tracker) publish(sess *session, p Publish) {
	sw := t.swarms[p.Digest]
	if sw == nil || sw.fetcher != sess.id || sw.lease != p.Lease {
		return // a fetcher that lost its lease learns it from its stream
	}
	sw.renewed = time.Now()
	// The fetcher knows what it publishes: it is not told again.
	if p.Layout != nil && sw.layout == nil {
		t.setLayout(sw, p.Digest, *p.Layout, sess.id)
	}
	if sw.layout != nil {
		t.setHashes(sw, p.Digest, p.Pieces, sess.id)
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
