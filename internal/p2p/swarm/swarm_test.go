package swarm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/p2p/tracker"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// origin is a gantry registry holding blobs, which counts the blob GETs
// and the bytes it sends, and can be slowed down or stopped.
type origin struct {
	srv   *httptest.Server
	gets  atomic.Int64
	bytes atomic.Int64
	// delay is slept before each 64 KiB the origin sends (nanoseconds).
	delay atomic.Int64
	down  atomic.Bool
	// last is when the origin last sent bytes of a blob (unix ns).
	last atomic.Int64
}

func newOrigin(t testing.TB, blobs ...[]byte) *origin {
	t.Helper()
	st := memory.New()
	repo, err := st.Repository(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := repo.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	reg := registry.New(st, registry.Options{})
	o := &origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			o.gets.Add(1)
		}
		reg.ServeHTTP(&countingWriter{ResponseWriter: w, o: o}, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

type countingWriter struct {
	http.ResponseWriter
	o *origin
}

func (c *countingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if d := c.o.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		n, err := c.ResponseWriter.Write(p[:min(len(p), 64<<10)])
		written += n
		c.o.bytes.Add(int64(n))
		c.o.last.Store(time.Now().UnixNano())
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// fetch is the Origin of blob d at o.
func (o *origin) fetch(d digest.Digest) swarm.Origin {
	return func(ctx context.Context, off int64) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.srv.URL+"/v2/app/blobs/"+d.String(), nil)
		if err != nil {
			return nil, err
		}
		if off > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			resp.Body.Close()
			return nil, fmt.Errorf("origin: %s", resp.Status)
		}
		return resp.Body, nil
	}
}

// tlog writes a node's log lines into the test's.
type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// cluster is a tracker and nodes, each serving its peer API.
type cluster struct {
	t       testing.TB
	tracker string
	trk     atomic.Pointer[tracker.Tracker]
	trkSrv  *httptest.Server
	nodes   []*member
	added   int
	// wrap, if set, wraps the peer API handler of each node added.
	wrap func(id string, h http.Handler) http.Handler
}

// restartTracker replaces the tracker by one that knows nothing, and cuts
// every stream to the old one.
func (c *cluster) restartTracker() {
	c.startTracker()
	c.trkSrv.CloseClientConnections()
}

// startTracker starts a tracker that passes a lease on after 3 seconds
// without publications.
func (c *cluster) startTracker() {
	trk := tracker.New(tracker.Options{LeaseTimeout: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	go trk.Run(ctx)
	c.trk.Store(trk)
}

// kill stops a node as a crash would: its transfers end, its connections
// are cut.
func (m *member) kill() {
	m.cancel()
	m.srv.CloseClientConnections()
	m.srv.Close()
}

type member struct {
	id     string
	node   *swarm.Node
	cancel context.CancelFunc
	srv    *httptest.Server
	dir    string
}

func newCluster(t testing.TB, n int, opts swarm.Options) *cluster {
	t.Helper()
	c := &cluster{t: t}
	c.startTracker()
	c.trkSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.trk.Load().ServeHTTP(w, r) }))
	t.Cleanup(c.trkSrv.Close)
	c.tracker = c.trkSrv.URL
	for range n {
		c.add(opts, t.TempDir())
	}
	return c
}

// add starts a node keeping its blobs in dir.
func (c *cluster) add(opts swarm.Options, dir string) *member {
	c.t.Helper()
	m := &member{dir: dir}
	var h atomic.Pointer[http.Handler]
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	m.srv.Config.ConnContext = swarm.ConnContext // as the agent serves
	m.srv.Start()
	c.t.Cleanup(m.srv.Close)
	opts.ID = fmt.Sprint("node", c.added)
	c.added++
	m.id = opts.ID
	opts.Addr = m.srv.Listener.Addr().String()
	if opts.Tracker == "" {
		opts.Tracker = c.tracker
	}
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tlog{c.t}, nil))
	}
	opts.Logger = opts.Logger.With("node", opts.ID)
	node, err := swarm.New(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	handler := node.Handler()
	if c.wrap != nil {
		handler = c.wrap(m.id, handler)
	}
	h.Store(&handler)
	m.node = node
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	done := make(chan struct{})
	go func() { _ = node.Run(ctx); close(done) }()
	c.t.Cleanup(func() { cancel(); <-done })
	c.nodes = append(c.nodes, m)
	return m
}

// pullAll has every node read blob b at once, and checks what each read.
func (c *cluster) pullAll(b []byte, o *origin, within time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), within)
	defer cancel()
	errs := c.startPulls(ctx, b, o)
	for range c.nodes {
		if err := <-errs; err != nil {
			c.t.Error(err)
		}
	}
}

// startPulls has every node of the cluster pull b from o at once; each
// pull's outcome comes on the channel (one per node).
func (c *cluster) startPulls(ctx context.Context, b []byte, o *origin) <-chan error {
	d := digest.FromBytes(b)
	errs := make(chan error, len(c.nodes))
	for i, m := range c.nodes {
		go func() { errs <- pull(ctx, m.node, b, o.fetch(d), fmt.Sprint("node", i)) }()
	}
	return errs
}

func pull(ctx context.Context, n *swarm.Node, b []byte, o swarm.Origin, who string) error {
	d := digest.FromBytes(b)
	rc, err := n.Fetch(ctx, d, int64(len(b)), o)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	defer rc.Close()
	// Compared as it comes, as a client that hashes it would: eight
	// readers of 40 MiB each into slices growing as they went took half
	// the test's CPU at the end of the pull, all nodes but the last few
	// reading at once, and starved those (their parents sent the last
	// pieces seconds late, and under the race detector past a child's
	// watchdog).
	same := &sameAs{want: b, differs: -1}
	if _, err := io.Copy(same, rc); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	if same.differs >= 0 || same.off != len(b) {
		return fmt.Errorf("%s: read %d bytes that differ from the blob's %d (from byte %d)", who, same.off, len(b), same.differs)
	}
	return nil
}

// sameAs is a writer that compares what it is given with want, in order,
// and takes it all (a reader's error, if any, is what a pull reports).
type sameAs struct {
	want    []byte
	off     int
	differs int // the first byte that differs from want's, -1 if none
}

func (s *sameAs) Write(p []byte) (int, error) {
	if s.differs < 0 && (len(p) > len(s.want)-s.off || !bytes.Equal(p, s.want[s.off:s.off+len(p)])) {
		s.differs = s.off
	}
	s.off += len(p)
	return len(p), nil
}

func randomBlob(t testing.TB, size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return b
}

// waitWhole waits for every node to hold d whole (the last check of a
// blob runs after its readers had their bytes).
func (c *cluster) waitWhole(d digest.Digest) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i, m := range c.nodes {
		for !m.node.Has(d) {
			if time.Now().After(deadline) {
				c.t.Fatalf("node%d does not hold %s whole", i, d)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (c *cluster) stats() (s swarm.Stats) {
	for _, m := range c.nodes {
		ns := m.node.Stats()
		s.OriginBytes += ns.OriginBytes
		s.PeerBytes += ns.PeerBytes
		s.ServedBytes += ns.ServedBytes
		s.OriginFetches += ns.OriginFetches
		s.Fallbacks += ns.Fallbacks
		s.CorruptPieces += ns.CorruptPieces
		s.TreesLeft += ns.TreesLeft
	}
	return s
}

// A cold herd, every node asking at once, costs the origin one GET and
// one copy of the blob, small blobs included.
func TestColdHerdOneOriginFetch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
		size  int
	}{
		{"8-nodes-6MiB", 8, 6 << 20},
		{"6-nodes-1MiB", 6, 1 << 20}, // 12 pieces of 64 KiB, a tail of 16 of 16 KiB
		{"5-nodes-1KiB", 5, 1 << 10},
		{"3-nodes-empty", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomBlob(t, tc.size)
			o := newOrigin(t, b)
			o.delay.Store(int64(2 * time.Millisecond)) // the origin is the slow link
			c := newCluster(t, tc.nodes, swarm.Options{StallTimeout: 10 * time.Second})
			c.pullAll(b, o, 60*time.Second)
			s := c.stats()
			t.Logf("origin GETs %d, origin bytes %d, peer bytes %d, fallbacks %d", o.gets.Load(), o.bytes.Load(), s.PeerBytes, s.Fallbacks)
			if want := min(tc.size, 1); o.gets.Load() != int64(want) || s.Fallbacks != 0 {
				t.Errorf("origin GETs %d, fallbacks %d; want %d and 0", o.gets.Load(), s.Fallbacks, want)
			}
			if tc.size == 0 {
				return
			}
			// Each node but the fetcher takes the blob once from its peers,
			// and a few pieces twice in the endgame (a blob of one piece
			// may come twice to a node).
			want := int64((tc.nodes - 1) * tc.size)
			slack := max(want/10, int64(tc.nodes)*int64(min(tc.size, 256<<10)))
			if s.PeerBytes < want || s.PeerBytes > want+slack {
				t.Errorf("%d bytes between peers, want %d (+%d for the endgame)", s.PeerBytes, want, slack)
			}
			c.waitWhole(digest.FromBytes(b))
		})
	}
}

