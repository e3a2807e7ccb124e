package swarm

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
)

// blobsPath is the prefix of the peer API's paths.
const blobsPath = "/p2p/v1/blobs/"

// Have is one message of a have stream: pieces the sender verified since
// its last message, or that it holds the blob whole.
type Have struct {
	Pieces   []int `json:"pieces,omitempty"`
	Complete bool  `json:"complete,omitempty"`
}

// maxHaveBytes bounds one line of a have stream.
const maxHaveBytes = 8 << 20

// fetcherHaves is the least time between two lines of a have stream that
// the swarm's fetcher reads. While it streams from the origin the fetcher
// takes no piece from its peers: who holds what only steers its offers,
// which wait offerTimeout for a request and spreadTimeout to spread. Yet a
// line for each piece, each a packet of its own, cost the fetcher's
// downlink, which carries the origin stream every node waits on, about 90
// bytes a piece for each of its 31 readers at 32 nodes: the stream ended
// 0.4 s later. A line a second tells the same, five pieces a line.
const fetcherHaves = offerTimeout

func defaultHTTPClient(tlsConf *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		// A copy: a transport that speaks HTTP/2 adds "h2" to the
		// NextProtos of the configuration it is given, and this one does
		// not speak it.
		TLSClientConfig:       tlsConf.Clone(),
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
}

// neighbour is a peer the node takes pieces from, for one blob.
type neighbour struct {
	id, addr   string
	token      string // its transfer's, from its have stream's answer
	has        []bool
	refused    []bool // pieces it said it gave to another node, until it tells them again
	complete   bool
	reading    bool            // its have stream is read (readHaves)
	ctx        context.Context // the node's requests to it; ends when it is dropped
	stop       context.CancelFunc
	dropped    bool
	requesting map[int]time.Time // the pieces requested of it, and when
	busyUntil  time.Time         // it said every upload slot was busy: left alone until then
	rate       float64           // bytes a second its recent pieces came at, waits included (0: none yet)
	asked      time.Time         // when the node last sent it a request
	useful     time.Time         // when it last gave a piece, or was taken
}

// pickNeighbours takes members as neighbours until the node has
// Options.Neighbours. Peers still downloading are preferred (their upload
// is idle while nodes holding the blob whole are asked by everyone), but
// one neighbour may hold it whole, so that a swarm of cold nodes around a
// seed always reaches it. Within each kind the choice is random, so that a
// swarm's graph is well knit and no one peer, the fetcher say, serves
// everyone. A neighbour that has had nothing to give for half the stall
// timeout is let go when others could take its place. A peer that reads
// the node's have stream is taken too (follow), up to three times
// Options.Neighbours.
//
// A fetcher that super-seeds takes more members as neighbours, up to
// seedReads times Options.Neighbours (every member of a swarm of 32 at the
// default), and lets none go: it gives pieces rather than takes them, and
// what each node holds decides whom it offers a piece to, and whether a
// piece it sent has spread (seed.go). It reads no more have streams than
// that, whatever the swarm's size: each costs its downlink, which carries
// the origin stream, a packet a line (fetcherHaves). t.mu is held.
func (t *transfer) pickNeighbours(ctx context.Context) {
	want := t.n.opts.Neighbours
	if t.seed != nil {
		want = seedReads * t.n.opts.Neighbours
	}
	// Every node takes the fetcher, beyond Options.Neighbours if need be:
	// while it super-seeds it offers each new piece to one of the nodes
	// that read its have stream, and a node not among them would never
	// hold a piece the others lack, its uplink idle.
	if f, ok := t.members[t.fetcher]; ok && t.neighbours[f.ID] == nil && t.takeable(f.ID) {
		t.addNeighbour(ctx, f)
	}
	if t.seed != nil {
		t.follow(ctx, want) // its bound on have streams read holds
	} else {
		t.follow(ctx, 3*want)
		// Each peer the node picked follows it back, unless it holds its
		// bound of neighbours already; and a peer the node had nothing
		// for a while lets it go. The peers that read the node's have
		// stream are the ones that ask it for pieces: while fewer than
		// want do, it picks one more peer.
		if !t.picked.IsZero() && time.Since(t.picked) >= t.n.opts.StallTimeout/8 && t.haveReaders() < want {
			want = min(len(t.neighbours)+1, 3*want)
		}
	}
	// manage runs on every change of the transfer; a node with all the
	// neighbours it wants looks for one to let go only now and then.
	if len(t.neighbours) >= want && time.Since(t.picked) < t.n.opts.StallTimeout/8 {
		return
	}
	t.picked = time.Now()
	var downloading, whole []tracker.Peer
	for id, m := range t.members {
		if t.neighbours[id] != nil || !t.takeable(id) {
			continue
		}
		if m.Complete {
			whole = append(whole, m)
		} else {
			downloading = append(downloading, m)
		}
	}
	if len(downloading)+len(whole) > 0 && t.seed == nil {
		for _, nb := range t.neighbours {
			// The fetcher is kept: while it streams from the origin it
			// tells each new piece to one neighbour only, so it may have
			// given nothing to this one for a while.
			if time.Since(nb.useful) > t.n.opts.StallTimeout/2 && !t.gives(nb) && nb.id != t.fetcher {
				t.dropLocked(nb)
				break
			}
		}
	}
	shuffle := func(ps []tracker.Peer) {
		rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	}
	shuffle(downloading)
	shuffle(whole)
	hasWhole := false
	for _, nb := range t.neighbours {
		hasWhole = hasWhole || nb.complete || t.members[nb.id].Complete
	}
	var pick []tracker.Peer
	if !hasWhole && len(whole) > 0 {
		pick, whole = append(pick, whole[0]), whole[1:]
	}
	pick = append(append(pick, downloading...), whole...)
	for _, m := range pick[:min(len(pick), max(0, want-len(t.neighbours)))] {
		t.addNeighbour(ctx, m)
	}
}

