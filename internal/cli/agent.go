package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/p2p/mirror"
	"github.com/gantry-dev/gantry/internal/p2p/swarm"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/spf13/cobra"
)

// Defaults of gantry agent.
const (
	defaultAgentListen = "127.0.0.1:5050"
	// containerdDialTimeout is the dial timeout containerd is given for
	// the agent: a dead agent costs a pull this much before containerd
	// goes to the next host (the upstream).
	containerdDialTimeout = "500ms"
)

type agentFlags struct {
	listen, peerListen, peerAddr string
	upstream, tracker, data, id  string
	neighbours                   int
	requests                     int
	uploadSlots                  int
	stallTimeout                 time.Duration
	cacheSize, downRate, upRate  string
	leaf                         bool
	access                       registryFlags // TLS of --upstream and --tracker
}

func newAgentCmd(e *env) *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node's registry mirror, which takes blobs from the other nodes",
		Long: `agent runs on every node of a cluster as the registry mirror of its
containerd or Docker (gantry agent containerd-config prints containerd's
hosts.toml). Tags and manifests are resolved at --upstream with the
credentials of the client asking (its Authorization header is passed on, and
the upstream's challenge passed back). Blobs come from the swarm: every
agent that wants a blob joins its swarm at the tracker (gantry tracker), one
of them streams it from the upstream and publishes each piece's hash as it
lands, and the others take the pieces from each other as they arrive, so
the upstream sends each blob about once however many nodes pull it at the
same moment. Every piece is checked against its hash and every blob against
its digest before a byte of it reaches containerd or another node.

When the swarm makes no progress for --stall-timeout (the tracker down, no
peer answering), the agent fetches what is missing from the upstream itself.
A peer that stops reading what it asked for loses its request once a write
to it (32 KiB at most) has waited as long: an agent whose uplink carries
under about 256 kbit/s (shared by up to --upload-slots pieces at once)
should raise --stall-timeout.
Given several tracker replicas (gantry tracker --redis), the agent uses the
first that answers and, when its stream there ends, the next, announcing
again everything it wants and holds.

--peer-listen is where the other agents take pieces from this one; it must
be reachable from them (a node's cluster address). Whole blobs are kept in
--data (up to --cache-size, least recently pulled dropped first) and served
to other agents after a restart.

The peer port and gantry tracker speak plain HTTP on any address, by
design: what crosses them is content-addressed, and containerd gets no byte
of a blob that has not matched the digest its manifest names (the manifest
comes from the upstream, over the upstream's TLS), so bytes altered on the
way cost a retry, not integrity. TLS there would add privacy of blobs
between nodes that may pull them anyway. The upstream and the tracker may
be https:// URLs, checked against the system's roots plus --ca-file.

Besides the registry API under /v2/, the mirror address serves /metrics
(Prometheus: bytes from the upstream and from peers, bytes served to peers,
fallbacks, corrupt pieces, time to first byte and pull durations) and
/healthz. Each pull is logged on one line ("msg=pull": digest, size, start,
first_byte, took, origin_bytes, peer_bytes, fallback, outcome), from which a
rollout's makespan and percentiles are computed.`,
		Example: `  # on each node: the mirror on localhost, pieces on the node's address
  gantry agent --upstream https://registry.example.com \
    --tracker http://tracker.example.com:7070 --peer-listen 10.0.0.5:5051

  # containerd: write the mirror's hosts.toml for the upstream
  gantry agent containerd-config --upstream https://registry.example.com \
    > /etc/containerd/certs.d/registry.example.com/hosts.toml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", defaultAgentListen, "address of the registry mirror, HOST:PORT (containerd's and Docker's)")
	fl.StringVar(&f.peerListen, "peer-listen", "", "address other agents take pieces from, IP:PORT (required)")
	fl.StringVar(&f.peerAddr, "peer-advertise", "", "address the other agents are told to use (default: --peer-listen's, which must then name an IP)")
	fl.StringVar(&f.upstream, "upstream", "", "URL of the registry mirrored (required)")
	fl.StringVar(&f.tracker, "tracker", "", "URL of the tracker, or URL,URL... of its replicas (required)")
	addRegistryFlags(fl, &f.access)
	fl.StringVar(&f.data, "data", filepath.Join(defaultRoot(), "agent"), "directory of the blobs this node keeps")
	fl.StringVar(&f.id, "id", "", "this node's name in its swarms (default: host name and --peer-advertise)")
	fl.IntVar(&f.neighbours, "neighbours", 12, "peers this node takes the pieces of one blob from at once")
	fl.IntVar(&f.requests, "requests", 6, "piece requests this node keeps in flight for one blob, over all its neighbours")
	fl.IntVar(&f.uploadSlots, "upload-slots", 4, "pieces this node sends to peers at once; more requests are told to ask elsewhere")
	fl.DurationVar(&f.stallTimeout, "stall-timeout", 5*time.Second, "fetch from the upstream what the swarm has not brought for this long")
	fl.StringVar(&f.cacheSize, "cache-size", "20GiB", "bytes of whole blobs kept in --data; past it the least recently pulled go (0: no bound)")
	fl.StringVar(&f.downRate, "download-rate", "0", "bytes per second taken from peers and the upstream, e.g. 50MiB (0: no bound)")
	fl.StringVar(&f.upRate, "upload-rate", "0", "bytes per second sent to peers, e.g. 50MiB (0: no bound)")
	fl.BoolVar(&f.leaf, "leaf", false, "pass on nothing down small blobs' trees (for a node on a slower or busier link than the others: inside a tree it would hold the nodes below it to its pace)")
	cmd.AddCommand(newAgentContainerdConfigCmd())
	return cmd
}

func (f *agentFlags) check() error {
	for flag, v := range map[string]string{"--peer-listen": f.peerListen, "--upstream": f.upstream, "--tracker": f.tracker} {
		if v == "" {
			return fmt.Errorf("%s is required", flag)
		}
	}
	urls := map[string][]string{"--upstream": {f.upstream}, "--tracker": strings.Split(f.tracker, ",")}
	for flag, vs := range urls {
		for _, v := range vs {
			u, err := url.Parse(strings.TrimSpace(v))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s %q: want an http:// or https:// URL", flag, v)
			}
		}
	}
	for flag, v := range map[string]string{"--listen": f.listen, "--peer-listen": f.peerListen} {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%s %q: want HOST:PORT: %v", flag, v, err)
		}
	}
	if f.peerAddr == "" {
		host, _, _ := net.SplitHostPort(f.peerListen)
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			return fmt.Errorf("--peer-listen %q does not say where other nodes reach this one: give --peer-advertise IP:PORT", f.peerListen)
		}
	}
	if f.data == "" {
		return errors.New("no data directory: give --data DIR")
	}
	if f.requests < 1 {
		return fmt.Errorf("--requests %d: want 1 or more", f.requests)
	}
	if f.uploadSlots < 1 {
		return fmt.Errorf("--upload-slots %d: want 1 or more", f.uploadSlots)
	}
	if f.neighbours < 1 {
		return fmt.Errorf("--neighbours %d: want 1 or more", f.neighbours)
	}
	if f.stallTimeout <= 0 {
		return fmt.Errorf("--stall-timeout %s: want a positive duration", f.stallTimeout)
	}
	return nil
}

func runAgent(ctx context.Context, e *env, f agentFlags) error {
	if err := f.check(); err != nil {
		return usageError{err}
	}
	mln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on --listen %s: %w", f.listen, err)
	}
	defer mln.Close()
	pln, err := net.Listen("tcp", f.peerListen)
	if err != nil {
		return fmt.Errorf("listen on --peer-listen %s: %w", f.peerListen, err)
	}
	defer pln.Close()
	advertise := f.peerAddr
	if advertise == "" {
		advertise = pln.Addr().String() // the port chosen, for --peer-listen IP:0
	}
	id := f.id
	if id == "" {
		host, _ := os.Hostname()
		id = host + "/" + advertise
	}
	sizes := map[string]int64{}
	for flag, v := range map[string]string{"--cache-size": f.cacheSize, "--download-rate": f.downRate, "--upload-rate": f.upRate} {
		n, err := parseSize(v)
		if v == "0" {
			n, err = 0, nil
		}
		if err != nil {
			return usageError{fmt.Errorf("%s: %w", flag, err)}
		}
		sizes[flag] = n
	}
	tlsConf, err := remote.ClientTLS(f.access.caFile, f.access.insecure)
	if err != nil {
		return err // names the file
	}
	m := newAgentMetrics()
	node, err := swarm.New(swarm.Options{
		ID: id, Addr: advertise, Tracker: f.tracker, Dir: f.data,
		Neighbours: f.neighbours, Requests: f.requests, UploadSlots: f.uploadSlots, StallTimeout: f.stallTimeout, Logger: e.log,
		CacheBytes: sizes["--cache-size"], DownloadRate: sizes["--download-rate"], UploadRate: sizes["--upload-rate"],
		Leaf: f.leaf, TLS: tlsConf,
		OnPull: func(r swarm.PullRecord) {
			m.observe(r)
			level, outcome := slog.LevelInfo, "ok"
			if r.Err != nil {
				level, outcome = slog.LevelWarn, r.Err.Error()
			}
			e.log.Log(context.Background(), level, "pull", "digest", r.Digest, "size", r.Size, "start", r.Start.UTC().Format(time.RFC3339Nano),
				"first_byte", r.FirstByte, "took", r.Took, "origin_bytes", r.OriginBytes, "peer_bytes", r.PeerBytes, "fallback", r.Fallback, "outcome", outcome)
		},
	})
	if err != nil {
		return err
	}
	m.watch(node)
	store, err := mirror.New(mirror.Options{Upstream: f.upstream, Swarm: node, HTTP: upstreamClient(tlsConf)})
	if err != nil {
		return err
	}
	reg := registry.NewReadOnly(store, registry.Options{Logger: e.log})
	servers := []*http.Server{
		{Handler: withOps(mirror.Authorize(reg), m.mux()), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)},
		{Handler: node.Handler(), ConnContext: swarm.ConnContext, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)},
	}
	listeners := []net.Listener{mln, pln}
	errc := make(chan error, 3)
	nctx, stopNode := context.WithCancel(ctx)
	defer stopNode()
	go func() { errc <- node.Run(nctx) }()
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	e.log.Info("listening", "addr", mln.Addr().String(), "peer_addr", pln.Addr().String(), "advertise", advertise, "id", id, "upstream", f.upstream, "tracker", f.tracker)
	var serveErr error
	select {
	case <-ctx.Done():
		e.log.Info("shutting down", "reason", context.Cause(ctx))
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			_ = s.Close()
		}
	}
	stopNode()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("agent: %w", serveErr)
	}
	return nil
}

func newAgentContainerdConfigCmd() *cobra.Command {
	var upstream, listen, output string
	cmd := &cobra.Command{
		Use:   "containerd-config",
		Short: "Print containerd's hosts.toml that makes the agent the upstream's mirror",
		Long: `containerd-config prints the hosts.toml with which containerd pulls the
