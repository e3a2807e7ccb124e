//go:build !unix

package cli

import "log/slog"

// raiseFileLimit does nothing where descriptors have no rlimit.
func raiseFileLimit(*slog.Logger) {}
