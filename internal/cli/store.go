package cli

import (
	"os"
	"path/filepath"
)

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