// follow takes as neighbours, up to most, the peers that began to read
// the node's have stream: a node is then read by at least the peers it
// reads. Picked at random alone, some nodes were read by a third as many
// peers as others, and their uplinks idled while the others' were asked
// more than they could send. A follower not yet a member (the tracker's
// news of it still on its way) is kept for later; each is followed once
// per stream it opens, so that one let go is not taken again at once.
// t.mu is held.
func (t *transfer) follow(ctx context.Context, most int) {
	keep := t.followers[:0]
	for _, id := range t.followers {
		m, ok := t.members[id]
		switch {
		case !ok:
			keep = append(keep, id)
		case t.neighbours[id] == nil && len(t.neighbours) < most && t.takeable(id):
			t.addNeighbour(ctx, m)
		}
	}
	t.followers = keep[:min(len(keep), most)]
}

// haveReaders counts the peers other than the fetcher that read the node's
// have stream. t.mu is held.
func (t *transfer) haveReaders() int {
	n := 0
	for id := range t.watchers {
		if id != t.fetcher {
			n++
		}
	}
	return n
}

// gives reports whether nb holds a piece the node lacks. t.mu is held.
func (t *transfer) gives(nb *neighbour) bool {
	for i, st := range t.state {
		if st == missing && (nb.complete || nb.has[i]) && !nb.refused[i] {
			return true
		}
	}
	return false
}

// addNeighbour starts taking pieces from m, and reads its have stream
// unless the node takes the blob down its trees: m is a parent there, and
// the pieces it holds come in its stripe's answer (tree.go). t.mu is
// held.
func (t *transfer) addNeighbour(ctx context.Context, m tracker.Peer) {
	nctx, stop := context.WithCancel(ctx)
	nb := &neighbour{
		id: m.ID, addr: m.Addr,
		has:        make([]bool, len(t.state)),
		refused:    make([]bool, len(t.state)),
		ctx:        nctx,
		stop:       stop,
		requesting: map[int]time.Time{},
		useful:     time.Now(),
	}
	t.neighbours[m.ID] = nb
	if t.requests() {
		t.readHaves(nb)
	}
	t.signal() // a neighbour to ask
}

// readHaves starts reading nb's have stream, if the node does not yet.
// t.mu is held.
func (t *transfer) readHaves(nb *neighbour) {
	if !nb.reading {
		nb.reading = true
		t.n.spawn(func() { t.watch(nb.ctx, nb) })
	}
}

// dropLocked stops taking pieces from nb. t.mu is held.
func (t *transfer) dropLocked(nb *neighbour) {
	if nb.dropped {
		return
	}
	nb.dropped = true
	nb.stop()
	delete(t.neighbours, nb.id)
	wait := rejoinWait
	if a, ok := t.away[nb.id]; ok {
		wait = min(2*a.wait, max(rejoinWait, t.n.opts.StallTimeout))
	}
	if t.away == nil {
		t.away = map[string]away{}
	}
	t.away[nb.id] = away{until: time.Now().Add(wait), wait: wait}
	for i, h := range nb.has {
		if h || nb.complete {
			t.avail[i]--
		}
	}
	t.signal()
}

// away is a peer the node dropped as a neighbour: it is not taken again
// before until. wait is how long it was left alone, doubled each time it
// is dropped again.
type away struct {
	until time.Time
	wait  time.Duration
}

// rejoinWait is how long a node leaves a peer it dropped as a neighbour
// before it takes it again, at first: twice that after the next drop,
// and so on up to Options.StallTimeout. A peer whose have stream failed
// at once (it holds no transfer of the blob, it is restarting, it refuses
// the node) was taken again at once, over a thousand times a second.
const rejoinWait = 500 * time.Millisecond

// takeable reports whether the node may take peer as a neighbour: it is
// not banned, nor left alone after it was dropped. t.mu is held.
func (t *transfer) takeable(peer string) bool {
	return !t.n.isBanned(peer) && time.Now().After(t.away[peer].until)
}

