package oci

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses "OS/ARCH[/VARIANT]", e.g. "linux/arm64/v8".
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64: %w", s, cas.ErrInvalid)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// FormatPlatform returns "OS/ARCH[/VARIANT]".
func FormatPlatform(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// MatchPlatform reports whether have (an index entry's platform) satisfies
// want. OS and architecture must be equal; a variant in want must be equal
// too, except that arm64's default variant v8 matches an empty one. An entry
// without a platform (an attestation, say) never matches.
func MatchPlatform(want ocispec.Platform, have *ocispec.Platform) bool {
	if have == nil || want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	return want.Architecture == "arm64" && (want.Variant == "v8" && have.Variant == "")
}
