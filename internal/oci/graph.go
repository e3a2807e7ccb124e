package oci

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Children returns the children of the manifest m (described by desc) that
// a walk of its graph visits: the config and layers of an image manifest, or
// the entries of an index, in document order. It is the one definition of
// an image's graph shared by the copy engine, bundles (plan, verify,
// inventory), fsck and the registry's check of a pushed manifest, so that
// they agree on what "complete" means.
//
// Non-distributable layers (IsNonDistributable) are left out: by definition
// registries do not hold them, so nothing copies or requires them.
//
// platform, if set, keeps only the entries of an index that match it
// (MatchPlatform), plus its nested indexes, which the walk filters in turn
// when it reaches them. An index with entries none of which is kept fails
// with a *PlatformError (wrapping cas.ErrNotFound) that lists what the index
// has. The filter applies to indexes only: an image manifest's config and
// layers are all its own, whatever its platform. With a nil platform the
// result is every distributable child, the set a registry checks at push
// and fsck walks.
func Children(desc ocispec.Descriptor, m *Manifest, platform *ocispec.Platform) ([]ocispec.Descriptor, error) {
	out := make([]ocispec.Descriptor, 0, len(m.Layers)+len(m.Manifests)+1)
	keep := func(cs ...ocispec.Descriptor) {
		for _, c := range cs {
			if !IsNonDistributable(c.MediaType) {
				out = append(out, c)
			}
		}
	}
	if m.Config != nil {
		keep(*m.Config)
	}
	keep(m.Layers...)
	keep(m.Manifests...)
	if platform == nil || !IsIndex(m.MediaType) || len(out) == 0 {
		return out, nil
	}
	var kept []ocispec.Descriptor
	for _, c := range out {
		if IsIndex(c.MediaType) || MatchPlatform(*platform, c.Platform) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		e := &PlatformError{Index: desc, Platform: *platform}
		for _, c := range out {
			if c.Platform != nil {
				e.Have = append(e.Have, *c.Platform)
			}
		}
		return nil, e
	}
	return kept, nil
}

// PlatformError is the error of an index that has no manifest for the
// platform asked for. It wraps cas.ErrNotFound. Callers that want to tell
// the user which platforms to choose from take it apart with errors.As
// rather than parse its text.
type PlatformError struct {
	// Index is the index that lacks the platform.
	Index ocispec.Descriptor
	// Platform is the platform asked for.
	Platform ocispec.Platform
	// Have are the platforms of the index's entries, in document order
	// (entries without one, such as attestations, are not listed).
	Have []ocispec.Platform
}

// Error says what was asked for and what the index offers instead:
// "index sha256:…: no manifest for platform linux/ppc64le (the index has
// linux/amd64, linux/arm64): not found".
func (e *PlatformError) Error() string {
	have := make([]string, len(e.Have))
	for i := range e.Have {
		have[i] = FormatPlatform(&e.Have[i])
	}
	list := strings.Join(have, ", ")
	if list == "" {
		list = "no platform entries"
	}
	return fmt.Sprintf("index %s: no manifest for platform %s (the index has %s): %v",
		e.Index.Digest, FormatPlatform(&e.Platform), list, cas.ErrNotFound)
}

// Unwrap returns cas.ErrNotFound: the content asked for does not exist.
func (e *PlatformError) Unwrap() error { return cas.ErrNotFound }
