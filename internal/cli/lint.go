package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/analyze/lint"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/spf13/cobra"
)

// lintConfigFile is the project policy file looked up in the working
// directory.
const lintConfigFile = ".gantry.yaml"

type lintFlags struct {
	format              *outputFormat
	threshold           report.Severity
	lintConfig          string
	disableIgnorePragma bool
	ignore              []string
	buildArgs           []string
	context             string
	noContext           bool
}

func newLintCmd(e *env) *cobra.Command {
	var f lintFlags
	cmd := &cobra.Command{
		Use:   "lint [DOCKERFILE...]",
		Short: "Check Dockerfiles for heavy, unpinned, multi-process and insecure images",
		Long: `Check Dockerfiles (./Dockerfile if none is given, - for stdin) with
BuildKit's parser: heredocs, # syntax= and current flags parse as they do in
docker build. ARG and ENV values are resolved and every rule knows the stage
it looks at: package caches and heavy components are only reported in the
stages that ship (the final stage and those it is built FROM), never in
builder stages or under RUN --mount=type=cache.

Rules and examples: docs/rules.md. Rule IDs are stable (GL101...).

Policy comes from .gantry.yaml in the working directory, or --lint-config:
  ignore: [GL617, DL3008]          # gantry IDs, or hadolint IDs mapped to them
  severity: {GL410: warning, GL604: none}
  allowed-registries: [ghcr.io/acme, docker.io/library]
  digests: require                 # require | prefer (default) | ignore
  build-args: {BASE: debian:12}

Inline, unless --disable-ignore-pragma:
  # gantry ignore=GL401,GL410      on the lines before an instruction
  # gantry stage ignore=GL301      anywhere in a stage: the whole stage
  # gantry global ignore=GL617     anywhere: the whole file
  # hadolint ignore=DL3008         hadolint's pragmas, mapped to gantry rules

Exit status: 0 when no finding is at or above --failure-threshold, 1 when
some are, 2 on a usage error or when a Dockerfile cannot be read or parsed
(the others are still linted; the parse error is reported as GL900 with
its line and column).`,
		Example: `  gantry lint
  gantry lint --format sarif --failure-threshold error services/*/Dockerfile
  gantry lint --build-arg BASE=debian:12-slim - < Dockerfile`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLint(cmd, e, &f, args)
		},
	}
	fl := cmd.Flags()
	f.format = addFormatFlags(cmd, report.SARIF)
	addThresholdFlag(fl, &f.threshold, report.Warning, "a Dockerfile's warnings are cheap to act on before the build, where gantry check's default is error")
	fl.StringVar(&f.lintConfig, "lint-config", "", "lint policy file (default ./"+lintConfigFile+" if it exists)")
	fl.BoolVar(&f.disableIgnorePragma, "disable-ignore-pragma", false, "ignore inline `# gantry ignore=` and `# hadolint ignore=` comments")
	fl.StringSliceVar(&f.ignore, "ignore", nil, "rule IDs to skip (gantry GL... or hadolint DL...)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "ARG value as KEY=VALUE, as docker build --build-arg (repeatable)")
	fl.StringVar(&f.context, "context", "", "build context whose COPY'd entrypoint scripts are read (default the Dockerfile's directory; none for stdin)")
	fl.BoolVar(&f.noContext, "no-context", false, "read no file of the build context")
	return cmd
}

func runLint(cmd *cobra.Command, e *env, f *lintFlags, args []string) error {
	format, threshold := f.format.format(), f.threshold
	var err error
	cfgPath := f.lintConfig
	if cfgPath == "" {
		if _, err := os.Stat(lintConfigFile); err == nil {
			cfgPath = lintConfigFile
		}
	}
	var opts lint.Options
	if cfgPath != "" {
		if opts.Config, err = lint.LoadConfig(cfgPath); err != nil {
			return usageError{err}
		}
	}
	opts.DisableIgnorePragma = f.disableIgnorePragma
	opts.Config.Ignore = append(opts.Config.Ignore, f.ignore...)
	for _, kv := range f.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Errorf("--build-arg %q: want KEY=VALUE", kv)}
		}
		if opts.Config.BuildArgs == nil {
			opts.Config.BuildArgs = map[string]string{}
		}
		opts.Config.BuildArgs[k] = v
	}
	if err := (lint.Config{Ignore: f.ignore}).Validate(); err != nil {
		return usageError{fmt.Errorf("--ignore: %w", err)}
	}
	if len(args) == 0 {
		args = []string{"Dockerfile"}
	}

	// Files are linted in parallel and reported in the order given.
	type result struct {
		findings []report.Finding
		err      error
	}
	results := make([]result, len(args))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, name := range args {
		src, err := readDockerfile(e.stdin, name) // stdin is read here, once
		if err != nil {
			results[i].err = err
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		o := opts
		switch {
		case f.noContext:
		case f.context != "":
			o.Context = f.context
		case name != "-":
			o.Context = filepath.Dir(name)
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i].findings, results[i].err = lint.Lint(name, src, o)
		}()
	}
	wg.Wait()

	// A parse error is reported once, as a GL900 finding in the report; a
	// file that cannot be read has no place in the report and is the
	// command's error.
	var all []report.Finding
	failed := 0
	var readErr error
	for i, r := range results {
		var pe *lint.ParseError
		switch {
		case errors.As(r.err, &pe):
			failed++
			all = append(all, report.Finding{Rule: "GL900", Severity: report.Error, Message: "fix the syntax: " + pe.Err.Error(),
				File: args[i], Line: pe.Line, Column: pe.Column})
		case r.err != nil:
			failed++
			if readErr == nil {
				readErr = r.err
			}
		default:
			all = append(all, r.findings...)
		}
	}
	rep := report.Report{Tool: "gantry", Version: Version, InformationURI: "https://github.com/gantry-dev/gantry",
		Rules: lint.Rules(), Findings: all}
	if err := report.Write(cmd.OutOrStdout(), format, rep, report.WriteOptions{Color: isTerminal(cmd.OutOrStdout())}); err != nil {
		return fmt.Errorf("lint: writing the report: %w", err)
	}
	switch {
	case failed == 1 && readErr != nil:
		return usageError{fmt.Errorf("lint: %w", readErr)}
	case readErr != nil:
		return usageError{fmt.Errorf("lint: %d of %d Dockerfiles could not be read or parsed (GL900 findings above for those that do not parse); first: %w", failed, len(args), readErr)}
	case failed > 0:
		return usageError{fmt.Errorf("lint: %d of %s could not be parsed: see the GL900 findings", failed, plural(len(args), "Dockerfile"))}
	}
	if report.Fails(all, threshold) {
		n := 0
		for _, x := range all {
			if x.Severity >= threshold {
				n++
			}
		}
		return fmt.Errorf("lint: %s at or above %s", plural(n, "finding"), threshold)
	}
	return nil
}

func readDockerfile(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(stdin, 16<<20))
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > 16<<20 {
		return nil, fmt.Errorf("%s: %d bytes, more than a Dockerfile", name, fi.Size())
	}
	return os.ReadFile(name)
}
