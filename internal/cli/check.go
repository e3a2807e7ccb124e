package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	imagecheck "github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/analyze/lint"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

type checkFlags struct {
	format                 *outputFormat
	threshold              report.Severity
	maxSize, maxLayerBytes string
	maxTotalBytes          string
	maxLayers, concurrency int
	inflateWorkers         int
	platform               string
	access                 registryFlags
	dockerfile, lintConfig string
	buildArgs              []string
	cacheDir, cacheMaxSize string
	noCache                bool
}

func newCheckCmd(e *env) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check IMAGE...",
		Short: "Analyze images: size, wasted bytes, heavy components, process managers, users, secrets, caches",
		Long: `Read each image as a stream (nothing is unpacked to disk; layers are
decompressed in parallel, gzip, zstd or uncompressed, several images at
once, at most --concurrency layers at a time) and report:

  GC001 size, GC002/GC003 size and layer budgets (--max-size, --max-layers)
  GC004 bytes wasted, exactly: the bytes of the files stored in all layers
        minus the bytes of the final filesystem, so every file a later layer
        deletes (whiteouts, opaque directories, deleted directories) or
        overwrites counts once. dive's figure for the same image is shown
        beside it: dive also counts the surviving copy of a file changed in
        several layers, ignores opaque directories, and counts the contents
        of a deleted directory only when their paths appear twice.
  GC005 each layer that hides bytes, with the largest files it hides
  GC007 entries left out of the analysis: their paths imply more
        directories that no tar entry names than gantry makes for an image
        (65,536 and one per entry), as only a hostile or broken layer does
  GC010/GC011 heavy components by their installed files (JDK, Java
        runtime, browsers, elasticsearch, toolchains, compilers; the
        catalogue gantry lint uses) and build-essential, with their bytes,
        typical size, what to ship instead and the instruction that added
        them
  GC020 process managers as the entrypoint or command (systemd, init,
        supervisord, s6, runit, openrc), symlinks followed inside the image
  GC030-GC034 root or unknown user, setuid files, empty passwords,
        duplicate UIDs
  GC040-GC042 secrets in ENV, in the history and in files of any layer
  GC050/GC051 build-context leftovers and package caches
  GC060/GC061 the base image (annotations, or layers shared with the other
        images checked)

With --dockerfile FILE, the Dockerfile the image was built from: the
instructions of the stages it ships are linked to the image's layers through
the config's history (base-image layers first, then one layer per RUN, COPY
and ADD, each checked against the history's created_by text), gantry lint's
rules run on it (policy from .gantry.yaml or --lint-config, as for lint),
and each lint finding of a layer-producing instruction carries its layer
and is priced in bytes: the package caches its layer stores (GL401-GL406),
the files a recursive chown/chmod stored again (GL501), the whole layer of an
unpinned, heavy or piped-to-shell install (GL410, GL301, GL602). Image
findings about a layer get the Dockerfile line that made it, and GC006
reports the bytes an instruction stores that later instructions hide.
GC070 says how the link went: a warning when some links are unsure, or when
the Dockerfile does not match the image (then nothing is priced).

Each layer's scan is kept in a cache directory, by the layer's digest
(default: gantry/scans under the user's cache directory, $XDG_CACHE_HOME or
~/.cache on Linux; --cache-dir, --cache-max-size, --no-cache): a digest
names the layer's bytes, so a scan never goes stale, and checking images
that share layers with images checked before reads only their new layers.
A scan is kept only once the layer's bytes matched its digest, readable by
its owner only (it holds the image's /etc/shadow). Entries of
another gantry version are not used; the least recently used are removed
past --cache-max-size. When the user's cache directory cannot be used, a
warning says so and the images of the run still share their scans.

IMAGE is [HOST/]REPO:TAG (a registry; without HOST, Docker Hub) or
oci:DIR:REPO:TAG (an OCI layout, such as gantry's store). An image that cannot be read (missing or corrupt layer,
hostile tar paths, over --max-layer-bytes) gets a GC000 error finding and the
others are still checked.

Exit status: 0, or 1 when a finding reaches --failure-threshold or an image
could not be read, 2 on a usage error.`,
		Example: `  gantry check registry.example.com/app:v1
  gantry check --dockerfile Dockerfile --format json registry.example.com/app:v1
  gantry check --max-size 500MB --max-layers 20 --format sarif oci:./images:app:v1 > check.sarif`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("check takes at least one IMAGE: see gantry check --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), e, f, args)
		},
	}
	fl := cmd.Flags()
	f.format = addFormatFlags(cmd, report.SARIF)
	addThresholdFlag(fl, &f.threshold, report.Error, "a built image's warnings are advice for its next build, where gantry lint's default is warning")
	fl.StringVar(&f.maxSize, "max-size", "", "size budget for an image's uncompressed files, e.g. 500MB or 1.5GiB (default: none)")
	fl.IntVar(&f.maxLayers, "max-layers", 0, "layer budget (default: none)")
	fl.StringVar(&f.maxLayerBytes, "max-layer-bytes", "16GiB", "stop reading a layer past this many decompressed bytes (decompression bombs)")
	fl.StringVar(&f.maxTotalBytes, "max-total-bytes", "64GiB", "stop reading an image past this many decompressed bytes in all")
	addCPUConcurrencyFlag(fl, &f.concurrency, "layers decompressed", "one per CPU, at most 8")
	f.inflateWorkers = 1
	fl.Var(&intFlag{n: &f.inflateWorkers, min: 1}, "inflate-workers", "goroutines that inflate each gzip layer of 64 MiB or more: with cores to spare, 2 or more read one big layer faster, for about 1.3 times the CPU and a few hundred MiB of memory")
	addPlatformFlag(fl, &f.platform, platformAnalyze)
	addRegistryFlags(fl, &f.access)
	fl.StringVar(&f.dockerfile, "dockerfile", "", "the Dockerfile the images were built from: link its instructions to their layers and price its lint findings in bytes")
	fl.StringVar(&f.lintConfig, "lint-config", "", "lint policy file for --dockerfile (default ./"+lintConfigFile+" if it exists)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "ARG value for --dockerfile as KEY=VALUE, as docker build --build-arg (repeatable)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "directory of the layer scan cache (default: gantry/scans in the user's cache directory)")
	fl.StringVar(&f.cacheMaxSize, "cache-max-size", "1GiB", "bound of the layer scan cache; the least recently used scans are removed past it")
	fl.BoolVar(&f.noCache, "no-cache", false, "read every layer, and neither use nor write the layer scan cache")
	return cmd
}

