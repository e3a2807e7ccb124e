package image

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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
	// Squashed says, per layer, that the layer holds the changes of
	// several instructions of the history (a squashed build), so none of
	// them can be named as its maker.
	Squashed []bool
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
	l.CreatedBy, l.Squashed = layerHistory(l.Config.History, len(l.Manifest.Layers))
	return l, nil
}

// layerHistory says, for each of n layers, which history instruction made
// it ("" when the history does not say) and whether the layer is squashed.
//
// The entries not marked empty_layer map one to one, in order, to the
// layers, but only when the history was written for these layers. A squash
// (buildah --squash, docker build --squash) merges the changes of several
// instructions into one layer and keeps their entries, marked empty, or
// with flags wrong or absent: the entry left carrying the layer is then a
// metadata instruction (buildah: the last one, often CMD) or no
// instruction at all (docker: a "merge sha256:... to sha256:..." comment).
// Naming that entry as the layer's maker would blame an unrelated
// instruction, so such a layer gets no instruction, and is marked squashed
// when layer-making instructions (RUN, COPY, ADD) were folded into it.
func layerHistory(history []ocispec.History, n int) (createdBy []string, squashed []bool) {
	createdBy, squashed = make([]string, n), make([]bool, n)
	makesLayer := func(h ocispec.History) bool {
		kind, _ := histKind(h.CreatedBy)
		return layerProducing(kind)
	}
	var bearing []int // the entries not marked empty_layer
	for i, h := range history {
		if !h.EmptyLayer {
			bearing = append(bearing, i)
		}
	}
	if len(bearing) != n {
		// The flags do not match the layers: no instruction is known.
		// One layer for several layer-making instructions is a squash.
		if n == 1 {
			makers := 0
			for _, h := range history {
				if makesLayer(h) {
					makers++
				}
			}
			squashed[0] = makers > 1
		}
		return createdBy, squashed
	}
	prev := -1
	for j, i := range bearing {
		h := history[i]
		switch kind, _ := histKind(h.CreatedBy); {
		case layerProducing(kind) || kind == "WORKDIR" || (kind == "" && strings.TrimSpace(h.CreatedBy) != ""):
			// An instruction that makes layers, or a text gantry does not
			// know (another builder's): taken as the maker.
			createdBy[j] = h.CreatedBy
		default:
			// A metadata instruction, or none: it made no layer.
			for _, e := range history[prev+1 : i] {
				if makesLayer(e) {
					squashed[j] = true
					break
				}
			}
		}
		prev = i
	}
	return createdBy, squashed
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
