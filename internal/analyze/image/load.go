package image

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxConfigSize is the largest image config read (configs with long
// histories run to a few hundred kilobytes).
const MaxConfigSize = 8 << 20

// DefaultPlatform is the image picked from an index when no platform is
// asked for.
var DefaultPlatform = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// Loaded is an image's manifest and config: all that fleet analysis needs,
// and where Analyze starts.
type Loaded struct {
	// Descriptor is the image manifest's (for an index, the chosen
	// platform's manifest).
	Descriptor ocispec.Descriptor
	// Index is the index reference resolved to, if any.
	Index    *ocispec.Descriptor
	Manifest *oci.Manifest
	Config   ocispec.Image
	// CreatedBy holds, per layer, the history instruction that made it
	// ("" when the history does not say).
	CreatedBy []string
}

// Load resolves reference in src and reads the image manifest and config.
// An index resolves to the manifest of platform (nil: DefaultPlatform, else
// the first image of the index).
func Load(ctx context.Context, src cas.ReadOnlyTarget, reference string, platform *ocispec.Platform) (*Loaded, error) {
	desc, err := src.Resolve(ctx, reference)
	if err != nil {
		return nil, err
	}
	l := &Loaded{}
	for depth := 0; ; depth++ {
		b, err := cas.FetchAll(ctx, src, desc, oci.MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		m, err := oci.ParseManifest(desc, b)
		if err != nil {
			return nil, err
		}
		if !oci.IsIndex(m.MediaType) {
			desc.MediaType = m.MediaType
			l.Descriptor, l.Manifest = desc, m
			break
		}
		if depth > 2 {
			return nil, fmt.Errorf("index %s: indexes nested too deep: %w", desc.Digest, cas.ErrInvalid)
		}
		idx := desc
		l.Index = &idx
		next, ok := pick(m.Manifests, platform)
		if !ok {
			return nil, fmt.Errorf("index %s: no image for platform %s: %w", desc.Digest, oci.FormatPlatform(platform), cas.ErrNotFound)
		}
		desc = next
	}
	cb, err := cas.FetchAll(ctx, src, *l.Manifest.Config, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", l.Manifest.Config.Digest, err)
	}
	if err := json.Unmarshal(cb, &l.Config); err != nil {
		return nil, fmt.Errorf("config %s: not an image config: %v: %w", l.Manifest.Config.Digest, err, cas.ErrInvalid)
	}
	l.CreatedBy = make([]string, len(l.Manifest.Layers))
	var withLayer []string
	for _, h := range l.Config.History {
		if !h.EmptyLayer {
			withLayer = append(withLayer, h.CreatedBy)
		}
	}
	if len(withLayer) == len(l.CreatedBy) {
		copy(l.CreatedBy, withLayer)
	}
	return l, nil
}

func pick(ms []ocispec.Descriptor, want *ocispec.Platform) (ocispec.Descriptor, bool) {
	p := DefaultPlatform
	if want != nil {
		p = *want
	}
	for _, m := range ms {
		if oci.MatchPlatform(p, m.Platform) {
			return m, true
		}
	}
	if want == nil {
		for _, m := range ms {
			if m.Platform == nil || m.Platform.OS != "unknown" { // skip attestations
				return m, true
			}
		}
	}
	return ocispec.Descriptor{}, false
}
