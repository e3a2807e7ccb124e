package swarm

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/opencontainers/go-digest"
	"golang.org/x/time/rate"
)

// Origin opens a blob at its origin from byte off to its end. Each Fetch
// brings the Origin of its caller, with the caller's credentials.
type Origin func(ctx context.Context, off int64) (io.ReadCloser, error)

// Options configure a Node. ID, Addr, Tracker and Dir are required.
type Options struct {
	// ID names the node in its swarms; stable across restarts.
	ID string
	// Addr is where other nodes reach Handler (host:port).
	Addr string
	// Tracker is the tracker's base URL, or the base URLs of its
	// replicas separated by commas (see tracker.Client).
	Tracker string
	// Dir holds the node's blobs: whole ones under blobs/, partial ones
	// under partial/.
	Dir string
	// HTTP is the client for the tracker and the peers. Default: one with
	// a short dial timeout and enough idle connections per peer for
	// Pipeline requests; its overall timeout must be zero.
	HTTP *http.Client
	// TLS configures the default HTTP client's TLS, for a tracker served
	// over HTTPS with a private CA. Ignored with HTTP set. Default: the
	// system's roots.
	TLS *tls.Config
	// Neighbours is how many peers a node takes pieces from at once: it
	// hears of every piece each of them gets, and asks whichever holds the
	// piece it wants. Default 12.
	Neighbours int
	// Pipeline is how many piece requests a node keeps in flight to each
	// neighbour. Default 2.
	Pipeline int
	// Requests bounds the piece requests a node keeps in flight for one
	// blob, over all its neighbours: few enough that each piece comes
	// whole soon (and can be passed on), enough to fill the node's
	// downlink from peers that each send slower. Default 6.
	Requests int
	// StallTimeout is how long a blob may make no progress in the swarm
	// before the node fetches what is missing from the origin itself
	// (unless another node holds the lease to fetch it and is still
	// publishing its pieces: see the package documentation). Default 5 s.
	StallTimeout time.Duration
	// Logger receives the node's warnings. Default: none.
	Logger *slog.Logger
	// CacheBytes bounds the bytes of the whole blobs the node keeps: past
	// it, the least recently asked for that no reader is reading are
	// dropped (and left at the tracker). 0: no bound.
	CacheBytes int64
	// DownloadRate and UploadRate bound the bytes per second the node
	// takes in (from peers and the origin) and sends to peers. 0: none.
	DownloadRate, UploadRate int64
	// UploadSlots bounds the pieces the node sends to peers at once; more
	// requests wait briefly for a slot, then are told the node is busy, so
	// that their node asks elsewhere and comes back a little later.
	// Sending a few pieces whole, rather than every piece asked for a
	// little at a time, lets each reach its peer soon enough to be passed
	// on. A slot is held while its piece is written to the peer's socket:
	// for a piece of 64 KiB, until it is nearly on the wire (with Handler
	// served with ConnContext); for a larger one, until the socket's
	// buffer has taken the rest. Default 4.
	UploadSlots int
	// TreeBlobs is the size of the largest blob that goes down trees
	// (tree.go) rather than by the swarm's requests; negative: none.
	// Default 64 MiB.
	TreeBlobs int64
	// Leaf has the node take small blobs' trees as a leaf only, passing
	// on no stripe (tracker.Peer.Leaf, leafParent): for a node on a
	// lesser or busy link, which inside a tree would hold every node below
	// it to its pace. It still serves the swarm's requests.
	Leaf bool
	// TreeBehind is how far behind the other a stripe may fall, at least,
	// before it leaves its tree (stripeLanded). Default 2 s.
	TreeBehind time.Duration
	// OnPull, if set, is called once for each reader of Fetch when it
	// ends: a record of the pull from which completion times and their
	// percentiles are computed.
	OnPull func(PullRecord)
}

