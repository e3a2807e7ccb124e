package cli

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/spf13/cobra"
)

func newInventoryCmd(e *env) *cobra.Command {
	var out string
	var reg registryFlags
	var format *outputFormat
	cmd := &cobra.Command{
		Use:   "inventory REGISTRY_OR_STORE -o have.json",
		Short: "Record the digests a site has, for incremental bundles",
		Long: `Walk every tag of every repository of a registry or an OCI layout (gantry's
store) and record every digest reachable from them, with sizes, in a JSON
file. Carried back to where bundles are made, it lets
"gantry bundle create --have have.json" leave out what the site has.

REGISTRY_OR_STORE is a registry host (HOST[:PORT], listed through its
catalog API) or oci:DIR.`,
		Example: `  gantry inventory registry.site.internal:5000 -o have.json
  gantry inventory oci:/var/lib/gantry -o have.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("inventory takes one REGISTRY_OR_STORE, got %s", plural(len(args), "argument"))}
			}
			if out == "" {
				return usageError{fmt.Errorf("inventory: -o FILE is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			arg := args[0]
			var store cas.Store
			locs := &locations{access: reg}
			defer func() {
				if cerr := locs.Close(); cerr != nil && err == nil {
					err = cerr
				}
			}()
			if dir, ok := strings.CutPrefix(arg, "oci:"); ok {
				s, err := locs.layout(dir, true)
				if err != nil {
					return err
				}
				store = s
			} else {
				host := strings.TrimSuffix(strings.TrimPrefix(arg, "docker://"), "/")
				if strings.Contains(host, "/") {
					return fmt.Errorf("inventory %s: give a registry host (HOST[:PORT]) or oci:DIR, not a repository", arg)
				}
				r, err := remote.New(host, reg.options())
				if err != nil {
					return fmt.Errorf("registry %s: %w", host, err)
				}
				store = r
			}
			inv, err := bundle.TakeInventory(ctx, store)
			if err != nil {
				if _, isRegistry := store.(*remote.Registry); isRegistry {
					return err // the registry client names the host
				}
				return fmt.Errorf("%s: %w", arg, err)
			}
			inv.Source = arg
			if err := inv.Write(out); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			var bytes int64
			for _, b := range inv.Blobs {
				bytes += b.Size
			}
			if format.json() {
				return writeJSON(e.stdout, map[string]any{"file": out, "source": arg, "blobs": inv.Len(), "bytes": bytes, "digest": inv.Digest()})
			}
			fmt.Fprintf(e.stdout, "%s: %s (%s) of %s\n", out, plural(inv.Len(), "digest"), formatBytes(bytes), arg)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", "", "inventory file to write")
	addRegistryFlags(fl, &reg)
	format = addFormatFlags(cmd)
	return cmd
}