func runCheck(ctx context.Context, e *env, f checkFlags, args []string) (err error) {
	format, threshold := f.format.format(), f.threshold
	var opts imagecheck.Options
	for _, s := range []struct {
		flag, v string
		dst     *int64
	}{{"--max-size", f.maxSize, &opts.MaxSize}, {"--max-layer-bytes", f.maxLayerBytes, &opts.Limits.MaxLayerBytes}, {"--max-total-bytes", f.maxTotalBytes, &opts.Limits.MaxTotalBytes}} {
		if *s.dst, err = parseSize(s.v); err != nil {
			return usageError{fmt.Errorf("%s: %w", s.flag, err)}
		}
	}
	opts.MaxLayers, opts.Concurrency, opts.InflateWorkers = f.maxLayers, f.concurrency, f.inflateWorkers
	if opts.Platform, err = platformFlag(f.platform); err != nil {
		return err
	}
	rules := imagecheck.Rules
	if f.dockerfile != "" {
		if opts.Dockerfile, err = checkDockerfile(e, f); err != nil {
			return err
		}
		rules = append(slices.Clone(rules), lint.Rules()...)
	} else if f.lintConfig != "" || len(f.buildArgs) > 0 {
		return usageError{errors.New("--lint-config and --build-arg need --dockerfile")}
	}
	if opts.Scans, err = checkScans(e, f); err != nil {
		return err
	}
	refs := make([]oci.ImageRef, len(args))
	for i, a := range args {
		if refs[i], err = parseRef("IMAGE", a); err != nil {
			return err
		}
	}
	locs := &locations{access: f.access}
	defer func() {
		if cerr := locs.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// Images are analyzed several at once (an image of one big layer
	// leaves the other cores to the next images); Slots keeps the layers
	// read at once across them within --concurrency.
	conc := opts.Concurrency
	if conc <= 0 {
		conc = min(runtime.GOMAXPROCS(0), 8)
	}
	opts.Slots = imagecheck.NewSlots(conc)
	srcs := make([]cas.ReadOnlyTarget, len(refs))
	checked := make([]*imagecheck.Result, len(refs))
	errs := make([]error, len(refs))
	for i, ref := range refs {
		srcs[i], errs[i] = locs.source(ctx, ref) // locs is not for concurrent use
	}
	var g errgroup.Group
	g.SetLimit(conc)
	for i, ref := range refs {
		if errs[i] != nil {
			continue
		}
		g.Go(func() error {
			checked[i], errs[i] = imagecheck.Analyze(ctx, srcs[i], args[i], ref.Reference(), opts)
			return nil
		})
	}
	g.Wait() // errors are the images' own, in errs
	var results []*imagecheck.Result
	var findings []report.Finding
	failed := 0
	for i, err := range errs {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Reported once, as a finding: not also as a log line.
			failed++
			findings = append(findings, report.Finding{Rule: imagecheck.RuleUnreadable, Severity: report.Error, Image: args[i], Message: err.Error()})
			continue
		}
		results = append(results, checked[i])
		findings = append(findings, checked[i].Findings...)
	}
	if opts.Scans != nil {
		var hits int64
		if d := opts.Scans.Dir(); d != nil {
			hits = d.Stats().Hits
		}
		e.log.Debug("layer scans", "read", opts.Scans.Scanned(), "from_cache_dir", hits)
	}
	findings = append(findings, imagecheck.BaseFindings(results)...)
	report.Sort(findings)
	rep := report.Report{Tool: "gantry", Version: Version, Rules: rules, Findings: findings}
	if err := report.Write(e.stdout, format, rep, report.WriteOptions{Color: format == report.TTY && isTerminal(e.stdout)}); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %s could not be read", failed, plural(len(refs), "image"))
	}
	if report.Fails(findings, threshold) {
		return fmt.Errorf("findings at or above %s", threshold)
	}
	return nil
}