// PullRecord is what one reader of Fetch got.
type PullRecord struct {
	Digest digest.Digest
	Size   int64
	// Start is when Fetch was called; FirstByte and Took are the times to
	// the first byte read (0 if none came) and to the end.
	Start           time.Time
	FirstByte, Took time.Duration
	// Err is why the reader ended before the blob's end, or nil.
	Err error
	// OriginBytes and PeerBytes are the bytes of the blob that came to
	// this node from the origin and from peers, until the end of the read.
	OriginBytes, PeerBytes int64
	// Fallback says the node went to the origin because the swarm stalled.
	Fallback bool
}

// Stats are a node's counters since it started.
type Stats struct {
	// OriginBytes came from the origin, PeerBytes from other nodes.
	OriginBytes, PeerBytes int64
	// ServedBytes went to other nodes.
	ServedBytes int64
	// OriginFetches counts the origin requests, Fallbacks those made
	// because the swarm stalled.
	OriginFetches, Fallbacks int64
	// CorruptPieces counts pieces that did not match their hash.
	CorruptPieces int64
	// TreesLeft counts small blobs whose trees the node left midway for
	// the swarm's requests: a request down a tree failed or fell behind,
	// or the blob stalled (tree.go).
	TreesLeft int64
}

// Node is one peer of the swarms: it fetches blobs for its callers and
// serves their pieces to other nodes.
type Node struct {
	opts  Options
	log   *slog.Logger
	debug bool // log at debug level the pieces' way through the node (trace)
	trk   *tracker.Client

	// mu guards transfers; a transfer's own lock may be taken under it,
	// never the other way round.
	mu        sync.Mutex
	transfers map[digest.Digest]*transfer

	bmu    sync.Mutex
	banned map[string]bool // peers that served corrupt pieces
	// serving holds a cancel for each request of the peer API being
	// served, by the peer named on it (made by admit): ban ends them.
	serving   map[string]map[uint64]context.CancelFunc
	servingID uint64 // the key of the last request put in serving

	slots     chan struct{} // upload slots, one token per piece being sent
	announces chan tracker.Announce
	up        atomic.Bool     // the tracker stream is open
	ctx       context.Context // the node's lifetime (Run's)
	ready     chan struct{}   // closed when Run has set ctx

	downRate, upRate *rate.Limiter // nil: no bound

	// tasks counts the goroutines transfers start, so that Run returns only
	// after their last write; once stopping is set none is started.
	tmu      sync.Mutex
	stopping bool
	tasks    sync.WaitGroup

	originBytes, peerBytes, servedBytes atomic.Int64
	originFetches, fallbacks, corrupt   atomic.Int64
	treesLeft                           atomic.Int64
}

// New returns a node that keeps its blobs in opts.Dir. Blobs held whole
// there from an earlier run are served and announced again.
func New(opts Options) (*Node, error) {
	if opts.ID == "" || opts.Addr == "" || opts.Tracker == "" || opts.Dir == "" {
		return nil, errors.New("swarm: ID, Addr, Tracker and Dir are required")
	}
	if opts.HTTP == nil {
		opts.HTTP = defaultHTTPClient(opts.TLS)
	}
	if opts.Neighbours <= 0 {
		opts.Neighbours = 12
	}
	if opts.Pipeline <= 0 {
		opts.Pipeline = 2
	}
	if opts.Requests <= 0 {
		opts.Requests = 6
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 5 * time.Second
	}
	if opts.UploadSlots <= 0 {
		opts.UploadSlots = 4
	}
	if opts.TreeBehind <= 0 {
		opts.TreeBehind = treeBehind
	}
	if opts.TreeBlobs == 0 {
		opts.TreeBlobs = treeBlobs
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		opts:      opts,
		log:       log,
		trk:       &tracker.Client{URL: opts.Tracker, HTTP: opts.HTTP, Peer: opts.ID, Addr: opts.Addr, Leaf: opts.Leaf},
		transfers: map[digest.Digest]*transfer{},
		banned:    map[string]bool{},
		announces: make(chan tracker.Announce, 1024),
		slots:     make(chan struct{}, opts.UploadSlots),
		ready:     make(chan struct{}),
	}
	n.downRate, n.upRate = limiter(opts.DownloadRate), limiter(opts.UploadRate)
	n.debug = log.Enabled(context.Background(), slog.LevelDebug)
	for _, sub := range []string{"blobs", "partial", "meta"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("swarm: %w", err)
		}
	}
	// Partial blobs of an earlier run are not trusted: start them again.
	if err := os.RemoveAll(filepath.Join(opts.Dir, "partial")); err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "partial"), 0o755); err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	if err := n.loadComplete(); err != nil {
		return nil, err
	}
	return n, nil
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		OriginBytes:   n.originBytes.Load(),
		PeerBytes:     n.peerBytes.Load(),
		ServedBytes:   n.servedBytes.Load(),
		OriginFetches: n.originFetches.Load(),
		Fallbacks:     n.fallbacks.Load(),
		CorruptPieces: n.corrupt.Load(),
		TreesLeft:     n.treesLeft.Load(),
	}
}

