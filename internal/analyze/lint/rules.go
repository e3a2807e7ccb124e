package lint

import "github.com/gantry-dev/gantry/internal/analyze/report"

// rule is a rule's metadata; its check lives in the family's check
// function. IDs are stable: a retired rule's ID is never reused.
type rule struct {
	id, name string
	sev      report.Severity
	summary  string
}

// ruleTable lists every rule, grouped by family:
// GL1xx base images, GL2xx processes, GL3xx heavy components, GL4xx package
// managers, GL5xx layers, GL6xx instructions, GL7xx shell, GL9xx structure.
var ruleTable = []rule{
	{"GL101", "BaseImageUntagged", report.Warning, "Base image has no tag: pin a version tag and a digest."},
	{"GL102", "BaseImageLatest", report.Warning, "Base image uses the latest tag: pin a version tag and a digest."},
	{"GL103", "BaseImageNoDigest", report.Info, "Base image is not pinned by digest (the digests policy sets the severity)."},
	{"GL104", "RegistryNotAllowed", report.Error, "Image comes from a registry outside allowed-registries."},
	{"GL105", "StageOnlyCopiedFrom", report.Info, "A stage with no instructions is only copied from: COPY --from the image directly."},
	{"GL106", "PlatformHardcoded", report.Warning, "FROM --platform is a constant: use $BUILDPLATFORM or $TARGETPLATFORM, or drop it."},

	{"GL201", "ProcessManager", report.Error, "ENTRYPOINT or CMD starts a process manager: run one process per container."},
	{"GL202", "BackgroundProcesses", report.Warning, "ENTRYPOINT or CMD starts processes in the background with &: run one process per container."},
	{"GL203", "KeepAlive", report.Warning, "ENTRYPOINT or CMD keeps the container alive artificially or chains service starts."},

	{"GL301", "HeavyPackage", report.Warning, "The shipped image installs a heavy build-time component: build in a stage, copy the result."},
	{"GL302", "HeavyBaseImage", report.Warning, "The shipped image is based on a toolchain image: build in a stage, ship a runtime image."},

	{"GL401", "AptListsNotCleaned", report.Warning, "apt-get install leaves /var/lib/apt/lists in the layer: remove it in the same RUN."},
	{"GL402", "ApkCacheNotCleaned", report.Warning, "apk add keeps its cache: use apk add --no-cache."},
	{"GL403", "RpmCacheNotCleaned", report.Warning, "yum/dnf/microdnf/zypper install leaves its cache: clean it in the same RUN."},
	{"GL404", "PipCacheNotCleaned", report.Warning, "pip install keeps its cache: use --no-cache-dir."},
	{"GL405", "NodeCacheNotCleaned", report.Info, "npm or yarn install keeps its cache in the layer: clean it in the same RUN."},
	{"GL406", "AptUpdateAlone", report.Warning, "apt-get update in a RUN of its own: run it with apt-get install in one RUN."},
	{"GL407", "AptRecommends", report.Info, "apt-get install without --no-install-recommends pulls optional packages."},
	{"GL408", "PackageNoConfirm", report.Warning, "Package install without -y (or zypper -n): the build waits for an answer."},
	{"GL409", "AptInteractive", report.Warning, "apt is for terminals: use apt-get (or apt-cache) in scripts."},
	{"GL410", "PackageUnpinned", report.Info, "Package installed without a version: pin versions for reproducible builds."},
	{"GL411", "DistUpgrade", report.Warning, "dist-upgrade in an image: rebuild on an updated base image instead."},

	{"GL501", "RecursiveChown", report.Warning, "Recursive chown/chmod of files an earlier instruction added duplicates them: use COPY --chown/--chmod."},

	{"GL601", "AddInsteadOfCopy", report.Warning, "ADD of local files: use COPY (ADD is for archives to unpack and remote sources)."},
	{"GL602", "PipeToShell", report.Warning, "Downloaded script piped into a shell: download, verify a checksum, then run."},
	{"GL603", "UserRoot", report.Warning, "The shipped image's last USER is root: switch to an unprivileged user."},
	{"GL604", "UserUnset", report.Info, "The shipped image sets no USER: it runs as the base image's user, usually root."},
	{"GL605", "Sudo", report.Warning, "sudo in RUN: RUN executes as the current USER; switch USER instead."},
	{"GL606", "SecretInArgEnv", report.Warning, "A secret in ARG or ENV stays in the image: use RUN --mount=type=secret."},
	{"GL607", "ShellFormCommand", report.Warning, "Shell-form ENTRYPOINT/CMD runs under sh -c, which does not forward signals: use JSON form."},
	{"GL608", "MultipleCommand", report.Warning, "Several CMD or ENTRYPOINT in a stage: only the last one takes effect."},
	{"GL609", "CdInRun", report.Warning, "cd in RUN: use WORKDIR."},
	{"GL610", "RelativeWorkdir", report.Warning, "WORKDIR is relative: use an absolute path."},
	{"GL611", "CopyRelativeNoWorkdir", report.Warning, "COPY/ADD to a relative path with no WORKDIR set: set WORKDIR or use an absolute path."},
	{"GL612", "CopyFromUnknown", report.Error, "COPY --from names no earlier stage and is not an image reference."},
	{"GL613", "CopyFromSelf", report.Error, "COPY --from names its own stage."},
	{"GL614", "Maintainer", report.Warning, "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors."},
	{"GL615", "PipefailMissing", report.Warning, "Piped RUN without -o pipefail: a failing command before | is ignored."},
	{"GL616", "UseraddLog", report.Warning, "useradd with a high UID and no -l writes a huge /var/log/lastlog: add -l."},
	{"GL617", "HealthcheckMissing", report.Info, "The shipped image has no HEALTHCHECK."},
	{"GL618", "MultipleHealthcheck", report.Warning, "Several HEALTHCHECK in a stage: only the last one takes effect."},
	{"GL619", "PointlessCommand", report.Info, "Command that makes no sense in a container build (ssh, vim, shutdown, mount, ...)."},
	{"GL620", "CurlAndWget", report.Style, "Both curl and wget are used: pick one and install one tool."},
	{"GL621", "ShellSymlink", report.Warning, "Replacing /bin/sh with a symlink: use the SHELL instruction."},

	{"GL701", "UnquotedVariable", report.Style, "Unquoted variable in a path argument: quote it."},
	{"GL702", "CdNoExit", report.Warning, "cd not followed by && and without || exit: a failed cd runs the rest in the wrong directory."},
	{"GL703", "FailureIgnored", report.Warning, "Commands separated by ; or newlines without set -e: only the last one's failure fails the build."},
	{"GL704", "BackgroundInRun", report.Warning, "& in RUN: the background process is killed when the step ends."},
	{"GL705", "AndOrChain", report.Style, "A && B || C is not if-then-else: C also runs when B fails."},

	{"GL900", "ParseError", report.Error, "The Dockerfile cannot be parsed."},
	{"GL901", "InstructionBeforeFrom", report.Error, "Only ARG may come before the first FROM."},
	{"GL902", "DuplicateStageName", report.Error, "Two stages have the same name."},
	{"GL903", "InvalidPort", report.Error, "EXPOSE port is not a valid port (1-65535)."},
	{"GL904", "InvalidInstruction", report.Error, "BuildKit rejects the instruction (unknown keyword, bad flag or arguments)."},
	{"GL905", "CopyDestNotDir", report.Error, "COPY/ADD of several sources needs a destination ending with /."},
	{"GL906", "NoFrom", report.Error, "The Dockerfile has no FROM."},
	{"GL907", "ShellTooComplex", report.Warning, "A RUN, CMD or ENTRYPOINT shell program has too many operators and brackets to analyze."},
	{"GL908", "ExpansionTooLarge", report.Error, "ARG and ENV values expand past gantry's bounds (1 MiB a value, 32 MiB in all)."},
}