// A blob of up to 64 MiB goes down its trees (tree.go): every piece a node takes it
// asks of its parent in the piece's tree, no node leaves them, and no node
// sends much more than one copy of the blob (in the swarm the first holder
// of a new piece sends it to every node that asks).
func TestSmallBlobDownTrees(t *testing.T) {
	const nodes = 8
	pieceField := regexp.MustCompile(` piece=\d+`)
	for _, tc := range []struct{ size, pieces int }{
		{1 << 20, 64},   // pieces of 16 KiB
		{12 << 20, 192}, // of 64 KiB
		{40 << 20, 640}, // of 64 KiB, over a layout's head (ChooseLayout)
	} {
		size := tc.size
		t.Run(fmt.Sprint(size>>20, "MiB"), func(t *testing.T) {
			b := randomBlob(t, size)
			o := newOrigin(t, b)
			o.delay.Store(int64(2 * time.Millisecond)) // the origin is the slow link
			logs := &syncLog{t: t}
			up := &uploads{}
			c := newCluster(t, 0, swarm.Options{})
			c.wrap = up.wrap
			for range nodes {
				c.add(swarm.Options{Logger: logs.debug()}, t.TempDir())
			}
			c.pullAll(b, o, 60*time.Second)
			s := c.stats()
			if o.gets.Load() != 1 || s.Fallbacks != 0 || s.TreesLeft != 0 {
				t.Errorf("origin GETs %d, fallbacks %d, trees left %d; want 1, 0 and 0", o.gets.Load(), s.Fallbacks, s.TreesLeft)
			}
			asked, down, pieces := 0, 0, map[string]bool{}
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, `msg="piece asked"`) {
					asked++
					if strings.Contains(line, " tree=") {
						down++
					}
					pieces[pieceField.FindString(line)] = true
				}
			}
			if asked != down || asked < (nodes-1)*tc.pieces {
				t.Errorf("%d pieces asked for, %d of them down a tree; want every one, and more than %d", asked, down, (nodes-1)*tc.pieces)
			}
			// Pieces of a sixty-fourth of the blob, from 16 KiB to 64 KiB,
			// no smaller ones at the end (treeLayout).
			if len(pieces) != tc.pieces {
				t.Errorf("the blob was cut in %d pieces, want %d", len(pieces), tc.pieces)
			}
			// Each stripe comes down its tree in one answer from the parent
			// (a few more if the trees moved as members joined), not a piece
			// request at a time: every piece a node sent went in those.
			up.mu.Lock()
			streams := map[string]int{}
			for _, s := range up.stripes {
				streams[s.to]++
			}
			if len(up.list) != 0 || len(streams) != nodes-1 {
				t.Errorf("%d pieces sent on their own and stripes sent to %d nodes; want none and every node but the fetcher", len(up.list), len(streams))
			}
			for id, k := range streams {
				if k < 2 || k > 6 { // two stripes
					t.Errorf("%s took its two stripes in %d answers, want two or a few more", id, k)
				}
			}
			up.mu.Unlock()
			for _, m := range c.nodes {
				if sent := m.node.Stats().ServedBytes; sent > int64(size)*5/4 {
					t.Errorf("%s sent %d bytes, want about one copy (%d) at most", m.id, sent, size)
				}
			}
			// Nothing reads a have stream down the trees: a node's pieces
			// come in its parents' answers, and the fetcher's from the
			// origin. (On main each node read its parents' streams, a line
			// for every piece each held, and the fetcher every other node's,
			// up to its neighbours: at 32 nodes on 2 Mbit/s the lines the
			// fetcher read and their acknowledgements took 1.6% of its
			// downlink, which carries the origin's stream, and 1.7% of its
			// uplink, which carries the trees'.)
			up.mu.Lock()
			defer up.mu.Unlock()
			read := map[string][]string{}
			for _, h := range up.haves {
				read[h.to] = append(read[h.to], h.node)
			}
			for id, from := range read {
				t.Errorf("%s read the have streams of %v down the trees (the fetcher: %s), want none", id, from, c.fetcher())
			}
		})
	}
}

// loggedCluster is a cluster of n nodes with opts, each logging every
// level into the one syncLog returned.
func loggedCluster(t *testing.T, n int, opts swarm.Options) (*cluster, *syncLog) {
	logs := &syncLog{t: t}
	c := newCluster(t, 0, swarm.Options{})
	opts.Logger = logs.debug()
	for range n {
		c.add(opts, t.TempDir())
	}
	return c, logs
}

// quarterIn waits until the tracker holds a quarter of d's piece hashes,
// and returns d's fetcher then.
func (c *cluster) quarterIn(d digest.Digest) string {
	c.t.Helper()
	var fetcher string
	waitFor(c.t, "a quarter of the blob published", func() bool {
		s, _ := c.trk.Load().Swarm(d)
		fetcher = s.Fetcher
		return s.Layout != nil && s.Published > s.Layout.Pieces()/4
	})
	return fetcher
}

// kill kills the node id.
func (c *cluster) kill(id string) {
	for _, m := range c.nodes {
		if m.id == id {
			m.kill()
		}
	}
}

// oneFailed takes the outcome of every node's pull from errs, and fails
// the test unless one failed: the killed node's.
func (c *cluster) oneFailed(errs <-chan error) {
	c.t.Helper()
	failed := 0
	for range c.nodes {
		if err := <-errs; err != nil {
			failed++
			c.t.Log(err)
		}
	}
	if failed != 1 {
		c.t.Fatalf("%d pulls failed, want 1 (the killed node's)", failed)
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
	}
}

// When a node dies mid-blob, the others finish it: if it was the fetcher,
// another node takes over from where the swarm stands, and the origin
// sends little more than one copy; if it was any other node, its
// neighbours take their pieces elsewhere and the origin is asked once.
// A small blob's trees (tree.go) lose their root, whose children (the
// trees' top nodes) take their halves from the swarm; or a node that
// passes a stripe on (with 4 nodes but the fetcher, each passes one on),
// whose children take its parent there, and no node but the killed one
// (its answers cut as it stops) leaves the trees.
func TestNodeKilled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fetcher bool
		gets    int64
		size    int
		trees   bool
	}{
		{"fetcher", true, 2, 8 << 20, false},
		{"peer", false, 1, 8 << 20, false},
		{"fetcher-of-trees", true, 2, 2 << 20, true},
		{"peer-in-trees", false, 1, 2 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomBlob(t, tc.size)
			d := digest.FromBytes(b)
			o := newOrigin(t, b)
			o.delay.Store(int64(5 * time.Millisecond * time.Duration(8<<20/tc.size))) // about 2.5 s for the blob
			opts := swarm.Options{StallTimeout: 20 * time.Second}
			if !tc.trees {
				opts.TreeBlobs = -1
			}
			c := newCluster(t, 5, opts)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			errs := c.startPulls(ctx, b, o)
			fetcher := c.quarterIn(d)
			for _, m := range c.nodes {
				if (m.id == fetcher) == tc.fetcher {
					m.kill()
					break
				}
			}
			c.oneFailed(errs)
			s := c.stats()
			t.Logf("origin GETs %d, origin bytes %d (%.2fx), fallbacks %d, trees left %d", o.gets.Load(), o.bytes.Load(), float64(o.bytes.Load())/float64(len(b)), s.Fallbacks, s.TreesLeft)
			if o.gets.Load() != tc.gets || s.Fallbacks != 0 {
				t.Errorf("origin GETs %d, fallbacks %d; want %d and 0", o.gets.Load(), s.Fallbacks, tc.gets)
			}
			if o.bytes.Load() > int64(len(b))*3/2 {
				t.Errorf("the origin sent %d bytes, want at most 1.5x the blob", o.bytes.Load())
			}
			switch {
			case tc.trees && tc.fetcher && s.TreesLeft == 0:
				t.Error("no node left the trees, want the dead root's children to")
			case tc.trees && !tc.fetcher && s.TreesLeft > 1:
				t.Errorf("%d nodes left the trees, want none but the killed one", s.TreesLeft)
			}
		})
	}
}