// watch reads nb's have stream for the blob. A neighbour whose stream
// ends before it said it holds the blob whole is dropped.
func (t *transfer) watch(ctx context.Context, nb *neighbour) {
	defer func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !nb.complete {
			t.dropLocked(nb)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nb.addr+blobsPath+t.d.String()+"/have", nil)
	if err != nil {
		return
	}
	req.Header.Set(peerHeader, t.n.opts.ID)
	req.Header.Set(transferHeader, t.token)
	resp, err := t.n.opts.HTTP.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		t.n.refusedBy(nb.id)
		return
	}
	if resp.StatusCode != http.StatusOK {
		return
	}
	t.mu.Lock()
	nb.token = resp.Header.Get(transferHeader)
	t.mu.Unlock()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxHaveBytes)
	for sc.Scan() {
		if !t.have(nb, sc.Bytes()) {
			return
		}
	}
}

// have takes one line of nb's have stream; false means stop reading it
// (a line that is not a Have, or nb dropped).
func (t *transfer) have(nb *neighbour, line []byte) bool {
	var h Have
	if json.Unmarshal(line, &h) != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if nb.dropped {
		return false
	}
	// Only news of a piece the node lacks wakes its requesters (or, while
	// it super-seeds, its offers): a neighbour tells every piece it
	// verifies, many of them pieces the node holds already.
	news := h.Complete && !nb.complete || t.seed != nil
	for _, i := range h.Pieces {
		if i < 0 || i >= len(nb.has) {
			continue
		}
		nb.refused[i] = false // told again: offered again
		if !nb.has[i] && !nb.complete {
			nb.has[i] = true
			t.avail[i]++
		}
		news = news || t.state[i] == missing
	}
	if h.Complete && !nb.complete {
		for i, had := range nb.has {
			if !had {
				t.avail[i]++
			}
		}
		nb.complete = true
	}
	if news {
		t.signal()
	}
	return true
}

// requester makes requests of the blob's pieces, one after the other,
// each of the neighbour choose names. Options.Requests of them run for a
// transfer, so that many requests are in flight; and Options.Pipeline
// more that ask only the fetcher (fetcherOnly), whatever the node's other
// requests, until it holds the blob whole: while it super-seeds, a piece
// it offers this node is to be had from no one else, and its uplink idles
// until the node asks.
func (t *transfer) requester(ctx context.Context, fetcherOnly bool) {
	for {
		c, ok := t.next(ctx, fetcherOnly)
		if !ok {
			return
		}
		t.request(c)
	}
}

// choice is a piece to request, and the neighbour to request it of.
type choice struct {
	piece int
	nb    *neighbour
	extra bool // a request of the fetcher beyond Options.Requests
}

// next waits for the next request to make (choose, or rarestOf the
// fetcher), and counts it in flight. ok is false when the transfer ended.
func (t *transfer) next(ctx context.Context, fetcherOnly bool) (c choice, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.complete || t.failed != nil || ctx.Err() != nil {
			return c, false
		}
		c = choice{}
		now := time.Now()
		var retry time.Time
		if fetcherOnly {
			if nb := t.neighbours[t.fetcher]; nb != nil && !nb.complete && t.canAsk(nb, now, &retry) {
				c = choice{piece: t.rarestOf(nb), nb: nb, extra: true}
			}
		} else if t.active-t.extra < t.n.opts.Requests {
			c = t.choose(now, &retry)
		}
		if c.nb != nil && c.piece >= 0 {
			t.inFlight(c, now)
			c.nb.asked = now
			t.trace("piece asked", "piece", c.piece, "peer", c.nb.id, "extra", c.extra)
			return c, true
		}
		t.waitUntil(ctx, retry)
	}
}

// inFlight counts c's request in flight, made at now; request counts it
// out. t.mu is held.
func (t *transfer) inFlight(c choice, now time.Time) {
	t.active++
	if c.extra {
		t.extra++
	}
	t.inflight[c.piece]++
	c.nb.requesting[c.piece] = now
}

// canAsk reports whether the node may send nb another request: it has
// fewer than Options.Pipeline in flight there, and did not say it was busy
// a moment ago (then retry is moved to when it may be asked again, if
// that is sooner). t.mu is held.
func (t *transfer) canAsk(nb *neighbour, now time.Time, retry *time.Time) bool {
	if nb.dropped || len(nb.requesting) >= t.n.opts.Pipeline {
		return false
	}
	if nb.busyUntil.After(now) {
		if retry.IsZero() || nb.busyUntil.Before(*retry) {
			*retry = nb.busyUntil
		}
		return false
	}
	return true
}

