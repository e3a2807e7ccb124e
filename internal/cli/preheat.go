package cli

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newPreheatCmd(e *env) *cobra.Command {
	var agent, platform string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "preheat IMAGE...",
		Short: "Pull images through an agent so its swarm holds them before a rollout",
		Long: `preheat pulls each IMAGE through the gantry agent at --agent and throws the
bytes away: the agent takes every blob into its swarm (from the upstream
once), so that the nodes of a rollout find the blobs among their peers, at
an hour that suits the network. IMAGE is named as its upstream names it;
its host, if any, is dropped (the agent mirrors one upstream).

Every byte is checked against its digest on the way, as a pull would.`,
		Example: `  # warm the swarm with tonight's release, from the agent on this node
  gantry preheat registry.example.com/apps/api:v2 registry.example.com/apps/web:v2`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("preheat takes one IMAGE or more: see gantry preheat --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var plat *ocispec.Platform
			if platform != "" {
				p, err := oci.ParsePlatform(platform)
				if err != nil {
					return usageError{fmt.Errorf("--platform: %w", err)}
				}
				plat = &p
			}
			reg, err := remote.New(agent, remote.Options{UserAgent: "gantry/" + Version})
			if err != nil {
				return usageError{fmt.Errorf("--agent: %w", err)}
			}
			for _, image := range args {
				if err := preheat(cmd.Context(), e, reg, image, copy.Options{Platform: plat, Concurrency: concurrency}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&agent, "agent", defaultAgentListen, "the agent's --listen address, HOST:PORT")
	addPlatformFlag(cmd.Flags(), &platform, platformFilter)
	addTransferConcurrencyFlag(cmd.Flags(), &concurrency)
	return cmd
}

// preheat pulls image through the agent reg into a sink.
func preheat(ctx context.Context, e *env, reg *remote.Registry, image string, opts copy.Options) error {
	ref, err := oci.ParseRegistryRef(image)
	if err != nil {
		return usageError{err}
	}
	src, err := reg.Repository(ctx, ref.Repository)
	if err != nil {
		return err
	}
	start := time.Now()
	var sink sink
	opts.Progress = func(ev copy.Event) {
		if ev.Kind == copy.EventDone {
			sink.add(ev.Desc.Size)
		}
	}
	desc, err := copy.Copy(ctx, src, ref.Reference(), &sink, "", opts)
	if err != nil {
		return fmt.Errorf("preheat %s: %w", image, err)
	}
	e.log.Info("preheated", "image", image, "digest", desc.Digest, "bytes", sink.bytes.Load(), "took", time.Since(start).Round(time.Millisecond))
	_, err = fmt.Fprintf(e.stdout, "%s@%s\n", image, desc.Digest)
	return err
}

// sink is a cas.Target that holds nothing: what is pushed to it is read
// (and checked by the copy engine) and thrown away.
type sink struct {
	bytes atomic.Int64
}

func (s *sink) add(n int64) { s.bytes.Add(n) }

func (*sink) Exists(context.Context, ocispec.Descriptor) (bool, error) { return false, nil }

func (*sink) Push(_ context.Context, _ ocispec.Descriptor, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (*sink) Tag(context.Context, ocispec.Descriptor, string) error { return nil }

func (*sink) Resolve(_ context.Context, ref string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("preheat keeps nothing: %s: %w", ref, cas.ErrNotFound)
}

func (*sink) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return nil, fmt.Errorf("preheat keeps nothing: %s: %w", desc.Digest, cas.ErrNotFound)
}