// A node whose parent in one tree dies takes one of the dead one's
// parents, at once, and keeps to both trees; no other node's parents move,
// and no node leaves a tree: the dead node keeps its place in the trees,
// empty (treeOrder, treeHeap.parent). (Taken out of the order, it moved
// every node after it to the other group, under new parents, most of them
// behind their new children; and a child that took the dead one's stripe
// from the swarm's requests had it late, and the nodes below it left the
// trees in turn.)
func TestParentKilledChildrenClimb(t *testing.T) {
	const nodes = 8
	b := randomBlob(t, 4<<20) // 64 pieces of 64 KiB
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(20 * time.Millisecond)) // about 2.5 s for the blob
	// Uploads at 2 MiB/s, a piece in 31 ms: a piece is on its way down
	// the trees at any time, as on a real link.
	c, logs := loggedCluster(t, nodes, swarm.Options{StallTimeout: 20 * time.Second, UploadRate: 2 << 20})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := c.startPulls(ctx, b, o)

	// The parents each node takes its stripes from, from its log.
	parentLine := regexp.MustCompile(`msg="tree parent" node=(\S+) digest=\S+ stripe=(\d) parent=(\S+)`)
	parents := func() map[string][2]string {
		ps := map[string][2]string{}
		for _, m := range parentLine.FindAllStringSubmatch(logs.String(), -1) {
			p := ps[m[1]]
			p[m[2][0]-'0'] = m[3]
			ps[m[1]] = p
		}
		return ps
	}
	fetcher := c.quarterIn(d)
	// A parent of some node in one stripe that is no one's parent in the
	// other: its children there have a live parent in the other tree.
	// One whose child there is a parent too if there is one: that child
	// loses the piece on its way to it, and must not cut its own
	// children off.
	before := parents()
	var killed string
	var stripe int
	isParent := func(id string, st int) bool {
		for _, ps := range before {
			if ps[st] == id {
				return true
			}
		}
		return false
	}
	deep := false
	for child, ps := range before {
		for st, p := range ps {
			if d := isParent(child, st); p != fetcher && p != "" && ps[1-st] != p && (d || !deep) {
				killed, stripe, deep = p, st, d
			}
		}
	}
	if killed == "" {
		t.Fatalf("no node is a parent in the trees but the fetcher: %v", before)
	}
	c.kill(killed)
	c.oneFailed(errs)
	if o.gets.Load() != 1 {
		t.Errorf("origin GETs %d, want 1", o.gets.Load())
	}

	// The killed node's children in that stripe took its parent there,
	// and every piece of both stripes down their trees.
	asked := regexp.MustCompile(`msg="piece asked" node=(\S+) digest=\S+ piece=(\d+) peer=\S+ (tree=\d|extra=\w+)`)
	left := regexp.MustCompile(`msg="leaving a small blob's trees for the swarm" node=(\S+) .*reason="([^"]+)"`)
	for _, m := range left.FindAllStringSubmatch(logs.String(), -1) {
		if m[1] != killed {
			t.Errorf("%s left a tree: %s", m[1], m[0])
		}
	}
	after := parents()
	children := 0
	for child, ps := range before {
		if child == killed {
			continue
		}
		want := ps
		if ps[stripe] == killed {
			children++
			want[stripe] = after[child][stripe]
			if p := want[stripe]; p != before[killed][0] && p != before[killed][1] {
				t.Errorf("%s, a child of %s in stripe %d, took %s, want one of its parents %v", child, killed, stripe, p, before[killed])
			}
		}
		if after[child] != want {
			t.Errorf("%s moved from parents %v to %v, want %v", child, ps, after[child], want)
		}
	}
	for _, m := range asked.FindAllStringSubmatch(logs.String(), -1) {
		if m[1] != killed && !strings.HasPrefix(m[3], "tree=") {
			t.Errorf("%s asked for piece %s out of its trees: %s", m[1], m[2], m[0])
		}
	}
	t.Logf("killed %s, a parent in stripe %d of %d nodes, of parents among them: %v; the fetcher %s", killed, stripe, children, deep, fetcher)
}

// When a small blob's fetcher dies mid-pull, the node that takes over
// feeds no tree's roots (those were the dead one's children), and the
// nodes that left the trees ask it for pieces as it streams them, as any
// neighbour. (They used to spare it as they spare the trees' own
// fetcher, and asked it for nothing until it held the blob whole: on the
// bench, 8 nodes, 4 MiB on 10 Mbit/s, the new fetcher had the blob 3.8 s
// after the pull began and the others, waiting for it, 9-11 s.)
func TestTakeoverFetcherAsked(t *testing.T) {
	const nodes = 5
	b := randomBlob(t, 2<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(40 * time.Millisecond)) // about 2.5 s for the blob
	c, logs := loggedCluster(t, nodes, swarm.Options{StallTimeout: 20 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := c.startPulls(ctx, b, o)
	first := c.quarterIn(d)
	c.kill(first)
	var next string
	waitFor(t, "another fetcher", func() bool {
		s, _ := c.trk.Load().Swarm(d)
		next = s.Fetcher
		return next != "" && next != first
	})
	c.oneFailed(errs)

	// The swarm's requests (not down a tree) to the new fetcher before it
	// held the blob whole (its last piece landed), in the log's order.
	lines := strings.Split(logs.String(), "\n")
	last := -1
	for i, l := range lines {
		if strings.Contains(l, `msg="piece landed" node=`+next+" ") {
			last = i
		}
	}
	asked := 0
	for _, l := range lines[:max(last, 0)] {
		if strings.Contains(l, `msg="piece asked"`) && strings.Contains(l, " peer="+next+" extra=") {
			asked++
		}
	}
	t.Logf("fetcher %s killed, %s took over; asked for %d pieces by the swarm's requests before it held the blob", first, next, asked)
	if asked == 0 {
		t.Errorf("no node asked the new fetcher %s for a piece while it streamed the blob", next)
	}
}

// A peer that serves corrupt pieces is dropped and banned; nothing it sent
// reaches a reader, and the pull completes from honest peers. A node asks
// the liar for no more than the requests it had out to it when the first
// corrupt piece landed (Options.Pipeline). In a small blob's trees the
// liar leads the first stripe's (it joined first): its children leave
// the trees.
func TestCorruptPeer(t *testing.T) {
	const pipeline = 2
	for _, tc := range []struct {
		size  int
		trees int64 // Options.TreeBlobs
	}{{4 << 20, -1}, {1 << 20, 0}} {
		t.Run(fmt.Sprint(tc.size>>20, "MiB"), func(t *testing.T) {
			b := randomBlob(t, tc.size)
			d := digest.FromBytes(b)
			o := newOrigin(t, b)
			o.delay.Store(int64(time.Millisecond))
			c := newCluster(t, 4, swarm.Options{StallTimeout: 20 * time.Second, Pipeline: pipeline, TreeBlobs: tc.trees})
			liar := newLiar(t, c.tracker, d)
			c.pullAll(b, o, 60*time.Second)
			s := c.stats()
			t.Logf("corrupt pieces %d, liar served %d, origin GETs %d", s.CorruptPieces, liar.served.Load(), o.gets.Load())
			if liar.served.Load() > 0 && s.CorruptPieces == 0 {
				t.Error("the liar's pieces were not counted as corrupt")
			}
			if most := int64(len(c.nodes) * pipeline); liar.served.Load() > most {
				t.Errorf("the liar was asked for %d pieces, want at most %d: a node asks it nothing more once a piece of it failed", liar.served.Load(), most)
			}
		})
	}
}

// A member that holds every request it gets, its have stream open and
// silent and its pieces never sent, is a parent in a small blob's trees
// if it joined early (here second, after the fetcher): its children give
// it up within treeHold and a second, leave the trees, and finish from the
// swarm before their blob stalls, without asking the origin. With one
// node besides the fetcher, the node's other parent, the fetcher, is the
// one peer that holds what it lacks: leaving the trees, it reads the have
// streams of the parents it had. (Without that it read no stream at all,
// its parents being its neighbours already, stalled and asked the
// origin.)
func TestStuckParentLeftBehind(t *testing.T) {
	for _, nodes := range []int{5, 2} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) { stuckParent(t, nodes) })
	}
}

