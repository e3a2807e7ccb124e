package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// env holds what every command needs from the process, so tests can run
// commands in-process with their own streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger

	configFile string
	logLevel   string
	logFormat  string
}

// Main runs gantry with args and returns the process exit code: 0 on
// success, 1 on a failed command, 2 on a usage error.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "gantry: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks errors in the command line itself.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "gantry",
		Short: "Standardized, immutable delivery of container images",
		Long: `gantry moves container images from a build, through a registry, to many
nodes and to sites with no network, on one content-addressed core.

Everything is addressed by digest, every byte moved is checked against its
digest, and a blob is stored and moved once whatever the number of images
that use it. gantry reads and writes OCI image layouts, so skopeo, crane,
oras and containerd read what it writes.

Settings come from flags, then GANTRY_<FLAG> environment variables (e.g.
GANTRY_LOG_LEVEL=debug), then the YAML config file, then defaults.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applySettings(cmd, e); err != nil {
				return usageError{err}
			}
			log, err := newLogger(e.stderr, e.logLevel, e.logFormat)
			if err != nil {
				return usageError{err}
			}
			e.log = log
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&e.configFile, "config", "", "YAML config file (default $XDG_CONFIG_HOME/gantry/config.yaml if it exists)")
	pf.StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&e.logFormat, "log-format", "text", "log format: text or json")

	for _, add := range commands {
		root.AddCommand(add(e))
	}
	return root
}

// commands lists the subcommand constructors; each subcommand's file adds
// itself here from its own var block, keeping wiring explicit and in one
// place to read.
var commands = []func(*env) *cobra.Command{
	newVersionCmd,
	newFsckCmd,
	newCopyCmd,
	newServeCmd,
	newLintCmd,
	newCheckCmd,
	newFleetCmd,
	newBundleCmd,
	newInventoryCmd,
	newAgentCmd,
	newTrackerCmd,
	newPreheatCmd,
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// envName returns the environment variable for a flag: GANTRY_LOG_LEVEL for
// --log-level.
func envName(flag string) string {
	return "GANTRY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applySettings fills every flag the command line left unset from the
// environment, then from the config file.
func applySettings(cmd *cobra.Command, e *env) error {
	flags := cmd.Flags()
	if !flags.Changed("config") {
		if v, ok := os.LookupEnv(envName("config")); ok {
			e.configFile = v
		}
	}
	file, err := loadConfig(e.configFile)
	if err != nil {
		return err
	}
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := setFlag(flags, f, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), v, err))
			}
			return
		}
		if v, ok := file.lookup(cmd, f.Name); ok {
			if err := setFlag(flags, f, v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s: %q: %v", e.configFile, f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func setFlag(flags *pflag.FlagSet, f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(strings.Split(v, ","))
	}
	return flags.Set(f.Name, v)
}

// config is the parsed config file: top-level flag values and one section
// per command path ("copy", "bundle create").
type config map[string]any

func loadConfig(path string) (config, error) {
	explicit := path != ""
	if !explicit {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, nil
		}
		path = filepath.Join(dir, "gantry", "config.yaml")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var m map[string]any // nested sections decode as map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return config(m), nil
}

// lookup finds flag in the section of cmd's path (innermost first), then at
// the top level.
func (c config) lookup(cmd *cobra.Command, flag string) (string, bool) {
	if c == nil {
		return "", false
	}
	var path []string
	for p := cmd; p.HasParent(); p = p.Parent() {
		path = append([]string{p.Name()}, path...)
	}
	for n := len(path); n >= 0; n-- {
		sec := map[string]any(c)
		for _, name := range path[:n] {
			next, ok := sec[name].(map[string]any)
			if !ok {
				sec = nil
				break
			}
			sec = next
		}
		if v, ok := sec[flag]; ok && sec != nil {
			if _, isMap := v.(map[string]any); isMap {
				continue
			}
			return formatValue(v), true
		}
	}
	return "", false
}

func formatValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