// choose returns the request the node makes next: of the neighbours the
// node may ask (canAsk) and that hold a piece no request is out for, the
// one whose pieces came fastest of late (its uplink has room), and of its
// pieces the one fewest neighbours hold. In the endgame (a request is out
// for every missing piece) it is a piece requested elsewhere. c.nb is nil
// if there is none. t.mu is held.
func (t *transfer) choose(now time.Time, retry *time.Time) (c choice) {
	if t.layout == nil {
		return c
	}
	var ask []*neighbour
	for _, nb := range t.neighbours {
		if t.canAsk(nb, now, retry) {
			ask = append(ask, nb)
		}
	}
	if len(ask) == 0 {
		return c
	}
	rand.Shuffle(len(ask), func(i, j int) { ask[i], ask[j] = ask[j], ask[i] })
	l := t.layout
	slices.SortStableFunc(ask, func(a, b *neighbour) int { return cmp.Compare(b.score(now, l), a.score(now, l)) })
	for _, nb := range ask {
		if i := t.rarestOf(nb); i >= 0 {
			return choice{piece: i, nb: nb}
		}
	}
	if !t.endgame() {
		return c
	}
	for i, st := range t.state {
		if st == missing && t.hashes[i] != "" && t.inflight[i] < 2 && !t.downTree(i%treeStripes) {
			if nb := fastest(ask, i, func(nb *neighbour) bool { _, ok := nb.requesting[i]; return ok || t.spares(nb) }, now, t.layout); nb != nil {
				return choice{piece: i, nb: nb}
			}
		}
	}
	return c
}

// endgame reports whether a request is out for every missing piece, and
// some piece is missing. t.mu is held.
func (t *transfer) endgame() bool {
	some := false
	for i, st := range t.state {
		if st == missing && !t.downTree(i%treeStripes) {
			if t.inflight[i] == 0 {
				return false // a piece not yet asked for, or not yet published
			}
			some = true
		}
	}
	return some
}

// fastest is the neighbour of ask that holds piece i, has not refused it,
// and is not one of except, with the best score; nil if none.
func fastest(ask []*neighbour, i int, except func(*neighbour) bool, now time.Time, l *tracker.Layout) *neighbour {
	var best *neighbour
	for _, nb := range ask {
		if (nb.complete || nb.has[i]) && !nb.refused[i] && (except == nil || !except(nb)) && (best == nil || nb.score(now, l) > best.score(now, l)) {
			best = nb
		}
	}
	return best
}

// retryRate is how long a neighbour is left unasked before its rate is
// measured anew: it is then asked before any other, once. A neighbour
// whose uplink was full when it was last asked may have room now, and one
// never asked has no rate yet.
const retryRate = time.Second

// score ranks a neighbour for the node's next request: the rate its
// recent pieces came at, or less if a piece requested of it takes longer
// than that rate says; or, if it has not been asked for retryRate and has
// no request in flight, first of all.
func (nb *neighbour) score(now time.Time, l *tracker.Layout) float64 {
	if len(nb.requesting) == 0 && now.Sub(nb.asked) > retryRate {
		return math.Inf(1)
	}
	r := nb.rate
	for i, at := range nb.requesting {
		_, size := l.Bounds(i)
		r = min(r, float64(size)/max(now.Sub(at).Seconds(), 1e-6))
	}
	return r
}

