package cli

import (
	"fmt"
	"strconv"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// The flags several commands share are registered here, so that one flag
// has one name, one meaning and one default across gantry (docs/cli.md).
// Where a default differs, the help says why.

// platformScope is what --platform selects, which decides its default.
type platformScope int

const (
	// platformFilter: a command that moves images keeps every platform
	// of an index unless told, so the index and the digests users pinned
	// stay whole.
	platformFilter platformScope = iota
	// platformAnalyze: an analysis reads one image of an index, so it
	// needs one platform: linux/amd64 unless told.
	platformAnalyze
)

// addPlatformFlag registers --platform OS/ARCH[/VARIANT].
func addPlatformFlag(fl *pflag.FlagSet, p *string, scope platformScope) {
	usage := "keep only this platform of each multi-platform image, OS/ARCH[/VARIANT] (default: every platform)"
	if scope == platformAnalyze {
		usage = "the image of a multi-platform index to analyze, OS/ARCH[/VARIANT] (default linux/amd64: an analysis reads one image, where a copy keeps them all)"
	}
	fl.StringVar(p, "platform", "", usage)
}

// platformFlag reads a --platform value: nil for "" (every platform), a
// usage error for a malformed one.
func platformFlag(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := oci.ParsePlatform(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("--platform: %w", err)}
	}
	return &p, nil
}

// addTransferConcurrencyFlag registers --concurrency for a command that
// moves blobs: copy.DefaultConcurrency at once, 1 or more.
func addTransferConcurrencyFlag(fl *pflag.FlagSet, n *int) {
	*n = copy.DefaultConcurrency
	fl.Var(&intFlag{n: n, min: 1}, "concurrency", "blobs moved at once")
}

// addCPUConcurrencyFlag registers --concurrency for a command whose work is
// hashing or decompressing: 0, the default, is perCPU ("one per CPU"), as
// the work is bound by CPUs rather than by the network.
func addCPUConcurrencyFlag(fl *pflag.FlagSet, n *int, what, perCPU string) {
	*n = 0
	fl.Var(&intFlag{n: n, min: 0}, "concurrency", what+" at once (default 0: "+perCPU+"; this work is CPU-bound, where copies are network-bound)")
}

// concurrencyFlag checks a --concurrency value set other than by flag
// parsing (tests build the flags structs directly).
func concurrencyFlag(n int) error {
	if n < 1 {
		return usageError{fmt.Errorf("--concurrency %d: want 1 or more", n)}
	}
	return nil
}

// intFlag is an int flag with a lower bound, checked when it is set.
type intFlag struct {
	n   *int
	min int
}

func (f *intFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return strconv.Itoa(*f.n)
}
func (f *intFlag) Type() string { return "int" }
func (f *intFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min {
		return fmt.Errorf("want a whole number, %d or more", f.min)
	}
	*f.n = v
	return nil
}

// registryFlags are the flags of every command that reaches a registry:
// how its TLS is trusted. Credentials come from docker's config.json and
// its credential helpers (remote.Options.DockerConfig), as for skopeo.
type registryFlags struct {
	insecure bool   // --insecure
	caFile   string // --ca-file
}

// addRegistryFlags registers --insecure and --ca-file, which every command
// that reaches a registry takes.
func addRegistryFlags(fl *pflag.FlagSet, r *registryFlags) {
	fl.BoolVar(&r.insecure, "insecure", false, "reach registries over plain HTTP or with unverified TLS certificates")
	fl.StringVar(&r.caFile, "ca-file", "", "PEM file of CA certificates to trust for registries' TLS, besides the system's (a registry with a private CA)")
}

// options returns the remote.Options of these flags, with gantry's
// User-Agent.
func (r registryFlags) options() remote.Options {
	return remote.Options{Insecure: r.insecure, CAFile: r.caFile, UserAgent: "gantry/" + Version}
}

// addThresholdFlag registers --failure-threshold with its default and why
// that default suits the command.
func addThresholdFlag(fl *pflag.FlagSet, s *report.Severity, def report.Severity, why string) {
	*s = def
	fl.Var((*severityFlag)(s), "failure-threshold", "exit 1 when a finding is at least this severe: error, warning, info, style or none ("+why+")")
}

// severityFlag is a report.Severity flag.
type severityFlag report.Severity

func (s *severityFlag) String() string { return report.Severity(*s).String() }
func (s *severityFlag) Type() string   { return "severity" }
func (s *severityFlag) Set(v string) error {
	sev, err := report.ParseSeverity(v)
	if err != nil {
		return fmt.Errorf("want error, warning, info, style or none")
	}
	*s = severityFlag(sev)
	return nil
}