func stuckParent(t *testing.T, nodes int) {
	var held atomic.Int64
	took, s := pullPastSecond(t, nodes, swarm.Options{StallTimeout: 4 * time.Second}, "sloth", func(release <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			held.Add(1)
			if strings.HasSuffix(r.URL.Path, "/have") {
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	})
	t.Logf("took %v, requests held %d, trees left %d", took.Round(time.Millisecond), held.Load(), s.TreesLeft)
	if s.TreesLeft == 0 {
		t.Error("no node left the trees, want the stuck parent's children to")
	}
}

// pullPastSecond has a cluster of nodes with opts pull a blob of 2 MiB,
// its origin slowed to about 0.7 s for it, with a peer of the handler
// serve makes joined second, as member id, after the fetcher: it leads
// the first tree. The handler's requests end when release is closed. It
// fails the test if a pull fails, or the origin is asked more than once,
// or a node fell back to it, and returns how long the pulls took and the
// nodes' stats.
func pullPastSecond(t *testing.T, nodes int, opts swarm.Options, id string, serve func(release <-chan struct{}) http.HandlerFunc) (time.Duration, swarm.Stats) {
	t.Helper()
	b := randomBlob(t, 2<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(20 * time.Millisecond))
	c := newCluster(t, nodes, opts)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	errs := make(chan error, len(c.nodes))
	pullOn := func(m *member) { go func() { errs <- pull(ctx, m.node, b, o.fetch(d), m.id) }() }
	pullOn(c.nodes[0])
	waitFor(t, "a fetcher", func() bool { s, _ := c.trk.Load().Swarm(d); return s.Fetcher != "" })
	release := make(chan struct{})
	peer := httptest.NewServer(serve(release))
	t.Cleanup(func() { close(release) }) // before the server's Close waits for its handlers
	joinAs(t, c.tracker, id, peer, tracker.Join{Digest: d})
	for _, m := range c.nodes[1:] {
		pullOn(m)
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took, st := time.Since(start), c.stats()
	if o.gets.Load() != 1 || st.Fallbacks != 0 {
		t.Errorf("origin GETs %d, fallbacks %d; want 1 and 0", o.gets.Load(), st.Fallbacks)
	}
	return took, st
}

// A node slow to pass a small blob's stripe on (a lesser or busy uplink)
// slows every node below it in that stripe's tree, for as long as the
// pull lasts: bytes keep coming, so no watchdog fires, and each child
// takes the stripe at its parent's pace while its other stripe is long
// done. A child whose stripe falls behind its other one leaves the trees
// and takes the rest from the swarm: from the other nodes, not from the
// fetcher, whose uplink feeds the trees' roots, unless the fetcher and
// the slow node are all that hold a piece; its other stripe it keeps
// taking down its tree, so that its children there keep to the trees
// too. Joining second, after the
// fetcher, the slow node leads the first tree, with all four others
// below it there; joining fourth, it has two of them below it, and the
// others hold what those two lack. At its upload rate their half of the
// blob would take them a minute. (In the bench, one node of 32 at a
// quarter of the others' links left five others at 4.5x S/B for 16 MiB,
// the rest at 1.1x; leaving the trees and asking the fetcher as any other
// neighbour, nine nodes had it send them 0.88 of the blob more, and the
// trees' roots took it at half the pace.)
func TestSlowParentLeftBehind(t *testing.T) {
	for _, tc := range []struct {
		name   string
		place  int  // the slow node joins after this many members
		spared bool // the fetcher sends the trees' roots their stripes, and nothing else
		leaf   bool // the slow node is a leaf (Options.Leaf): no node has it for a parent
	}{{"leads a tree", 1, false, false}, {"inside a tree", 3, true, false}, {"a leaf", 1, true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomBlob(t, 4<<20) // 64 pieces of 64 KiB, down trees
			d := digest.FromBytes(b)
			o, up, c := slowOriginCluster(t, b, tc.place, swarm.Options{}) // about 1.3 s for the blob
			slow := c.add(swarm.Options{UploadRate: 64 << 10, Leaf: tc.leaf}, t.TempDir())
			for range 5 - tc.place {
				c.add(swarm.Options{}, t.TempDir())
			}
			ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
			defer cancel()
			start := time.Now()
			type done struct {
				id   string
				took time.Duration
				err  error
			}
			dones := make(chan done, len(c.nodes))
			for k, m := range c.nodes {
				go func() {
					err := pull(ctx, m.node, b, o.fetch(d), m.id)
					dones <- done{m.id, time.Since(start), err}
				}()
				if k <= tc.place { // the first ones one after the other, the rest at once
					waitFor(t, fmt.Sprint(k+1, " members"), func() bool { s, _ := c.trk.Load().Swarm(d); return len(s.Members) > k && s.Fetcher != "" })
				}
			}
			for range c.nodes {
				r := <-dones
				t.Logf("%s took %v", r.id, r.took.Round(time.Millisecond))
				if r.err != nil {
					t.Error(r.err)
				} else if r.id != slow.id && r.took > 15*time.Second {
					t.Errorf("%s took %v, want the swarm's pace, not its slow parent's", r.id, r.took.Round(time.Millisecond))
				}
			}
			s := c.stats()
			served := c.nodes[0].node.Stats().ServedBytes
			t.Logf("trees left %d, origin GETs %d, fallbacks %d, the fetcher sent %.2f of the blob", s.TreesLeft, o.gets.Load(), s.Fallbacks, float64(served)/float64(len(b)))
			if o.gets.Load() != 1 || s.Fallbacks != 0 {
				t.Errorf("origin GETs %d, fallbacks %d; want 1 and 0", o.gets.Load(), s.Fallbacks)
			}
			switch {
			case tc.leaf && s.TreesLeft != 0:
				t.Errorf("%d nodes left the trees, want none: the slow leaf is no node's parent", s.TreesLeft)
			case !tc.leaf && s.TreesLeft == 0:
				t.Error("no node left the trees, want the slow parent's children to")
			}
			if most := int64(len(b)) * 21 / 20; tc.spared && served > most {
				t.Errorf("the fetcher sent %d bytes, want at most %d: the stripes to the trees' roots, the rest from others", served, most)
			}
			up.mu.Lock() // a slow upload may still be on its way
			defer up.mu.Unlock()
			for _, u := range up.list {
				var off, end int64
				if _, err := fmt.Sscanf(u.rng, "bytes=%d-%d", &off, &end); err != nil {
					t.Fatal(err)
				}
				if piece := off / (64 << 10); piece%2 == 1 {
					t.Errorf("%s asked %s for piece %d, of the stripe whose tree kept its pace, want it down the tree", u.to, u.node, piece)
				}
			}
			for _, u := range slices.Concat(up.list, up.stripes) {
				if tc.leaf && u.node == slow.id {
					t.Errorf("%s asked the slow leaf for %s, want nothing", u.to, u.rng)
				}
			}
		})
	}
}

// A member that answers a stripe's request and then trickles its bytes,
// one every 200 ms, never lets a watchdog fire. Joining second, it leads
// the first tree: its children waited for it until its 256th byte, the
// end of a block list that did not match the piece's hash, 25 s (one
// that trickled true bytes would have held them for as long as their
// clients let them). Now their first stripe falls behind the second
// within seconds, even with the second whole and no piece landing, and
// goes to the swarm's requests, its piece on the way cut; the pull ends
// as the others bring it, the fetcher's pieces once it holds the blob.
func TestTricklingParentLeftBehind(t *testing.T) {
	var trickled atomic.Int64
	took, s := pullPastSecond(t, 5, swarm.Options{}, "trickler", func(release <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			stripe := r.Header.Get("Gantry-Stripe")
			if stripe == "" && !strings.HasSuffix(r.URL.Path, "/have") {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			if stripe != "" {
				w.Header().Set("Gantry-Stripe", stripe)
			}
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			_ = rc.Flush()
			for stripe != "" {
				select {
				case <-r.Context().Done():
					return
				case <-release:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := w.Write([]byte{0}); err != nil || rc.Flush() != nil {
					return
				}
				trickled.Add(1)
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	})
	t.Logf("took %v, bytes trickled %d, trees left %d", took.Round(time.Millisecond), trickled.Load(), s.TreesLeft)
	if took > 15*time.Second {
		t.Errorf("the pulls took %v, want them done soon after the stripe fell behind", took.Round(time.Millisecond))
	}
}

// A peer whose have stream fails at once is not taken again at once: it
// was, over a thousand times a second by two nodes, for as long as their
// pull took. One that refuses a node (403: it banned the node) is asked
// nothing more by that node; one that answers 404 (it holds no transfer
// of the blob) is taken again after a wait that doubles each time. (A
// node down a small blob's trees asks its parent for a stripe as it opens
// the parent's have stream, not once that answered: the peer, whose ID
// makes it a parent, may be asked twice at once by it.)
func TestFailingPeerLeftAlone(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		most   func(took time.Duration) int64 // times each node may ask it
	}{
		{"refuses", http.StatusForbidden, func(time.Duration) int64 { return 2 }},
		{"holds nothing", http.StatusNotFound, func(took time.Duration) int64 {
			// Asked at 0, 0.5 s, 1.5 s, 3.5 s...: the waits double from 0.5 s.
			return 1 + int64(math.Ceil(math.Log2(1+took.Seconds()/0.5)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := randomBlob(t, 1<<20)
			d := digest.FromBytes(b)
			o := newOrigin(t, b)
			o.delay.Store(int64(10 * time.Millisecond)) // the pull takes a while
			cl := newCluster(t, 2, swarm.Options{StallTimeout: 20 * time.Second})
			var asked atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				http.Error(w, http.StatusText(c.status), c.status)
			}))
			joinAs(t, cl.tracker, "grump", srv, tracker.Join{Digest: d})
			start := time.Now()
			cl.pullAll(b, o, 60*time.Second)
			took := time.Since(start)
			if most := int64(len(cl.nodes)) * c.most(took); asked.Load() > most {
				t.Errorf("the peer answering %d was asked %d times in %v; want %d at most", c.status, asked.Load(), took.Round(time.Millisecond), most)
			}
		})
	}
}

// liar is a peer that says it holds every piece and serves random bytes.
type liar struct{ served atomic.Int64 }

func newLiar(t *testing.T, trackerURL string, d digest.Digest) *liar {
	l := &liar{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/have") {
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprintln(w, `{"complete":true}`)
			return
		}
		var off, end int64
		if stripe := r.Header.Get("Gantry-Stripe"); stripe != "" {
			// A stripe down a tree: block lists and bytes, all random.
			w.Header().Set("Gantry-Stripe", stripe)
			end = 1<<20 - 1
		} else if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &off, &end); err != nil {
			http.Error(w, "no range", http.StatusBadRequest)
			return
		}
		l.served.Add(1)
		// It answers late, as a loaded peer does, so that a node has all
		// its pipelined requests out to it when the first piece fails.
		time.Sleep(50 * time.Millisecond)
		if r.Header.Get("Gantry-Stripe") != "" {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusPartialContent)
		}
		_, _ = io.CopyN(w, rand.Reader, end-off+1)
	}))
	// It joins as a node still downloading (a complete member would stop
	// the fetcher), and says on its have stream that it holds it all.
	joinAs(t, trackerURL, "liar", srv, tracker.Join{Digest: d})
	return l
}

