package bundle

import (
	"context"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/trust"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// maxReferrerDepth bounds the chain of referrers followed from an image:
// a signature of an SBOM of an image is depth 2.
const maxReferrerDepth = 4

// foundReferrer is a referrer found in an image's source, before its graph
// is walked.
type foundReferrer struct {
	img          Image
	subject      digest.Digest
	artifactType string
}

// addReferrers adds to the plan the referrers of every manifest of the
// images planned, then theirs, up to maxReferrerDepth: each is walked and
// bundled as an image of its own, with Subject set. Images are looked at
// concurrently (bounded); the plan is changed by this goroutine only.
func (p *plan) addReferrers(ctx context.Context, concurrency int) error {
	if concurrency <= 0 {
		concurrency = copy.DefaultConcurrency
	}
	names := map[string]bool{}
	for _, pi := range p.images {
		names[pi.entry.Name] = true
	}
	start := 0
	for depth := 0; depth < maxReferrerDepth && start < len(p.images); depth++ {
		level := p.images[start:]
		start = len(p.images)
		found := make([][]foundReferrer, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for i, pi := range level {
			g.Go(func() error {
				var err error
				found[i], err = findReferrers(gctx, pi)
				if err != nil {
					return fmt.Errorf("image %s: referrers: %w (give --no-referrers to leave them out)", pi.entry.Name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, list := range found {
			for _, f := range list {
				if names[f.img.Name] {
					continue
				}
				names[f.img.Name] = true
				if err := p.addImage(ctx, f.img, nil); err != nil {
					return fmt.Errorf("referrer %s of %s: %w", f.img.Name, f.subject, err)
				}
				e := &p.images[len(p.images)-1].entry
				e.Subject = f.subject
				e.ArtifactType = f.artifactType
			}
		}
	}
	return nil
}

// findReferrers lists the referrers of each manifest of pi's graph in its
// source: through the referrers API when the source has one, and under
// cosign's tags.
func findReferrers(ctx context.Context, pi *planImage) ([]foundReferrer, error) {
	src := pi.img.Source
	repo, _ := splitName(pi.entry.Name)
	lister, _ := src.(cas.ReferrerLister)
	var out []foundReferrer
	for _, subject := range pi.manifests {
		if lister != nil {
			list, err := lister.Referrers(ctx, subject)
			if err != nil {
				return nil, fmt.Errorf("of %s: %w", subject, err)
			}
			for _, d := range list {
				if !oci.IsManifest(d.MediaType) {
					continue // not a manifest: nothing a registry would serve as one
				}
				out = append(out, foundReferrer{
					img:     Image{Name: repo + "@" + d.Digest.String(), Source: src, Reference: d.Digest.String()},
					subject: subject, artifactType: d.ArtifactType,
				})
			}
		}
		if subject.Algorithm() != digest.SHA256 {
			continue // cosign's tags name sha256 digests only
		}
		for _, sfx := range trust.TagSuffixes {
			tag := trust.TagPrefix(subject) + sfx
			d, err := src.Resolve(ctx, tag)
			if errors.Is(err, cas.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", tag, err)
			}
			out = append(out, foundReferrer{
				img:     Image{Name: repo + ":" + tag, Source: src, Reference: d.Digest.String()},
				subject: subject,
			})
		}
	}
	return out, nil
}