// rarestOf is the piece nb holds, and no request is out for, that fewest
// neighbours hold; -1 if none, or if nb is a small blob's fetcher that
// feeds its trees (spares). Of a node that took the blob down trees, it
// is the first such piece instead: the node passes its stripes on in
// order down the trees, and the first pieces it lacks are the ones most
// nodes hold, so its requests spread over their uplinks rather than all
// going to the few nodes that hold the newest pieces, the trees' top.
// t.mu is held.
func (t *transfer) rarestOf(nb *neighbour) int {
	if t.spares(nb) {
		return -1
	}
	best, ties := -1, 0
	for i, st := range t.state {
		if st != missing || t.hashes[i] == "" || !nb.complete && !nb.has[i] || nb.refused[i] || t.inflight[i] > 0 || t.downTree(i%treeStripes) {
			continue
		}
		if t.treeBlob() && t.trees.root != "" {
			return i
		}
		switch {
		case best < 0 || t.avail[i] < t.avail[best]:
			best, ties = i, 1
		case t.avail[i] == t.avail[best]:
			ties++
			if rand.N(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// spares reports whether nb is a small blob's fetcher that does not hold
// it whole yet and feeds the trees: its uplink feeds their roots as the
// origin's stream brings the pieces, and a node that left the trees, or
// a stripe of them, asks it for nothing until it holds the blob. (Asked
// as any neighbour, its pieces coming fastest, the fetcher sent nine
// nodes that had left the trees behind a slow one 0.88 of the blob more,
// and every node in the trees took it at half the pace; asked only for a
// piece that one other neighbour held at most, it still sent six such
// nodes 0.78 more: they caught up with the trees and wanted each new
// piece as it came.) A fetcher that took over from a dead one is not
// the trees' root and feeds none: it is asked as any neighbour (spared,
// the nodes waited for it to hold the blob whole, 9-11 s where it took
// 3.8: BENCHMARKS.md, the thirty-fifth session). t.mu is held.
func (t *transfer) spares(nb *neighbour) bool {
	return t.treeBlob() && nb.id == t.fetcher && nb.id == t.trees.root && !nb.complete
}

// waitUntil waits for a change of the transfer, for ctx, or until at if
// it is not zero. t.mu is held, and is held again on return.
func (t *transfer) waitUntil(ctx context.Context, at time.Time) {
	if at.IsZero() {
		t.wait(ctx)
		return
	}
	ch := t.changed
	t.mu.Unlock()
	tm := time.NewTimer(time.Until(at))
	select {
	case <-ch:
	case <-ctx.Done():
	case <-tm.C:
	}
	tm.Stop()
	t.mu.Lock()
}

// request takes the piece c names from its neighbour, and records how it
// went: the piece's rate, a neighbour busy or that gave the piece to
// another node, or one that failed (dropped).
func (t *transfer) request(c choice) {
	nb, i := c.nb, c.piece
	ctx, cancel := context.WithCancel(nb.ctx)
	defer cancel()
	t.mu.Lock()
	if t.taking == nil {
		t.taking = map[int]map[*neighbour]context.CancelFunc{}
	}
	if t.taking[i] == nil {
		t.taking[i] = map[*neighbour]context.CancelFunc{}
	}
	t.taking[i][nb] = cancel
	t.mu.Unlock()
	start := time.Now()
	size, err := t.takePiece(ctx, nb, i)
	t.settle(c, start, size, err, ctx.Err() != nil && nb.ctx.Err() == nil)
}

// settle counts out the request c, made at start, that brought size bytes
// or failed with err, and records how it went; dropped says the request
// was cancelled though its neighbour was not. A neighbour that sent a
// corrupt piece is banned.
func (t *transfer) settle(c choice, start time.Time, size int64, err error, dropped bool) {
	nb, i := c.nb, c.piece
	if errors.As(err, new(errCorrupt)) {
		t.n.corrupt.Add(1)
		t.n.log.Warn("banning a peer that served a corrupt piece", "digest", t.d, "peer", nb.id, "err", err)
		t.n.ban(nb.id) // and dropped from every transfer: settle logs it no more
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if delete(t.taking[i], nb); len(t.taking[i]) == 0 {
		delete(t.taking, i)
	}
	t.inflight[i]--
	t.active--
	if c.extra {
		t.extra--
	}
	delete(nb.requesting, i)
	defer t.signal() // the request's room, and its piece, are free for others
	var given errGiven
	switch {
	case err == nil:
		r := float64(size) / max(time.Since(start).Seconds(), 1e-6)
		if nb.rate == 0 {
			nb.rate = r
		} else {
			nb.rate = (nb.rate + r) / 2
		}
	case errors.As(err, &given):
		// A fetcher that super-seeds gave the piece to another node: it is
		// to be had from that node soon, not from this one.
		t.trace("piece given elsewhere", "piece", i, "peer", nb.id, "to", given.to)
		nb.refused[i] = true // not asked for again here unless told again
		if nb.has[i] && !nb.complete {
			nb.has[i] = false
			t.avail[i]--
		}
	case dropped:
		// The piece landed from another neighbour first (the endgame asks
		// two for it): the rest of this copy would only take bandwidth
		// from the pieces still missing, here and at the neighbour.
		t.trace("piece copy dropped", "piece", i, "peer", nb.id)
	case errors.Is(err, errBusy), errors.Is(err, errCut):
		// This neighbour is asked again after a pause, and is slower for
		// the choice of neighbours until its pieces say otherwise. (An
		// answer cut short is from a neighbour that lost the copy it
		// passed on, or that died: then its have streams end, and it is
		// dropped.)
		t.trace("peer busy", "piece", i, "peer", nb.id, "cut", errors.Is(err, errCut))
		nb.busyUntil = time.Now().Add(busyBackoff + rand.N(busyBackoff))
		nb.rate /= 2
	case errors.Is(err, errRefused):
		// Dropped, and banned, by refusedBy.
	default:
		if nb.ctx.Err() == nil {
			t.n.log.Warn("dropping a neighbour", "digest", t.d, "peer", nb.id, "err", err)
		}
		t.dropLocked(nb)
	}
}

// bufs holds piece buffers for reuse, a pool per size (a few sizes are in
// use at once: PieceSize's powers of two, and the last pieces of blobs).
var bufs sync.Map // int -> *sync.Pool of *[]byte

// getBuf returns a buffer of n bytes, not zeroed.
func getBuf(n int64) []byte {
	p, _ := bufs.LoadOrStore(int(n), &sync.Pool{New: func() any {
		b := make([]byte, n)
		return &b
	}})
	return *p.(*sync.Pool).Get().(*[]byte)
}

// putBuf gives a buffer of getBuf back.
func putBuf(b []byte) {
	if p, ok := bufs.Load(len(b)); ok {
		p.(*sync.Pool).Put(&b)
	}
}

// alive is a reader that records when bytes last came through it: a
// piece on its way is progress, though it has not landed yet.
type alive struct {
	r  io.Reader
	at *atomic.Int64
}

func (a *alive) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.at.Store(time.Now().UnixNano())
	}
	return n, err
}

// errCorrupt marks a piece that did not match its hash, or whose block
// list was missing or wrong (why): its neighbour is banned.
type errCorrupt struct {
	piece int
	why   string
}

func (e errCorrupt) Error() string {
	if e.why != "" {
		return fmt.Sprintf("piece %d: %s", e.piece, e.why)
	}
	return fmt.Sprintf("piece %d does not match its published hash", e.piece)
}

// takePiece requests piece i of nb, checks it and keeps it (keepPiece),
// and returns its size.
func (t *transfer) takePiece(ctx context.Context, nb *neighbour, i int) (int64, error) {
	t.mu.Lock()
	l := *t.layout
	off, size := l.Bounds(i)
	want := t.hashes[i]
	// A piece cut into blocks is read a block at a time at most, so that
	// each block passes on as it comes.
	batch := batchFor(nb.rate, t.n.opts.StallTimeout)
	bs := l.BlockSize(i)
	if bs > 0 {
		batch = min(batch, int(bs))
	}
	t.mu.Unlock()
	h := http.Header{}
	h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+size-1))
	if bs > 0 {
		h.Set(blockSizeHeader, strconv.FormatInt(bs, 10))
	}
	resp, conn, err := t.ask(ctx, nb, h)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := t.answered(resp, nb, i, http.StatusPartialContent); err != nil {
		return 0, err
	}
	var list []byte
	if l.PieceBlocks > 0 {
		if list, err = readBlockList(resp.Header.Get(blocksHeader), l, i, want); err != nil {
			return 0, err
		}
	}
	return t.keepPiece(nb, l, i, list, want, t.bodyOf(ctx, resp, conn, size, batch))
}

// ask sends nb a request for the blob with the headers h and the node's
// name, and returns the answer and the connection it came on.
func (t *transfer) ask(ctx context.Context, nb *neighbour, h http.Header) (*http.Response, net.Conn, error) {
	var conn net.Conn
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { conn = ci.Conn }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nb.addr+blobsPath+t.d.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header = h
	req.Header.Set(peerHeader, t.n.opts.ID)
	resp, err := t.n.opts.HTTP.Do(req)
	return resp, conn, err
}

// bodyOf returns the body of an answer to ask, left bytes, to be read
// batch bytes at a time at most (batched), within the download rate, its
// bytes counted as the swarm's progress (alive).
func (t *transfer) bodyOf(ctx context.Context, resp *http.Response, conn net.Conn, left int64, batch int) io.Reader {
	var body io.Reader = resp.Body
	if slack := readSlack(t.n.opts.HTTP); slack >= 0 {
		body = batched(body, conn, left, slack, batch)
	}
	return &alive{r: limit(ctx, body, t.n.downRate), at: &t.bytesAt}
}

// answered returns the error a neighbour's answer to a request about piece
// i says, nil if its status is ok.
func (t *transfer) answered(resp *http.Response, nb *neighbour, i, ok int) error {
	switch resp.StatusCode {
	case ok:
		return nil
	case http.StatusForbidden:
		t.n.refusedBy(nb.id)
		return fmt.Errorf("piece %d: %w", i, errRefused)
	case http.StatusServiceUnavailable:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // keep the connection
		if to := resp.Header.Get(givenHeader); to != "" {
			return fmt.Errorf("piece %d: %w", i, errGiven{to: to})
		}
		return fmt.Errorf("piece %d: %w", i, errBusy)
	default:
		return fmt.Errorf("piece %d: %s", i, resp.Status)
	}
}

// keepPiece reads piece i of l from src, checks it, against its block
// list (checked against want) if the layout has blocks or else against
// want, keeps it and lands it, and returns its size.
func (t *transfer) keepPiece(nb *neighbour, l tracker.Layout, i int, list []byte, want digest.Digest, src io.Reader) (int64, error) {
	off, size := l.Bounds(i)
	buf := getBuf(size)
	defer putBuf(buf)
	var a *arrival
	var err error
	if l.PieceBlocks > 0 {
		a, err = t.takeBlocks(nb, l, i, list, buf, src)
	} else if _, err = io.ReadFull(src, buf); err != nil {
		err = fmt.Errorf("piece %d: %w: %w", i, errCut, err)
	} else if digest.FromBytes(buf) != want {
		err = errCorrupt{piece: i}
	}
	if err != nil {
		return 0, err
	}
	t.n.peerBytes.Add(size)
	t.mu.Lock()
	st := t.state[i]
	t.mu.Unlock()
	if st == missing && a == nil { // an arrival kept its blocks as they came
		if _, err := t.file.WriteAt(buf, off); err != nil {
			return 0, err
		}
	}
	t.mu.Lock()
	if a != nil && t.arriving[i] == a {
		delete(t.arriving, i)
	}
	t.trace("piece from peer", "piece", i, "peer", nb.id)
	t.peerBytes += size
	nb.useful = time.Now()
	delete(t.taking[i], nb) // this copy is done: the others are dropped
	t.land(i, verified)
	t.mu.Unlock()
	return size, nil
}

// Handler serves the node's pieces to other nodes (see the package
// documentation). Its http.Server's ConnContext is to be ConnContext, so
// that Options.UploadSlots bounds the small pieces on their way to peers,
// not only those being copied into sockets.
func (n *Node) Handler() http.Handler {
	return http.HandlerFunc(n.serve)
}

func (n *Node) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, blobsPath)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w = newStallWriter(w, n.opts.StallTimeout)
	ctx, done, ok := n.admit(r.Context(), r.Header.Get(peerHeader))
	if !ok {
		http.Error(w, "this node banned the peer: it served a corrupt piece", http.StatusForbidden)
		return
	}
	defer done()
	r = r.WithContext(ctx)
	ds, have := strings.CutSuffix(rest, "/have")
	d, err := digest.Parse(ds)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	t := n.transfers[d]
	n.mu.Unlock()
	if t == nil {
		http.NotFound(w, r)
		return
	}
	switch stripe := r.Header.Get(stripeHeader); {
	case have:
		t.serveHave(w, r)
	case stripe != "":
		t.serveStripe(w, r, stripe)
	default:
		t.serveRange(w, r)
	}
}