// checkScans opens the layer scan cache of the check flags: nil with
// --no-cache; in memory only (the images of this run share their scans)
// when no directory is given and the user's cannot be used.
func checkScans(e *env, f checkFlags) (*imagecheck.ScanCache, error) {
	maxBytes, err := parseSize(f.cacheMaxSize)
	if err != nil {
		return nil, usageError{fmt.Errorf("--cache-max-size: %w", err)}
	}
	if f.noCache {
		if f.cacheDir != "" {
			return nil, usageError{errors.New("--cache-dir and --no-cache: pick one")}
		}
		return nil, nil
	}
	dir := f.cacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			e.log.Warn("no layer scan cache (--cache-dir DIR picks one)", "err", err)
			return imagecheck.NewScanCache(0), nil
		}
		dir = filepath.Join(base, "gantry", "scans")
	}
	bi := readBuildInfo()
	version := bi.Version + " " + bi.Commit
	if bi.Modified {
		version += " modified"
	}
	scans := imagecheck.NewScanCache(0)
	d, err := imagecheck.OpenScanDir(dir, imagecheck.ScanDirOptions{MaxBytes: maxBytes, Version: version, Log: e.log})
	switch {
	case err != nil && f.cacheDir != "":
		return nil, fmt.Errorf("%w (--cache-dir DIR picks another, --no-cache reads every layer)", err)
	case err != nil:
		// The user's cache directory is not writable: the check goes on,
		// sharing scans between the images of this run only.
		e.log.Warn("no layer scan cache (--cache-dir DIR picks one)", "err", err)
		return scans, nil
	}
	return scans.WithDir(d), nil
}

// checkDockerfile reads --dockerfile and the lint policy, as gantry lint
// does.
func checkDockerfile(e *env, f checkFlags) (*imagecheck.Dockerfile, error) {
	src, err := readDockerfile(e.stdin, f.dockerfile)
	if err != nil {
		return nil, usageError{fmt.Errorf("--dockerfile: %w", err)}
	}
	df := &imagecheck.Dockerfile{Name: f.dockerfile, Source: src}
	cfgPath := f.lintConfig
	if cfgPath == "" {
		if _, err := os.Stat(lintConfigFile); err == nil {
			cfgPath = lintConfigFile
		}
	}
	if cfgPath != "" {
		if df.Lint.Config, err = lint.LoadConfig(cfgPath); err != nil {
			return nil, usageError{err}
		}
	}
	for _, kv := range f.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--build-arg %q: want KEY=VALUE", kv)}
		}
		if df.Lint.Config.BuildArgs == nil {
			df.Lint.Config.BuildArgs = map[string]string{}
		}
		df.Lint.Config.BuildArgs[k] = v
	}
	return df, nil
}
