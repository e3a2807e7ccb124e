package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/cas"
)

// requireStore checks that dir holds a store (an OCI image layout, which
// is what gantry's store is) before a command that only reads or repairs
// one opens it: opening a directory as a store creates the layout, and a
// mistyped path must be an error, not a new empty store.
func requireStore(dir string) error {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		if _, derr := os.Stat(dir); errors.Is(derr, os.ErrNotExist) {
			return fmt.Errorf("%s is not a gantry store or OCI image layout: no such directory: %w", dir, cas.ErrNotFound)
		}
		return fmt.Errorf("%s is not a gantry store or OCI image layout (no oci-layout file): %w", dir, cas.ErrNotFound)
	}
	return fmt.Errorf("store %s: %w", dir, err)
}

// defaultRoot returns the directory of gantry's embedded store when a
// command is given none:
//
//   - /var/lib/gantry when running as root: system state, beside
//     /var/lib/containerd, where a gantry service keeps its store;
//   - else $XDG_DATA_HOME/gantry, or ~/.local/share/gantry when
//     XDG_DATA_HOME is unset (the XDG base-directory default), so a user
//     needs no write access to /var/lib.
//
// It returns "" when neither the variable nor a home directory is known;
// the caller then asks for an explicit directory.
func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gantry"
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "gantry")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "share", "gantry")
	}
	return ""
}