// serveHave streams the pieces the node verified, as it verifies them. It
// wakes only when the log of verified pieces or the blob's end changes.
//
// While the node super-seeds the blob (seed.go), a stream of a named peer
// tells only the pieces the node offers that peer and those told to all;
// when the seeding ends, it tells every piece verified. A stream that the
// swarm's fetcher reads says at most a line each fetcherHaves.
func (t *transfer) serveHave(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(transferHeader, t.token)
	w.WriteHeader(http.StatusOK)
	// Answered at once: the reader gives up on a stream whose headers
	// have not come after its client's response header timeout.
	if rc.Flush() != nil {
		return
	}
	enc := json.NewEncoder(w)
	peer, token := r.Header.Get(peerHeader), r.Header.Get(transferHeader)
	sent, seedSent := 0, 0
	var seed *seeding // the seeding this stream is counted in
	if peer != "" {
		t.mu.Lock()
		if !t.complete && t.failed == nil {
			t.followers = append(t.followers, peer) // read in turn (follow)
			t.signal()
		}
		if t.watchers == nil {
			t.watchers = map[string]int{}
		}
		t.watchers[peer]++
		t.mu.Unlock()
		defer func() {
			t.mu.Lock()
			if t.watchers[peer]--; t.watchers[peer] <= 0 {
				delete(t.watchers, peer)
			}
			t.mu.Unlock()
		}()
	}
	defer func() {
		if seed != nil {
			t.mu.Lock()
			seed.unwatch(peer, time.Now(), t.heldElsewhere)
			t.signal()
			t.mu.Unlock()
		}
	}()
	for {
		t.mu.Lock()
		complete, failed := t.complete, t.failed != nil
		var batch []int
		if t.seed != seed && peer != "" {
			if seed != nil {
				seed.unwatch(peer, time.Now(), t.heldElsewhere)
				sent = 0 // the seeding ended: tell everything
			}
			seed, seedSent = t.seed, 0
			if seed != nil {
				seed.watch(peer, time.Now())
			}
			t.signal()
		}
		if seed != nil {
			for _, rv := range seed.log[seedSent:] {
				if rv.to == "" || rv.to == peer {
					batch = append(batch, rv.piece)
				}
			}
			seedSent = len(seed.log)
		} else {
			sent = min(sent, len(t.log)) // the log restarts when the swarm's hashes were lies
			batch = t.log[sent:]
			if nb := t.neighbours[peer]; nb != nil && token != "" && nb.token == token && peer != t.fetcher {
				// Not told the pieces it told this node it holds. (The
				// fetcher is told everything: it learns from the lines
				// whether the pieces it gave spread.)
				batch = nil
				for _, i := range t.log[sent:] {
					if !nb.has[i] {
						batch = append(batch, i)
					}
				}
			}
			sent = len(t.log)
		}
		ch := t.logged
		toFetcher := peer != "" && peer == t.fetcher
		t.mu.Unlock()
		var msg Have
		switch {
		case failed:
			return
		case complete:
			msg.Complete = true
		case len(batch) > 0:
			msg.Pieces = batch
		}
		if msg.Complete || len(msg.Pieces) > 0 {
			if enc.Encode(msg) != nil || rc.Flush() != nil || msg.Complete {
				return
			}
			if toFetcher {
				select {
				case <-time.After(fetcherHaves): // the pieces verified meanwhile go in one line
				case <-r.Context().Done():
					return
				}
			}
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

// serveRange serves a range of the blob: anything once the node holds it
// whole, else exactly one piece, verified or arriving (blocks.go).
func (t *transfer) serveRange(w http.ResponseWriter, r *http.Request) {
	off, end, ok := parseRange(r.Header.Get("Range"))
	if !ok || end >= t.size {
		http.Error(w, "want one range of bytes within the blob", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	peer := r.Header.Get(peerHeader)
	wait := slotWait
	bs, err := blockSizeOf(r.Header.Get(blockSizeHeader), end-off+1)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	served, piece, listed := t.complete, -1, -1
	var a *arrival
	if t.layout != nil && (served || !t.ownPlan) {
		i := t.layout.Index(off)
		if po, ps := t.layout.Bounds(i); po == off && po+ps-1 == end {
			listed = i // its block list is kept (blockListOf)
			if !served && !t.ownPlan {
				piece, served = i, t.state[i] == verified
			}
		}
		if piece >= 0 && !served && t.told[i] && bs == t.layout.BlockSize(i) {
			// Told to the neighbours at its first block (takeBlocks).
			if a = t.arriving[i]; a == nil {
				// The copy it came in was lost; another comes.
				t.mu.Unlock()
				http.Error(w, "this piece is on its way again; ask later", http.StatusServiceUnavailable)
				return
			}
			served = true
		}
	}
	// A piece the node super-seeds goes to one peer only (seed.go).
	seed := t.seed
	if !served || seed == nil || piece < 0 || peer == "" {
		seed = nil
	} else if ok, holder, seeded := seed.claim(piece, peer); !ok {
		t.mu.Unlock()
		refuse(w, holder)
		return
	} else if seeded {
		wait = giveUpOffers // to be had nowhere else: worth waiting for a slot
	} else {
		seed = nil
	}
	t.mu.Unlock()
	if !served {
		http.Error(w, "this node holds no verified piece there", http.StatusNotFound)
		return
	}
	// sent tells the seeding how the sending ended.
	sent := func(whole bool) {
		if seed == nil {
			return
		}
		t.mu.Lock()
		if t.seed == seed {
			now := time.Now()
			seed.sent(piece, peer, whole, now)
			t.seedOver(now)
			t.signal()
		}
		t.mu.Unlock()
	}
	select {
	case t.n.slots <- struct{}{}:
		defer func() { <-t.n.slots }()
	case <-time.After(wait):
		sent(false)
		http.Error(w, "every upload slot is busy; ask another peer", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		sent(false)
		return
	}
	if seed != nil {
		t.mu.Lock()
		if t.seed == seed {
			seed.start(piece, peer, time.Now())
			t.signal()
		}
		t.mu.Unlock()
	}
	size := end - off + 1
	if bs > 0 {
		var list []byte
		if a != nil {
			list = a.list
		} else if list, err = t.blockListOf(listed, off, size, bs); err != nil {
			sent(false)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set(blocksHeader, base64.StdEncoding.EncodeToString(list))
	}
	holdSlot(r.Context(), size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end, t.size))
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusPartialContent)
	var n int64
	if a != nil {
		n = t.serveArriving(r.Context(), w, piece, a, off, size, false)
	} else {
		n, _ = io.Copy(w, limit(r.Context(), io.NewSectionReader(t.file, off, size), t.n.upRate))
	}
	t.n.servedBytes.Add(n)
	sent(n == size) // a send cut short (the peer gone) is offered again
}

// refuse answers a request for a piece the node super-seeds and gave to
// another peer: the requester takes it from that peer (or any other).
func refuse(w http.ResponseWriter, holder string) {
	w.Header().Set(givenHeader, holder)
	http.Error(w, "this piece was given to another peer; take it from there", http.StatusServiceUnavailable)
}

// slotWait is how long a piece request waits for an upload slot before
// it is answered 503: briefly, so that a requester whose neighbour is busy
// asks another for the piece rather than queueing behind the first.
const slotWait = 50 * time.Millisecond

// busyBackoff is the least time a node leaves a busy neighbour alone (up
// to twice as long, at random, so the requests of many nodes spread out).
const busyBackoff = 150 * time.Millisecond

// errBusy marks a piece request its neighbour had no upload slot for.
var errBusy = errors.New("every upload slot of the neighbour is busy")

// errRefused marks a request the neighbour refused: it banned this node.
var errRefused = errors.New("the neighbour refuses this node")

// errCut marks a piece whose answer ended before the piece did.
var errCut = errors.New("the answer ended early")

// errGiven marks a piece request its neighbour refused: it super-seeds the
// blob and gave the piece to the node to.
type errGiven struct{ to string }

func (e errGiven) Error() string {
	return "the neighbour gave the piece to " + e.to
}

// parseRange parses "bytes=A-B".
func parseRange(s string) (off, end int64, ok bool) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	off, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || off < 0 || end < off {
		return 0, 0, false
	}
	return off, end, true
}