// joinAs has the peer API served by srv join a swarm at the tracker as the
// member id, with its tracker stream open until the test ends.
func joinAs(t *testing.T, trackerURL, id string, srv *httptest.Server, j tracker.Join) {
	t.Helper()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &tracker.Client{URL: trackerURL, Peer: id, Addr: srv.Listener.Addr().String()}
	hello := make(chan struct{})
	go func() {
		_ = c.Stream(ctx, func(ev tracker.Event) {
			if ev.Type == tracker.EventHello {
				close(hello)
			}
		})
	}()
	<-hello
	if err := c.Announce(t.Context(), tracker.Announce{Join: []tracker.Join{j}}); err != nil {
		t.Fatal(err)
	}
}

// With the tracker down, a pull does not hang: the node fetches from the
// origin after the stall timeout.
func TestTrackerDown(t *testing.T) {
	b := randomBlob(t, 1<<20)
	o := newOrigin(t, b)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c := newCluster(t, 1, swarm.Options{Tracker: dead.URL, StallTimeout: 300 * time.Millisecond})
	start := time.Now()
	c.pullAll(b, o, 20*time.Second)
	t.Logf("pulled in %s", time.Since(start))
	if s := c.stats(); s.Fallbacks != 1 || o.gets.Load() != 1 {
		t.Fatalf("fallbacks %d, origin GETs %d; want 1 and 1", s.Fallbacks, o.gets.Load())
	}
}

// With the origin down, a blob some node holds is still pulled; a tracker
// that restarted learns it again from the node's announces; a node that
// restarted serves the blobs it held.
func TestOriginDownRestarts(t *testing.T) {
	b := randomBlob(t, 2<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	c := newCluster(t, 1, swarm.Options{StallTimeout: 30 * time.Second})
	c.pullAll(b, o, 20*time.Second)
	c.waitWhole(d)
	o.down.Store(true)

	// The node restarts on its directory, and the tracker restarts.
	seed := c.nodes[0]
	seed.kill()
	c.nodes = nil
	c.restartTracker()
	c.add(swarm.Options{StallTimeout: 30 * time.Second}, seed.dir)
	c.waitWhole(d)
	for range 3 {
		c.add(swarm.Options{StallTimeout: 30 * time.Second}, t.TempDir())
	}
	c.pullAll(b, o, 20*time.Second)
	if o.gets.Load() != 1 {
		t.Fatalf("origin GETs %d, want 1 (before it went down)", o.gets.Load())
	}
}

// Whole blobs past the cache budget are dropped, least recently asked for
// first, and left at the tracker; each pull is reported once.
func TestCacheBudgetAndRecords(t *testing.T) {
	var blobs [][]byte
	for range 3 {
		blobs = append(blobs, randomBlob(t, 1<<20))
	}
	o := newOrigin(t, blobs...)
	var mu sync.Mutex
	var records []swarm.PullRecord
	c := newCluster(t, 1, swarm.Options{CacheBytes: 5 << 19, OnPull: func(r swarm.PullRecord) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	}})
	n := c.nodes[0].node
	for _, b := range blobs {
		c.pullAll(b, o, 20*time.Second)
		c.waitWhole(digest.FromBytes(b))
	}
	waitFor(t, "the oldest blob dropped", func() bool { return !n.Has(digest.FromBytes(blobs[0])) })
	if !n.Has(digest.FromBytes(blobs[1])) || !n.Has(digest.FromBytes(blobs[2])) {
		t.Fatal("a blob within the budget was dropped")
	}
	waitFor(t, "the tracker told", func() bool {
		_, ok := c.trk.Load().Swarm(digest.FromBytes(blobs[0]))
		return !ok
	})
	mu.Lock()
	defer mu.Unlock()
	if len(records) != 3 {
		t.Fatalf("%d pull records, want 3", len(records))
	}
	for _, r := range records {
		if r.Err != nil || r.Size != 1<<20 || r.OriginBytes != 1<<20 || r.FirstByte <= 0 || r.Took < r.FirstByte {
			t.Errorf("record %+v", r)
		}
	}
}

// A download rate bounds what the node takes in.
func TestDownloadRate(t *testing.T) {
	b := randomBlob(t, 2<<20)
	o := newOrigin(t, b)
	c := newCluster(t, 1, swarm.Options{DownloadRate: 4 << 20})
	start := time.Now()
	c.pullAll(b, o, 20*time.Second)
	// 2 MiB at 4 MiB/s, the first 256 KiB at once: about 0.44 s.
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("2 MiB at 4 MiB/s took %s", took)
	}
}

// A hostile peer that joins a swarm first, as if it held the blob whole,
// with the layout and piece hashes of other bytes, and serves those bytes:
// every piece matches its published hash and the whole does not. The
// reader that got those bytes fails before the last one; the node then
// takes the blob from the origin alone, and the next read succeeds.
func TestPoisonedSwarm(t *testing.T) {
	b := randomBlob(t, 2<<20)
	d := digest.FromBytes(b)
	fake := randomBlob(t, len(b))
	o := newOrigin(t, b)
	c := newCluster(t, 1, swarm.Options{StallTimeout: 20 * time.Second})

	l := tracker.Layout{Size: int64(len(fake)), PieceSize: 256 << 10}
	var ps []tracker.PieceHash
	for i := range l.Pieces() {
		off, n := l.Bounds(i)
		ps = append(ps, tracker.PieceHash{Index: i, Hash: digest.FromBytes(fake[off : off+n])})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/have") {
			fmt.Fprintln(w, `{"complete":true}`)
			return
		}
		var off, end int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &off, &end); err != nil {
			http.Error(w, "no range", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(fake[off : end+1])
	}))
	joinAs(t, c.tracker, "liar", srv, tracker.Join{Digest: d, Complete: true, Layout: &l, Pieces: ps})

	n := c.nodes[0].node
	err := pull(t.Context(), n, b, o.fetch(d), "node0")
	if err == nil || !strings.Contains(err.Error(), "did not match the digest") {
		t.Fatalf("first pull: %v, want it refused before its last byte", err)
	}
	c.waitWhole(d)
	if err := pull(t.Context(), n, b, o.fetch(d), "node0"); err != nil {
		t.Fatalf("pull after the node went to the origin: %v", err)
	}
	if o.gets.Load() != 1 {
		t.Fatalf("origin GETs %d, want 1", o.gets.Load())
	}
}

