package cli

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformFlag reads a --platform value: nil for "" (every platform), a
// usage error for a malformed one.
func platformFlag(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := oci.ParsePlatform(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("--platform: %w", err)}
	}
	return &p, nil
}

// concurrencyFlag checks a --concurrency value.
func concurrencyFlag(n int) error {
	if n < 1 {
		return usageError{fmt.Errorf("--concurrency %d: want 1 or more", n)}
	}
	return nil
}