// Run keeps the node's tracker stream open, reconnecting with backoff and
// announcing every swarm the node is in each time, and sends what the
// node announces. It returns when ctx is done and the node's transfers
// have stopped with it: nothing writes in Options.Dir any more.
func (n *Node) Run(ctx context.Context) error {
	n.ctx = ctx
	close(n.ready)
	defer n.stopTasks()
	n.spawn(func() { n.announcer(ctx) })
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := n.trk.Stream(ctx, n.dispatch)
		if ctx.Err() != nil {
			break
		}
		n.up.Store(false)
		n.log.Warn("tracker stream ended; reconnecting", "err", err)
		n.mu.Lock()
		for _, t := range n.transfers {
			t.trackerLost()
		}
		n.mu.Unlock()
		if time.Since(start) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff + rand.N(backoff)):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

// spawn runs f on a goroutine that Run waits for. It reports false, and
// does not run f, once Run is returning.
func (n *Node) spawn(f func()) bool {
	n.tmu.Lock()
	defer n.tmu.Unlock()
	if n.stopping {
		return false
	}
	n.tasks.Go(f)
	return true
}

// stopTasks lets no goroutine start any more and waits for those running.
func (n *Node) stopTasks() {
	n.tmu.Lock()
	n.stopping = true
	n.tmu.Unlock()
	n.tasks.Wait()
}

// dispatch hands a tracker event to its transfer.
func (n *Node) dispatch(ev tracker.Event) {
	switch ev.Type {
	case tracker.EventHello:
		n.up.Store(true)
		n.reannounce()
		return
	case tracker.EventPing:
		return
	}
	n.mu.Lock()
	t := n.transfers[ev.Digest]
	n.mu.Unlock()
	if t != nil {
		t.event(ev)
	}
}

// reannounce tells the tracker every swarm the node is in, after its
// stream (re)opened, and what it fetches as a swarm's fetcher (its lease
// is its own across a reconnection, to this replica or another).
func (n *Node) reannounce() {
	n.mu.Lock()
	defer n.mu.Unlock()
	var a tracker.Announce
	for _, t := range n.transfers {
		a.Join = append(a.Join, t.join())
		if p := t.republish(); p != nil {
			a.Publish = append(a.Publish, *p)
		}
	}
	if len(a.Join) > 0 {
		n.announce(a)
	}
}

// announce queues a for the announcer; it never blocks, and drops what
// does not fit (a lost announce is repeated on the next reconnection).
func (n *Node) announce(a tracker.Announce) {
	select {
	case n.announces <- a:
	default:
		n.log.Warn("announce queue full; dropping an announce")
	}
}

// announcer sends the queued announces, merging those that wait.
func (n *Node) announcer(ctx context.Context) {
	for {
		var a tracker.Announce
		select {
		case <-ctx.Done():
			return
		case a = <-n.announces:
		}
		for more := true; more; {
			select {
			case b := <-n.announces:
				a.Join = append(a.Join, b.Join...)
				a.Leave = append(a.Leave, b.Leave...)
				a.Complete = append(a.Complete, b.Complete...)
				a.Publish = append(a.Publish, b.Publish...)
			default:
				more = false
			}
		}
		if !n.up.Load() {
			continue // the stream's hello announces everything again
		}
		if err := n.trk.Announce(ctx, a); err != nil && ctx.Err() == nil {
			n.log.Warn("announce failed (the swarms are announced again when the tracker stream reopens)", "err", err)
		}
	}
}

