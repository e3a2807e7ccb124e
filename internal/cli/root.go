package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

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
	// config is the config file read (nil when there is none), for the
	// sections a command reads itself (structuredKeys); configPath its
	// path.
	config     config
	configPath string
	logLevel   string
	logFormat  string
}

// Main runs gantry with args and returns the process exit code: 0 on
// success, 1 on a failed command, 2 on a usage error, 128+N when signal N
// (see NotifyContext) interrupted a command, which has cleaned up by then.
// A failure is printed on one line to stderr, with what to do about it.
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
	var in Interrupted
	if errors.As(context.Cause(ctx), &in) {
		fmt.Fprintf(stderr, "gantry: interrupted (%v): %v\n", in.Signal, err)
		if s, ok := in.Signal.(syscall.Signal); ok {
			return 128 + int(s)
		}
		return 130
	}
	fmt.Fprintf(stderr, "gantry: %v%s\n", err, errorHint(err))
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
	root.Version = readBuildInfo().String()
	root.Flags().BoolP("version", "v", false, "print gantry's version, commit and Go version")
	root.SetVersionTemplate("{{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&e.configFile, "config", "", "YAML config file (default $XDG_CONFIG_HOME/gantry/config.yaml if it exists)")
	pf.StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&e.logFormat, "log-format", "text", "log format: text or json")

	for _, add := range commands {
		root.AddCommand(add(e))
	}
	applyContract(root)
	return root
}

// applyContract gives every command of the tree the exit-code contract of
// docs/cli.md: a command group (gantry, gantry bundle) run with an
// argument that names none of its commands is a usage error suggesting the
// closest ("did you mean push?"), where cobra would print help and exit 0
// (and suggests only at the root); and a wrong number of arguments is a
// usage error (exit 2) whichever validator found it.
func applyContract(c *cobra.Command) {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra sets it for the root only
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = unknownCommand
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	} else if check := c.Args; check != nil {
		hasSubs := c.HasSubCommands() // runnable itself, as gantry agent
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			var ue usageError
			switch {
			case err == nil:
				return nil
			case hasSubs && len(args) > 0:
				return unknownCommand(cmd, args)
			case errors.As(err, &ue):
				return err
			}
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
	}
	for _, sub := range c.Commands() {
		applyContract(sub)
	}
}

// unknownCommand refuses an argument to a command group: it can only be a
// command the group does not have.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += "; " + cmd.CommandPath() + " --help lists the commands"
	}
	return usageError{errors.New(msg)}
}

// commands lists the subcommand constructors; each subcommand's file adds
// itself here from its own var block, keeping wiring explicit and in one
// place to read.
var commands = []func(*env) *cobra.Command{
	newVersionCmd,
	newFsckCmd,
	newGCCmd,
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
	file, path, err := loadConfig(e.configFile)
	if err != nil {
		return err
	}
	if err := file.check(cmd.Root(), path); err != nil {
		return err
	}
	e.config, e.configPath = file, path
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		// --help and --version are requests, not settings: GANTRY_VERSION
		// in the environment (an installer's variable) must not print the
		// version instead of running the command.
		if f.Changed || f.Name == "config" || f.Name == "help" || f.Name == "version" {
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

// loadConfig reads the config file at path, or at the default path when
// path is "" (where a missing file is no error), and returns the path read.
func loadConfig(path string) (config, string, error) {
	explicit := path != ""
	if !explicit {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, "", nil
		}
		path = filepath.Join(dir, "gantry", "config.yaml")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, "", nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("config file: %w", err)
	}
	var m map[string]any // nested sections decode as map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, path, fmt.Errorf("config file %s: %w", path, err)
	}
	return config(m), path, nil
}

// check refuses keys that no command reads: a misspelt key would otherwise
// be ignored without a word. The keys of a section (the top level is
// root's) are the flags of its command and of the commands below it, which
// inherit the section, and the names of its subcommands, as sections.
func (c config) check(root *cobra.Command, path string) error {
	return checkSection(c, root, path)
}

func checkSection(sec map[string]any, cmd *cobra.Command, path string) error {
	flags := map[string]bool{}
	var collect func(c *cobra.Command)
	collect = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(cmd)
	delete(flags, "help")
	delete(flags, "config")
	subs := map[string]*cobra.Command{}
	for _, sub := range cmd.Commands() {
		subs[sub.Name()] = sub
	}
	where := "at the top level"
	if cmd.HasParent() {
		where = fmt.Sprintf("in section %q", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "))
	}
	keys := slices.Sorted(maps.Keys(sec))
	for _, k := range keys {
		if sub, ok := subs[k]; ok {
			if next, isMap := sec[k].(map[string]any); isMap {
				if err := checkSection(next, sub, path); err != nil {
					return err
				}
				continue
			}
		}
		if flags[k] || structuredKeys[strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")][k] {
			continue
		}
		if group, isMap := sec[k].(map[string]any); isMap && hasGroup(flags, k) {
			// A group of flags: serve: {gc: {interval: 1h}} is gc-interval.
			for _, kk := range slices.Sorted(maps.Keys(group)) {
				if !flags[k+"-"+kk] {
					return fmt.Errorf("config file %s: unknown key %q in %q %s; its keys are the flags --%s-* without the prefix", path, kk, k, where, k)
				}
			}
			continue
		}
		known := slices.Collect(maps.Keys(flags))
		for name := range structuredKeys[strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")] {
			known = append(known, name)
		}
		for name := range subs {
			known = append(known, name)
		}
		msg := fmt.Sprintf("config file %s: unknown key %q %s", path, k, where)
		if near := closest(k, known); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		} else {
			msg += "; its keys are the flags of " + cmd.CommandPath() + " and its commands (see --help)"
		}
		return errors.New(msg)
	}
	return nil
}

// hasGroup reports whether some flag is named prefix-SOMETHING, so that
// the config file may group those flags in a section called prefix.
func hasGroup(flags map[string]bool, prefix string) bool {
	for f := range flags {
		if strings.HasPrefix(f, prefix+"-") {
			return true
		}
	}
	return false
}

// structuredKeys are the keys of a command's section that are not flags
// but structures the command reads and checks itself (config.section), by
// command path.
var structuredKeys = map[string]map[string]bool{
	"serve": {"auth": true},
}

// section returns the value at path (section names, then a key) as YAML,
// or nil when the file has none.
func (c config) section(path ...string) ([]byte, error) {
	var v any = map[string]any(c)
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[name]; !ok {
			return nil, nil
		}
	}
	return yaml.Marshal(v)
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a typo of it (at most 2 edits, or a third of s).
func closest(s string, candidates []string) string {
	best, bestD := "", max(2, len(s)/3)+1
	slices.Sort(candidates)
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
		// A flag of a group: gc-interval as gc: {interval: ...}, in the
		// command's own section only (at the top level, gc: is gantry
		// gc's section).
		for i := range len(flag) {
			if flag[i] != '-' || sec == nil || n != len(path) || n == 0 || structuredKeys[strings.Join(path, " ")][flag[:i]] {
				continue
			}
			if group, ok := sec[flag[:i]].(map[string]any); ok {
				if v, ok := group[flag[i+1:]]; ok {
					if _, isMap := v.(map[string]any); !isMap {
						return formatValue(v), true
					}
				}
			}
		}
	}
	return "", false
}

func formatValue(v any) string {
	if list, ok := v.([]any); ok {
		if slices.ContainsFunc(list, func(x any) bool { _, isMap := x.(map[string]any); return isMap }) {
			// A list of objects (serve's mirror) reaches its flag as JSON.
			if b, err := json.Marshal(list); err == nil {
				return string(b)
			}
		}
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