upstream's images through the agent on this node, and from the upstream
itself if the agent does not answer within ` + containerdDialTimeout + `. Write it to
/etc/containerd/certs.d/HOST/hosts.toml, where HOST is the upstream's host
(and port) as image names spell it (docker.io for Docker Hub), and point
containerd's CRI config_path at /etc/containerd/certs.d (or give
ctr --hosts-dir /etc/containerd/certs.d).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			if upstream == "" {
				return usageError{errors.New("--upstream is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return writeContainerdConfig(cmd.OutOrStdout(), upstream, listen)
			}
			var b strings.Builder
			if err := writeContainerdConfig(&b, upstream, listen); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
				return fmt.Errorf("--output: %w", err)
			}
			return atomicfile.Write(output, []byte(b.String()), atomicfile.Options{})
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "URL of the registry mirrored (required)")
	cmd.Flags().StringVar(&listen, "listen", defaultAgentListen, "the agent's --listen address")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the file here (its directory made, the file replaced atomically) instead of to stdout")
	return cmd
}

// writeContainerdConfig writes the hosts.toml of the agent at listen as
// the mirror of upstream.
func writeContainerdConfig(w io.Writer, upstream, listen string) error {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--upstream %q: want an http:// or https:// URL", upstream)}
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return usageError{fmt.Errorf("--listen %q: want HOST:PORT: %v", listen, err)}
	}
	dir := u.Host
	if oci.RegistryEndpoint(u.Host) == oci.DockerHubEndpoint {
		dir = oci.DockerHub
	}
	return writeHostsTOML(w, hostsTOML{
		dir: dir, server: upstream, mirror: "http://" + listen, dialTimeout: containerdDialTimeout,
		note: "if it does not answer within " + containerdDialTimeout + ", containerd pulls from the upstream.",
	})
}

// upstreamClient is the agent's client of its upstream: net/http's default
// transport (proxies from the environment), with tlsConf when --ca-file or
// --insecure asked for one.
func upstreamClient(tlsConf *tls.Config) *http.Client {
	if tlsConf == nil {
		return http.DefaultClient
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf.Clone() // its own: HTTP/2 setup adds to NextProtos
	return &http.Client{Transport: tr}
}