// Fetch returns the blob d of size bytes, read in order as its pieces
// arrive. origin is used if this node becomes the swarm's fetcher or if
// the swarm stalls. The reader fails if the whole blob does not match d,
// before its last byte. Run must be running.
func (n *Node) Fetch(ctx context.Context, d digest.Digest, size int64, origin Origin) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("swarm: blob %s: size unknown", d)
	}
	if size == 0 {
		if d != digest.SHA256.FromBytes(nil) {
			return nil, fmt.Errorf("swarm: blob %s: an empty blob does not have this digest", d)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.mu.Lock()
	t := n.transfers[d]
	if t == nil {
		var err error
		t, err = n.newTransfer(d, size)
		if err != nil {
			n.mu.Unlock()
			return nil, err
		}
		if !n.spawn(func() { t.run(n.ctx) }) {
			n.mu.Unlock()
			return nil, fmt.Errorf("swarm: blob %s: the node stopped", d)
		}
		n.transfers[d] = t
		n.announce(tracker.Announce{Join: []tracker.Join{t.join()}})
	}
	n.mu.Unlock()
	if t.size != size {
		return nil, fmt.Errorf("swarm: blob %s: size %d asked, %d known", d, size, t.size)
	}
	t.setOrigin(origin)
	return t.reader(ctx), nil
}

// evict drops whole blobs, least recently asked for first, until those
// kept fit Options.CacheBytes; blobs being read stay.
func (n *Node) evict() {
	if n.opts.CacheBytes <= 0 {
		return
	}
	n.mu.Lock()
	var kept int64
	var whole []*transfer
	for _, t := range n.transfers {
		t.mu.Lock()
		if t.complete && t.failed == nil {
			kept += t.size
			if t.readers == 0 {
				whole = append(whole, t)
			}
		}
		t.mu.Unlock()
	}
	slices.SortFunc(whole, func(a, b *transfer) int { return a.lastUsed().Compare(b.lastUsed()) })
	var gone []digest.Digest
	for _, t := range whole {
		if kept <= n.opts.CacheBytes {
			break
		}
		delete(n.transfers, t.d)
		t.drop()
		kept -= t.size
		gone = append(gone, t.d)
	}
	n.mu.Unlock()
	if len(gone) > 0 {
		n.log.Info("dropped whole blobs past the cache budget", "blobs", len(gone), "budget", n.opts.CacheBytes)
		n.announce(tracker.Announce{Leave: gone})
	}
}

// limiter returns a limiter of bytesPerSecond, or nil for none.
func limiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(min(bytesPerSecond, rateBurst)))
}

// rateBurst is the most bytes a limiter lets through at once.
const rateBurst = 256 << 10

// limited is a reader whose bytes wait for a limiter.
type limited struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

// limit returns r with its reads paced by lim (r itself if lim is nil).
func limit(ctx context.Context, r io.Reader, lim *rate.Limiter) io.Reader {
	if lim == nil {
		return r
	}
	return &limited{ctx: ctx, r: r, lim: lim}
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p[:min(len(p), l.lim.Burst())])
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Has reports whether the node holds the blob d whole.
func (n *Node) Has(d digest.Digest) bool {
	n.mu.Lock()
	t := n.transfers[d]
	n.mu.Unlock()
	return t != nil && t.isComplete()
}

// ban drops peer from every transfer it is a neighbour of, and keeps it
// from being taken as one again: a peer that served one corrupt piece is
// asked for nothing more, of any blob. Nor is it served any more: its
// requests that wait end, and its new ones are refused (admit). No
// transfer's lock is held.
func (n *Node) ban(peer string) {
	n.bmu.Lock()
	n.banned[peer] = true
	for _, cancel := range n.serving[peer] {
		cancel() // what it reads of the node ends: see admit
	}
	delete(n.serving, peer)
	n.bmu.Unlock()
	n.mu.Lock()
	ts := slices.Collect(maps.Values(n.transfers))
	n.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		if nb := t.neighbours[peer]; nb != nil {
			t.dropLocked(nb)
		}
		t.mu.Unlock()
	}
}

