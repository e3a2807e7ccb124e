package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/internal/inflate"
)

// Version and Commit are set at build time by make build:
//
//	-ldflags "-X github.com/gantry-dev/gantry/internal/cli.Version=v1.2.3 -X github.com/gantry-dev/gantry/internal/cli.Commit=abc123"
//
// Left empty, they come from the build information Go records: the module
// version of "go install .../cmd/gantry@v1.2.3", and the VCS revision of a
// build in a git checkout.
var (
	Version = "dev"
	Commit  = ""
)

// buildInfo is what gantry version prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Gzip is the inflater gantry check reads gzip layers with: ISA-L in
	// a build with -tags isal (make build, where libisal-dev is installed).
	Gzip string `json:"gzip"`
}

// readBuildInfo fills in what -ldflags left unset from the binary's build
// information.
func readBuildInfo() buildInfo {
	v := buildInfo{Version: Version, Commit: Commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Gzip: inflate.Library}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if (v.Version == "" || v.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// String is the line gantry version and gantry --version print.
func (v buildInfo) String() string {
	commit := v.Commit
	if v.Modified {
		commit += "-dirty"
	}
	return fmt.Sprintf("gantry %s (commit %s, %s, %s, gzip: %s)", v.Version, commit, v.Go, v.Platform, v.Gzip)
}

func newVersionCmd(e *env) *cobra.Command {
	var out *outputFormat
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print gantry's version, commit and Go version",
		Example: `  gantry version
  gantry --version
  gantry version --format json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := readBuildInfo()
			if out.json() {
				return writeJSON(e.stdout, v)
			}
			_, err := fmt.Fprintln(e.stdout, v)
			return err
		},
	}
	out = addFormatFlags(cmd)
	return cmd
}