var ruleIndex = func() map[string]rule {
	m := make(map[string]rule, len(ruleTable))
	for _, r := range ruleTable {
		m[r.id] = r
	}
	return m
}()

// hadolintMap gives, for each hadolint rule gantry covers, the gantry rules
// a `# hadolint ignore=` comment switches off.
var hadolintMap = map[string][]string{
	"DL3000": {"GL610"},
	"DL3001": {"GL619"},
	"DL3002": {"GL603"},
	"DL3003": {"GL609"},
	"DL3004": {"GL605"},
	"DL3006": {"GL101"},
	"DL3007": {"GL102"},
	"DL3008": {"GL410"},
	"DL3009": {"GL401"},
	"DL3011": {"GL903"},
	"DL3012": {"GL618"},
	"DL3013": {"GL410"},
	"DL3014": {"GL408"},
	"DL3015": {"GL407"},
	"DL3016": {"GL410"},
	"DL3018": {"GL410"},
	"DL3019": {"GL402"},
	"DL3020": {"GL601"},
	"DL3021": {"GL905"},
	"DL3022": {"GL612"},
	"DL3023": {"GL613"},
	"DL3024": {"GL902"},
	"DL3025": {"GL607"},
	"DL3026": {"GL104"},
	"DL3027": {"GL409"},
	"DL3028": {"GL410"},
	"DL3029": {"GL106"},
	"DL3030": {"GL408"},
	"DL3032": {"GL403"},
	"DL3033": {"GL410"},
	"DL3034": {"GL408"},
	"DL3035": {"GL411"},
	"DL3036": {"GL403"},
	"DL3037": {"GL410"},
	"DL3038": {"GL408"},
	"DL3040": {"GL403"},
	"DL3041": {"GL410"},
	"DL3042": {"GL404"},
	"DL3043": {"GL904"},
	"DL3045": {"GL611"},
	"DL3046": {"GL616"},
	"DL3057": {"GL617"},
	"DL3060": {"GL405"},
	"DL3061": {"GL901"},
	"DL3062": {"GL410"},
	"DL4000": {"GL614"},
	"DL4001": {"GL620"},
	"DL4003": {"GL608"},
	"DL4004": {"GL608"},
	"DL4005": {"GL621"},
	"DL4006": {"GL615"},
	"SC2164": {"GL702"},
	"SC2086": {"GL701"},
	"SC2015": {"GL705"},
}

// checks run in order once a Dockerfile is read, for the rules that need
// every stage known; each adds findings. The rules of one instruction ran
// as it was read (see dockerfile.done).
var checks = []func(*dockerfile, *Options){
	checkBase,
	checkProcess,
	checkScripts,
	checkHeavy,
	checkShipped,
	checkLayers,
	checkInstructions,
	checkStructure,
}