// refusedBy stops asking peer for anything: it answered 403, so it
// banned this node (admit). The ban is mutual: the node bans it in turn,
// which drops it from every transfer and keeps it from being taken as a
// neighbour again. No transfer's lock is held.
func (n *Node) refusedBy(peer string) {
	if !n.isBanned(peer) {
		n.log.Warn("a peer refuses this node (it banned it); asking it nothing more", "peer", peer)
	}
	n.ban(peer)
}

// admit lets a request of the peer API from peer (its peerHeader, "" if
// none) in, unless the peer is banned: a peer that served a corrupt piece
// is not served either. The context returned is cancelled as the peer is
// banned, so that its requests that wait end then (a have stream, a
// request waiting for an upload slot); a piece already on the wire is let
// finish. done is to be called as the request ends.
func (n *Node) admit(ctx context.Context, peer string) (_ context.Context, done func(), ok bool) {
	if peer == "" {
		return ctx, func() {}, true
	}
	n.bmu.Lock()
	defer n.bmu.Unlock()
	if n.banned[peer] {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(ctx)
	n.servingID++
	id := n.servingID
	if n.serving == nil {
		n.serving = map[string]map[uint64]context.CancelFunc{}
	}
	if n.serving[peer] == nil {
		n.serving[peer] = map[uint64]context.CancelFunc{}
	}
	n.serving[peer][id] = cancel
	return ctx, func() {
		cancel()
		n.bmu.Lock()
		if reqs := n.serving[peer]; reqs != nil {
			if delete(reqs, id); len(reqs) == 0 {
				delete(n.serving, peer)
			}
		}
		n.bmu.Unlock()
	}, true
}

func (n *Node) isBanned(peer string) bool {
	n.bmu.Lock()
	defer n.bmu.Unlock()
	return n.banned[peer]
}

// meta is what the node keeps beside a whole blob: its layout and piece
// hashes, announced after a restart.
type meta struct {
	Size   int64               `json:"size"`
	Layout tracker.Layout      `json:"layout"`
	Hashes []tracker.PieceHash `json:"hashes"`
}

func (n *Node) blobPath(d digest.Digest) string {
	return filepath.Join(n.opts.Dir, "blobs", d.Algorithm().String()+"-"+d.Encoded())
}

func (n *Node) partialPath(d digest.Digest) string {
	return filepath.Join(n.opts.Dir, "partial", d.Algorithm().String()+"-"+d.Encoded())
}

func (n *Node) metaPath(d digest.Digest) string {
	return filepath.Join(n.opts.Dir, "meta", d.Algorithm().String()+"-"+d.Encoded()+".json")
}

// loadComplete takes up the whole blobs of an earlier run.
func (n *Node) loadComplete() error {
	ents, err := os.ReadDir(filepath.Join(n.opts.Dir, "meta"))
	if err != nil {
		return fmt.Errorf("swarm: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != ".json" {
			continue
		}
		alg, enc, ok := strings.Cut(strings.TrimSuffix(name, ".json"), "-")
		if !ok {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
		if d.Validate() != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(n.opts.Dir, "meta", name))
		var m meta
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		fi, serr := os.Stat(n.blobPath(d))
		if err != nil || serr != nil || fi.Size() != m.Size || m.Layout.Validate() != nil || m.Layout.Size != m.Size || len(m.Hashes) != m.Layout.Pieces() {
			n.log.Warn("dropping a damaged cached blob", "digest", d)
			_ = os.Remove(n.blobPath(d))
			_ = os.Remove(filepath.Join(n.opts.Dir, "meta", name))
			continue
		}
		t, err := n.completeTransfer(d, m)
		if err != nil {
			return err
		}
		n.transfers[d] = t
	}
	return nil
}
