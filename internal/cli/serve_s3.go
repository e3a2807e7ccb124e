package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/store/s3"
)

// s3Usage is the help of gantry serve --s3.
const s3Usage = "serve a store in an S3 bucket instead of --root: s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true&presign=15m]; " +
	"credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or the instance role; " +
	"any number of replicas may serve the same location (env GANTRY_S3)"

// checkS3Location checks the form of a --s3 location ("" is none), so a
// mistyped one is a usage error before anything listens.
func checkS3Location(location string) error {
	if location == "" {
		return nil
	}
	if _, err := s3.ParseURL(location); err != nil {
		return fmt.Errorf("--s3: %w", err)
	}
	return nil
}

// openS3Store opens the store at an s3:// location for gantry serve.
func openS3Store(ctx context.Context, location string, log *slog.Logger) (*s3.Store, error) {
	o, err := s3.ParseURL(location)
	if err != nil {
		return nil, fmt.Errorf("--s3: %w", err)
	}
	o.Logger = log
	st, err := s3.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("--s3 %s: %w", location, err)
	}
	return st, nil
}
