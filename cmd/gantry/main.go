// Command gantry is one binary for standardized container image delivery:
// image copies, a registry, offline bundles and image analysis, all on one
// content-addressed core. Run "gantry --help".
package main

import (
	"context"
	"os"
	"syscall"

	"github.com/gantry-dev/gantry/internal/cli"
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