// A node whose pieces come slowly, each taking longer than the stall
// timeout, is not stalled: bytes arriving are progress, and the origin is
// asked once (by the fetcher).
func TestSlowPiecesAreProgress(t *testing.T) {
	b := randomBlob(t, 512<<10)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	c := newCluster(t, 0, swarm.Options{})
	fetcher := c.add(swarm.Options{StallTimeout: time.Minute}, t.TempDir())
	if err := pull(t.Context(), fetcher.node, b, o.fetch(d), "fetcher"); err != nil {
		t.Fatal(err)
	}
	// 512 KiB at 160 KiB/s: about 3 s, no piece within the stall timeout
	// (bytes come through the rate limiter about once a second).
	slow := c.add(swarm.Options{StallTimeout: 1300 * time.Millisecond, DownloadRate: 160 << 10}, t.TempDir())
	if err := pull(t.Context(), slow.node, b, o.fetch(d), "slow"); err != nil {
		t.Fatal(err)
	}
	if s := slow.node.Stats(); s.Fallbacks != 0 || o.gets.Load() != 1 {
		t.Fatalf("fallbacks %d, origin GETs %d; want 0 and 1", s.Fallbacks, o.gets.Load())
	}
}

// syncLog collects a node's log lines (and passes them to the test's).
type syncLog struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// debug is a logger of every level into l.
func (l *syncLog) debug() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A holder whose upload slots are all busy answers at once that it is
// busy, and its requesters keep it as a neighbour: they take the piece
// from someone else meanwhile and ask it again a little later. (Requests
// used to queue for a slot for seconds, holding their pieces, and the
// holder was then dropped: the one node with the blob at the start of a
// cold herd lost most of its neighbours.)
func TestBusyHolderKeepsNeighbours(t *testing.T) {
	b := randomBlob(t, 2<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	c := newCluster(t, 0, swarm.Options{})
	seed := c.add(swarm.Options{UploadSlots: 1, UploadRate: 512 << 10}, t.TempDir())
	if err := pull(t.Context(), seed.node, b, o.fetch(d), "seed"); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{t: t}
	for range 4 {
		c.add(swarm.Options{StallTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(logs, nil))}, t.TempDir())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range c.nodes[1:] {
		wg.Go(func() {
			if err := pull(ctx, m.node, b, o.fetch(d), fmt.Sprint("node", i+1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if strings.Contains(logs.String(), "dropping a neighbour") {
		t.Errorf("a requester dropped a neighbour that was only busy")
	}
	if o.gets.Load() != 1 {
		t.Errorf("origin GETs %d, want 1 (the seed's)", o.gets.Load())
	}
}

// The fetcher chooses the layout as it joins, when the swarm it knows is
// often itself alone: a blob still gets enough pieces for the first ones
// to reach the rest of a cold herd soon (a 64 MiB blob was cut into 16
// pieces of 4 MiB, which took seconds each to reach the first peers).
func TestPieceSizeColdHerd(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		peers int
		want  int64
	}{
		{64 << 20, 1, 256 << 10},
		{64 << 20, 32, 256 << 10},
		{256 << 20, 1, 512 << 10},
		{1 << 20, 1, 256 << 10},
		{1 << 30, 1, 2 << 20},
		{1 << 30, 1000, 512 << 10},
		{8 << 30, 1, 8 << 20},
		{64 << 30, 1, 8 << 20},
	} {
		if got := swarm.PieceSize(tc.size, tc.peers); got != tc.want {
			t.Errorf("PieceSize(%d, %d) = %d, want %d", tc.size, tc.peers, got, tc.want)
		}
	}
}

// A blob of 16 MiB or more begins with pieces a quarter of the others'
// size, 64 of them: the swarm's first round of copies is as long as a
// piece takes on the wire. A smaller blob is cut in pieces of the head's
// size all through (64 KiB): at 32 nodes on 10 Mbit/s, 4 pieces of 256
// KiB for 1 MiB kept the nodes waiting on each other's upload slots. One
// of 2 MiB or less ends with a tail of pieces a quarter of that (16 KiB),
// over its last 256 KiB or quarter, if that makes 4 pieces or more.
func TestChooseLayout(t *testing.T) {
	for _, tc := range []struct {
		size      int64
		peers     int
		head, all int
		piece     int64
		tail      int
	}{
		{64 << 20, 32, 64, 64 + 240, 256 << 10, 0},
		{16 << 20, 1, 64, 64 + 48, 256 << 10, 0},
		{16<<20 - 1, 1, 0, 256, 64 << 10, 0},
		{8 << 20, 14, 0, 128, 64 << 10, 0},
		{2<<20 + 1, 32, 0, 33, 64 << 10, 0},
		{2 << 20, 32, 0, 28 + 16, 64 << 10, 16},
		{1 << 20, 32, 0, 12 + 16, 64 << 10, 16},
		{512 << 10, 32, 0, 6 + 8, 64 << 10, 8},
		{256 << 10, 8, 0, 3 + 4, 64 << 10, 4},
		{256<<10 - 1, 8, 0, 4, 64 << 10, 0},
		{100, 3, 0, 1, 64 << 10, 0},
		{1 << 30, 32, 64, 64 + 496, 2 << 20, 0},
		{64 << 30, 1, 64, 64 + 8176, 8 << 20, 0},
	} {
		l := swarm.ChooseLayout(tc.size, tc.peers)
		if err := l.Validate(); err != nil {
			t.Errorf("ChooseLayout(%d, %d): %v", tc.size, tc.peers, err)
		}
		if l.HeadPieces != tc.head || l.Pieces() != tc.all || l.PieceSize != tc.piece || (tc.head > 0 && l.HeadPieceSize != l.PieceSize/4) ||
			l.TailPieces != tc.tail || (tc.tail > 0 && l.TailPieceSize != l.PieceSize/4) {
			t.Errorf("ChooseLayout(%d, %d) = %+v, %d pieces; want %d head pieces and %d tail pieces of a quarter, %d in all, pieces of %d", tc.size, tc.peers, l, l.Pieces(), tc.head, tc.tail, tc.all, tc.piece)
		}
	}
}

// A cold herd pulls a blob whose layout has a head: each node gets it
// whole and verified, from one origin GET.
func TestColdHerdHeadPieces(t *testing.T) {
	const nodes, size = 6, 16 << 20
	b := randomBlob(t, size)
	o, _, c := slowOriginCluster(t, b, nodes, swarm.Options{StallTimeout: 20 * time.Second, TreeBlobs: -1})
	c.pullAll(b, o, 60*time.Second)
	if o.gets.Load() != 1 || c.stats().Fallbacks != 0 {
		t.Errorf("origin GETs %d, fallbacks %d; want 1 and 0", o.gets.Load(), c.stats().Fallbacks)
	}
	s, ok := c.trk.Load().Swarm(digest.FromBytes(b))
	if !ok || s.Layout == nil || s.Layout.HeadPieces == 0 {
		t.Fatalf("the swarm's layout is %+v; want one with a head", s.Layout)
	}
}

// A cold herd whose tracker is unreachable for longer than the stall
// timeout falls back to the origin, each node on a layout of its own; once
// the tracker answers again, the nodes form the swarm they missed: the
// node the tracker names the fetcher streams as the fetcher, publishing
// its layout, and the others leave the origin for their neighbours. (They
// used to stream the whole blob from the origin each, N copies, while the
// lease passed from one of them to the next with nothing published.)
func TestTrackerBackSwarmForms(t *testing.T) {
	const nodes, size = 8, 4 << 20
	b := randomBlob(t, size)
	o := newOrigin(t, b)
	o.delay.Store(int64(200 * time.Millisecond)) // 12.8 s for the blob, each stream
	var down atomic.Bool
	down.Store(true)
	c := &cluster{t: t}
	c.startTracker()
	c.trkSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		c.trk.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(c.trkSrv.Close)
	c.tracker = c.trkSrv.URL
	for range nodes {
		c.add(swarm.Options{StallTimeout: 2 * time.Second}, t.TempDir())
	}
	time.AfterFunc(3*time.Second, func() { down.Store(false) })
	c.pullAll(b, o, 60*time.Second)
	s := c.stats()
	t.Logf("origin GETs %d, origin bytes %d, peer bytes %d, fallbacks %d", o.gets.Load(), o.bytes.Load(), s.PeerBytes, s.Fallbacks)
	if got := o.bytes.Load(); got > nodes*size/2 {
		t.Errorf("the origin sent %d bytes, %.1f copies of the blob; want under %d", got, float64(got)/size, nodes/2)
	}
}

// While the swarm's fetcher holds its lease, a node whose pieces come
// slower than its stall timeout waits for the fetcher rather than going
// to the origin itself: the tracker passes the lease on if the fetcher
// publishes nothing. (Every such node used to fetch pieces from the
// origin too; on a cluster whose origin link is shared, at 10 Mbit/s
// with 32 nodes, those requests took the fetcher's bandwidth, the
// fetcher published nothing within its lease, each next fetcher fared
// the same, and the swarm never recovered: each node took the blob from
// the origin at a 32nd of the link.)
//
// A node falling back while the fetcher streams asks the origin for the
// pieces no one has yet: a second GET. Once every piece is published a
// node may stall and fall back, rightly; under load (-race on two cores)
// the last pieces from its neighbours can take longer than 250 ms, and
// such a fallback asks the origin for nothing, as every piece it lacks is
// on its way. So the origin's GETs and bytes are what is checked.
func TestSlowFetcherNoFallback(t *testing.T) {
	b := randomBlob(t, 1<<20) // 12 pieces of 64 KiB, then 16 of 16 KiB (ChooseLayout)
	o := newOrigin(t, b)
	o.delay.Store(int64(400 * time.Millisecond)) // 400 ms each 64 KiB, longer than the stall timeout
	c := newCluster(t, 4, swarm.Options{StallTimeout: 250 * time.Millisecond})
	c.pullAll(b, o, 60*time.Second)
	s := c.stats()
	t.Logf("origin GETs %d, origin bytes %d, fallbacks %d", o.gets.Load(), o.bytes.Load(), s.Fallbacks)
	if o.gets.Load() != 1 || o.bytes.Load() > int64(len(b)) {
		t.Errorf("origin GETs %d, origin bytes %d; want 1 and at most %d (the fetcher's stream alone)", o.gets.Load(), o.bytes.Load(), len(b))
	}
}

// upload is one piece a node sent to a peer (a 206 answer).
type upload struct {
	node, to, rng string // to: the requester, from its Gantry-Peer header
	at            time.Time
}

// uploads records the pieces each node sends, and the have streams it
// serves.
type uploads struct {
	mu      sync.Mutex
	list    []upload
	haves   []upload // no rng
	stripes []upload // rng: the stripe asked for
}

// wrap counts the piece requests h answers with bytes, the have streams
// it opens and the stripes it sends down trees.
func (u *uploads) wrap(id string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/have") {
			u.mu.Lock()
			u.haves = append(u.haves, upload{node: id, to: r.Header.Get("Gantry-Peer"), at: time.Now()})
			u.mu.Unlock()
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		at := time.Now()
		h.ServeHTTP(sw, r)
		u.mu.Lock()
		defer u.mu.Unlock()
		switch stripe := r.Header.Get("Gantry-Stripe"); {
		case sw.status == http.StatusPartialContent:
			u.list = append(u.list, upload{node: id, to: r.Header.Get("Gantry-Peer"), rng: r.Header.Get("Range"), at: at})
		case sw.status == http.StatusOK && stripe != "":
			u.stripes = append(u.stripes, upload{node: id, to: r.Header.Get("Gantry-Peer"), rng: stripe, at: at})
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController flush the answers that pass an
// arrival on as it comes.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// While the fetcher streams a blob from the origin it holds pieces no one
// else has; it gives each of them to one peer only (super-seeding), so
// that the other nodes' uplinks carry the newest pieces and its own
// carries each piece about once. The requesters it refuses do not stall.
// (Every requester used to rank the pieces only the fetcher held rarest
// and ask the fetcher for each: at 10 Mbit/s per node the others' uplinks
// had little that was wanted, and the swarm took 1.5-1.7x S/B.)
func TestFetcherSendsEachPieceOnce(t *testing.T) {
	const nodes, size = 6, 8 << 20 // 128 pieces of 64 KiB (ChooseLayout)
	b := randomBlob(t, size)
	d := digest.FromBytes(b)
	o, up, c := slowOriginCluster(t, b, nodes, swarm.Options{StallTimeout: 20 * time.Second, TreeBlobs: -1})
	start := time.Now()
	c.pullAll(b, o, 60*time.Second)
	took := time.Since(start)
	streamed := o.streamEnd()
	s := c.stats()
	fetcher := c.fetcher()
	up.mu.Lock()
	defer up.mu.Unlock()
	during, after := map[string]int{}, 0
	sent := 0
	for _, u := range up.list {
		if u.node != fetcher {
			continue
		}
		if u.at.Before(streamed) {
			during[u.rng]++
			sent++
		} else {
			after++
		}
	}
	pieces := swarm.ChooseLayout(size, nodes).Pieces()
	t.Logf("fetcher %s sent %d pieces while streaming (%d distinct of %d), %d after; origin stream %v, pull %v; origin GETs %d, fallbacks %d",
		fetcher, sent, len(during), pieces, after, streamed.Sub(start).Round(time.Millisecond), took.Round(time.Millisecond), o.gets.Load(), s.Fallbacks)
	if o.gets.Load() != 1 || s.Fallbacks != 0 {
		t.Errorf("origin GETs %d, fallbacks %d; want 1 and 0", o.gets.Load(), s.Fallbacks)
	}
	if slack := pieces/8 + 2; sent > pieces+slack {
		t.Errorf("the fetcher sent %d pieces while it streamed %d from the origin; want each about once (at most %d)", sent, pieces, pieces+slack)
	}
	// The peers refused a piece take it elsewhere at once: the pulls end
	// soon after the origin stream.
	if tail := took - streamed.Sub(start); tail > 5*time.Second {
		t.Errorf("the pulls ended %v after the origin stream; want under 5 s", tail.Round(time.Millisecond))
	}
	c.waitWhole(d)
}

// slowOriginCluster is a cluster of nodes with opts whose pieces sent to
// peers are counted (up), and the origin of b, slowed so that 8 MiB take
// about 5 s: the pieces spread while the fetcher streams.
func slowOriginCluster(t *testing.T, b []byte, nodes int, opts swarm.Options) (*origin, *uploads, *cluster) {
	o := newOrigin(t, b)
	o.delay.Store(int64(20 * time.Millisecond))
	up := &uploads{}
	c := newCluster(t, 0, swarm.Options{})
	c.wrap = up.wrap
	for range nodes {
		c.add(opts, t.TempDir())
	}
	return o, up, c
}

// streamEnd is when the origin's stream ended, less a margin: its last
// write is stamped after the bytes left, and no piece sent once the stream
// ended may count as sent during it.
func (o *origin) streamEnd() time.Time {
	return time.Unix(0, o.last.Load()).Add(-100 * time.Millisecond)
}

// fetcher is the node that took bytes from the origin ("" if none).
func (c *cluster) fetcher() string {
	for _, m := range c.nodes {
		if m.node.Stats().OriginBytes > 0 {
			return m.id
		}
	}
	return ""
}

// taken lists the ranges node sent to peer.
func (u *uploads) taken(node, peer string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var rs []string
	for _, up := range u.list {
		if up.node == node && up.to == peer {
			rs = append(rs, up.rng)
		}
	}
	return rs
}

// A super-seeding fetcher's piece is not lost with the node it gave it to:
// when that node dies before it passed its pieces on (here it uploads too
// slowly to pass on any), the fetcher gives them to others at once, not
// at the end of its stream.
func TestSeedTakerKilled(t *testing.T) {
	const size = 8 << 20 // 128 pieces of 64 KiB (ChooseLayout)
	b := randomBlob(t, size)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(40 * time.Millisecond)) // about 5 s for the blob
	up := &uploads{}
	c := newCluster(t, 0, swarm.Options{})
	c.wrap = up.wrap
	for range 4 {
		c.add(swarm.Options{StallTimeout: 20 * time.Second, TreeBlobs: -1}, t.TempDir())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := c.startPulls(ctx, b, o)
	var fetcher string
	waitFor(t, "a fetcher", func() bool {
		s, _ := c.trk.Load().Swarm(d)
		fetcher = s.Fetcher
		return s.Layout != nil && s.Published > 0
	})
	// The victim joins late, so that it is not the fetcher, and passes on
	// nothing within the test (256 KiB at 4 KiB/s).
	victim := c.add(swarm.Options{StallTimeout: 20 * time.Second, UploadRate: 4 << 10, TreeBlobs: -1}, t.TempDir())
	go func() { _ = pull(ctx, victim.node, b, o.fetch(d), "victim") }()
	var took []string
	waitFor(t, "the victim given two pieces", func() bool {
		took = up.taken(fetcher, victim.id)
		return len(took) >= 2
	})
	victim.kill()
	killed := time.Now()
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	streamed := time.Unix(0, o.last.Load())
	if streamed.Before(killed.Add(3 * time.Second)) {
		t.Fatalf("the origin stream ended within 3 s of the kill; slow it down")
	}
	t.Logf("victim took %v from %s; origin stream ended %v after the kill; origin GETs %d", took, fetcher, streamed.Sub(killed).Round(time.Millisecond), o.gets.Load())
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, rng := range took {
		again := false
		for _, u := range up.list {
			if u.rng == rng {
				t.Logf("%s: %s sent it to %s, %v after the kill", rng, u.node, u.to, u.at.Sub(killed).Round(time.Millisecond))
			}
			again = again || u.rng == rng && u.to != victim.id && u.at.Before(killed.Add(2*time.Second))
		}
		if !again {
			t.Errorf("piece %s, given to the killed node, reached no other node within 2 s of the kill", rng)
		}
	}
	if o.gets.Load() != 1 {
		t.Errorf("origin GETs %d, want 1", o.gets.Load())
	}
}

// Every node takes the fetcher as a neighbour, however few neighbours it
// takes: a node that does not read the fetcher's have stream is never
// offered a new piece, holds only pieces the others have, and its uplink
// idles (at 32 nodes and 12 neighbours, a third of the nodes sent at under
// half their rate while the origin streamed).
func TestEveryNodeTakesTheFetcher(t *testing.T) {
	const nodes, size = 8, 8 << 20 // 128 pieces of 64 KiB (ChooseLayout)
	b := randomBlob(t, size)
	o, up, c := slowOriginCluster(t, b, nodes, swarm.Options{StallTimeout: 20 * time.Second, Neighbours: 2, TreeBlobs: -1})
	c.pullAll(b, o, 60*time.Second)
	streamed, fetcher := o.streamEnd(), c.fetcher()
	up.mu.Lock()
	defer up.mu.Unlock()
	given := map[string]int{}
	for _, u := range up.list {
		if u.node == fetcher && u.at.Before(streamed) {
			given[u.to]++
		}
	}
	t.Logf("while it streamed, the fetcher %s sent pieces to %v", fetcher, given)
	if len(given) != nodes-1 {
		t.Errorf("the fetcher sent pieces to %d nodes of %d; want every other node", len(given), nodes-1)
	}
}

// A super-seeding fetcher reads the have streams of a bounded number of
// nodes (seedReads times Options.Neighbours), not of every member: each
// costs its downlink, which carries the origin stream, about 40 bytes a
// piece, some 15% of the link in a swarm of a thousand. It still gives
// each piece about once, and the swarm still takes one origin fetch.
func TestSeedingReadsBoundedHaves(t *testing.T) {
	const nodes, neighbours, size = 14, 2, 8 << 20 // 128 pieces of 64 KiB (ChooseLayout)
	const bound = 4 * neighbours
	b := randomBlob(t, size)
	o, up, c := slowOriginCluster(t, b, nodes, swarm.Options{StallTimeout: 20 * time.Second, Neighbours: neighbours, TreeBlobs: -1})
	c.pullAll(b, o, 60*time.Second)
	streamed, fetcher := o.streamEnd(), c.fetcher()
	up.mu.Lock()
	defer up.mu.Unlock()
	read, sent := map[string]bool{}, 0
	for _, h := range up.haves {
		if h.to == fetcher && h.at.Before(streamed) {
			read[h.node] = true
		}
	}
	for _, u := range up.list {
		if u.node == fetcher && u.at.Before(streamed) {
			sent++
		}
	}
	t.Logf("while it streamed, the fetcher %s read the have streams of %d nodes and sent %d pieces; origin GETs %d", fetcher, len(read), sent, o.gets.Load())
	if len(read) > bound {
		t.Errorf("the fetcher read the have streams of %d nodes; want at most %d", len(read), bound)
	}
	if pieces := swarm.ChooseLayout(size, nodes).Pieces(); sent > pieces+pieces/8+2 {
		t.Errorf("the fetcher sent %d pieces while it streamed %d; want each about once", sent, pieces)
	}
	if o.gets.Load() != 1 {
		t.Errorf("origin GETs %d; want 1", o.gets.Load())
	}
}

// A node refused a piece because the neighbour gave it to another node
// (503 naming the taker in Gantry-Piece-Given, as a super-seeding fetcher
// answers) takes it elsewhere at once and does not ask that neighbour for
// it again unless the neighbour tells it again (on main a node asked a
// neighbour that holds the blob whole, or says so, for the same piece
// hundreds of times a second: the refusal cleared nothing it knew).
func TestPieceGivenElsewhere(t *testing.T) {
	b := randomBlob(t, 4<<20)
	d := digest.FromBytes(b)
	o := newOrigin(t, b)
	o.delay.Store(int64(20 * time.Millisecond)) // a second or so: the pieces spread while it streams
	c := newCluster(t, 3, swarm.Options{StallTimeout: 20 * time.Second})
	var mu sync.Mutex
	asked := map[string]int{} // node and range -> requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/have") {
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprintln(w, `{"complete":true}`)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a neighbour to the end
			return
		}
		mu.Lock()
		asked[r.Header.Get("Gantry-Peer")+" "+r.Header.Get("Range")]++
		mu.Unlock()
		w.Header().Set("Gantry-Piece-Given", "someone-else")
		http.Error(w, "given to another peer", http.StatusServiceUnavailable)
	}))
	joinAs(t, c.tracker, "giver", srv, tracker.Join{Digest: d})
	c.pullAll(b, o, 60*time.Second)
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for k, n := range asked {
		total += n
		if n > 1 {
			t.Errorf("%s: asked %d times after the piece was given elsewhere; want once", k, n)
		}
	}
	t.Logf("%d piece requests refused as given elsewhere", total)
	if total == 0 {
		t.Error("no node asked the giver for a piece; the test proves nothing")
	}
}

// A node whose have stream a peer reads reads the peer's in turn, so that
// every node is read by at least as many peers as it picked, and its
// uplink is asked for pieces. Picks are random: on main, with one pick
// besides the fetcher among 12 peers, a node was read by no peer but the
// fetcher with a chance of (11/12)^12, about 0.35, and its uplink idled
// (at 32 nodes with 12 neighbours, one node was asked by 5 peers and sent
// 152 pieces while another was asked by 24 and refused 407 requests).
// A peer at its bound of neighbours (three times the two here) does not
// follow; a node whose one pick was such a peer picks another (without
// that, 1 run in 12-20 failed under the race detector).
func TestNeighboursReadEachOther(t *testing.T) {
	const nodes, size = 14, 8 << 20
	b := randomBlob(t, size)
	o, up, c := slowOriginCluster(t, b, nodes, swarm.Options{StallTimeout: 20 * time.Second, Neighbours: 2, TreeBlobs: -1})
	c.pullAll(b, o, 60*time.Second)
	fetcher := c.fetcher()
	up.mu.Lock()
	defer up.mu.Unlock()
	readers := map[string]map[string]bool{}
	for _, h := range up.haves {
		if h.node != fetcher && h.to != fetcher && h.to != "" {
			if readers[h.node] == nil {
				readers[h.node] = map[string]bool{}
			}
			readers[h.node][h.to] = true
		}
	}
	for _, m := range c.nodes {
		if m.id != fetcher && len(readers[m.id]) == 0 {
			t.Errorf("no node but the fetcher read the have stream of %s", m.id)
		}
	}
}
