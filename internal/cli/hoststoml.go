package cli

import (
	"fmt"
	"io"
	"strings"
)

// hostsTOML is one containerd hosts.toml that sends the pulls of a
// registry to a gantry mirror (gantry agent, gantry serve --mirror) first.
type hostsTOML struct {
	dir         string // the registry's host as image names spell it: docker.io
	server      string // the registry's own URL, containerd's fallback
	mirror      string // the mirror's URL
	dialTimeout string // containerd's dial timeout for the mirror; "" for its default
	note        string // a comment line on when the fallback is taken
}

// writeHostsTOML writes h in containerd's hosts.toml format
// (https://github.com/containerd/containerd/blob/v2.0.0/docs/hosts.md).
func writeHostsTOML(w io.Writer, h hostsTOML) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# containerd hosts.toml: /etc/containerd/certs.d/%s/hosts.toml\n", h.dir)
	fmt.Fprintf(&b, "# Pulls of %s go through the gantry mirror at %s;\n# %s\n", h.dir, h.mirror, h.note)
	fmt.Fprintf(&b, "server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", strings.TrimSuffix(h.server, "/"), strings.TrimSuffix(h.mirror, "/"))
	if h.dialTimeout != "" {
		fmt.Fprintf(&b, "  dial_timeout = %q\n", h.dialTimeout)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
