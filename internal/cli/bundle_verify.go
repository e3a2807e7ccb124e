package cli

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/spf13/cobra"
)

func newBundleVerifyCmd(e *env) *cobra.Command {
	var out *outputFormat
	var tf bundleTrustFlags
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Re-hash every blob of a bundle and check every image is complete",
		Long: `Re-hash every blob of a bundle against its digest and check that every
image's graph is complete within it. Give one bundle file, or the volumes of
a split bundle in any order; a missing volume is named with the images it
costs, and the volumes given are still checked.

For an incremental bundle, the blobs it leaves out are listed as expected at
the target, not as damage.

` + bundleTrustRules + `

Exit status 0 when the bundle is sound, 1 when anything is missing or
damaged (each problem on its own line, naming the volume, the digest and
the images it costs).`,
		Example: `  gantry bundle verify release-1.4.tar
  gantry bundle verify edge.tar edge.002.tar edge.003.tar
  gantry bundle verify --json edge*.tar
  gantry bundle verify --key cosign.pub --require-signature release-1.4.tar`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("bundle verify needs a FILE: see gantry bundle verify --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := bundle.Open(args...)
			if err != nil {
				return err
			}
			defer r.Close()
			// Signatures first: a bundle its maker did not sign is
			// refused before its blobs are hashed.
			srep, err := tf.verify(cmd.Context(), r)
			if err != nil {
				return err
			}
			if srep != nil && srep.Bundle == "bad" {
				return printProblems(e.stderr, "bundle verify", srep.Problems)
			}
			rep, err := r.Verify(cmd.Context())
			if err != nil {
				return err
			}
			rep.Signatures = srep
			if srep != nil {
				rep.Problems = append(rep.Problems, srep.Problems...)
			}
			if out.json() {
				if err := writeJSON(e.stdout, rep); err != nil {
					return err
				}
			} else {
				refs := map[string]bool{}
				for _, img := range r.Images() {
					refs[img.Name] = img.IsReferrer()
				}
				complete, images := 0, 0
				for _, st := range rep.Images {
					if !refs[st.Name] {
						images++
						if st.Complete {
							complete++
						}
					}
				}
				carried := ""
				if n := len(rep.Images) - images; n > 0 {
					carried = " (with " + plural(n, "referrer") + ")"
				}
				fmt.Fprintf(e.stdout, "%s (%s) verified; %d of %s complete%s\n", plural(rep.Blobs, "blob"), formatBytes(rep.Bytes), complete, plural(images, "image"), carried)
				if n := len(rep.Expected); n > 0 {
					var b int64
					for _, x := range rep.Expected {
						b += x.Size
					}
					fmt.Fprintf(e.stdout, "incremental: %s (%s) left out, expected at the target\n", plural(n, "blob"), formatBytes(b))
				}
				printSignatures(e.stdout, r, srep)
			}
			if !rep.OK() {
				return printProblems(e.stderr, "bundle verify", rep.Problems)
			}
			return nil
		},
	}
	out = addFormatFlags(cmd)
	tf.add(cmd.Flags())
	return cmd
}
