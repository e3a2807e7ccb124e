package cli

import (
	"fmt"
	"io"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/spf13/cobra"
)

// bundleCommands lists the subcommands of "gantry bundle", one file each
// (bundle_create.go, bundle_verify.go, ...): add a line here for a new one.
var bundleCommands = []func(*env) *cobra.Command{
	newBundlePushCmd,
	newBundleLoadCmd,
	newBundleCreateCmd,
	newBundleVerifyCmd,
	newBundleInspectCmd,
	newBundleDiffCmd,
}

func newBundleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Make, check and compare offline bundles of images",
		Long: `A bundle is one tar file (or a few volumes) holding a fleet of images for a
site with no network: a standard OCI image layout in which every blob is
stored once, each image named by its full reference, plus gantry-bundle.json
recording contents, sizes, volumes and, for an incremental bundle, what it
leaves out because the site already has it.

containerd ("ctr images import FILE") and skopeo ("oci-archive:FILE:REF")
read a bundle as it is.`,
		Args: cobra.NoArgs,
	}
	for _, add := range bundleCommands {
		cmd.AddCommand(add(e))
	}
	return cmd
}

// problemsError turns a report's problems into the command's error, after
// printing each on its own line.
func printProblems(w io.Writer, what string, problems []bundle.Problem) error {
	for _, p := range problems {
		fmt.Fprintln(w, "  "+p.String())
	}
	return fmt.Errorf("%s: %s, listed above", what, plural(len(problems), "problem"))
}
