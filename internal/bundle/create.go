package bundle

import (
	"context"
	"fmt"

	"github.com/gantry-dev/gantry/internal/cas"
)

// Create writes a bundle of images to out (volume 1) and, with
// opts.Split, further volumes next to it (see the package documentation for
// their names). It reads every image's manifests first, then streams each
// blob once from its source into the tar, verified on the way. Nothing is
// visible under out until every volume is complete and synced; a failed
// Create leaves no file under out's name or its volumes' names.
func Create(ctx context.Context, out string, images []Image, opts CreateOptions) (*CreateReport, error) {
	return nil, fmt.Errorf("bundle create: not implemented yet: %w", cas.ErrUnsupported)
}
