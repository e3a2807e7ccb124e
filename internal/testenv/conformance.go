package testenv

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// conformanceModule is the OCI distribution-spec conformance suite, built
// from the newest version on the Go module proxy so that gantry is measured
// against the suite as it is today, not as it was when a test was written.
const conformanceModule = "github.com/opencontainers/distribution-spec/conformance"

// ConformanceRow is one result of the conformance suite: a leaf test of
// junit.xml ("blob-head", "manifest-by-digest", ...) or a row of the API
// and data tables the suite prints last ("Blob head request",
// "Image with subject", ...).
type ConformanceRow struct {
	// Name of the test, its full path in the suite's tree ("OCI
	// Conformance Test/sha256 blobs/post only/blob-head"), or of the table
	// row ("Blob get range").
	Name string
	// Kind is "test" for a junit leaf, "API" or "Data" for a table row.
	Kind string
	// Status is "passed", "skipped", "failure" or "error" for junit
	// leaves, and "Pass", "FAIL", "Skip", "Disabled" or "Error" for table
	// rows, as the suite writes them.
	Status string
	// Detail is the suite's error text for a failed leaf.
	Detail string
}

// Passed reports whether the row is green. Disabled table rows (features
// switched off by configuration) count as green: nothing was asked.
func (r ConformanceRow) Passed() bool {
	switch r.Status {
	case "passed", "Pass", "Disabled":
		return true
	}
	return false
}

// ConformanceResult is a run of the conformance suite.
type ConformanceResult struct {
	// Version is the suite's module version.
	Version string
	// Tests are junit.xml's leaf tests, in the suite's order.
	Tests []ConformanceRow
	// Table holds the API and data rows of the suite's final report.
	Table []ConformanceRow
	// Output is everything the suite printed.
	Output string
	// Dir holds results.yaml, junit.xml and report.html (the latter
	// shows every request and response).
	Dir string
}

// Failed returns the rows, leaf tests and table rows, that are not green.
func (r ConformanceResult) Failed() []ConformanceRow {
	var out []ConformanceRow
	for _, row := range append(append([]ConformanceRow(nil), r.Tests...), r.Table...) {
		if !row.Passed() {
			out = append(out, row)
		}
	}
	return out
}

// Summary is one line per kind of row: how many passed, failed, were
// skipped.
func (r ConformanceResult) Summary() string {
	count := func(rows []ConformanceRow) string {
		by := map[string]int{}
		for _, row := range rows {
			by[row.Status]++
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, by[k]))
		}
		return fmt.Sprintf("%d (%s)", len(rows), strings.Join(parts, ", "))
	}
	return fmt.Sprintf("OCI conformance suite %s: junit tests %s; report rows %s", r.Version, count(r.Tests), count(r.Table))
}

var (
	confOnce    sync.Once
	confBin     string
	confVersion string
	confErr     error
)

// ConformanceBinary builds the newest conformance suite from the Go module
// proxy once per test process, and once per version on the machine: the
// binary is cached under the OS temp dir, keyed by version. It returns the
// binary and the version.
func ConformanceBinary(t testing.TB) (path, version string) {
	t.Helper()
	confOnce.Do(func() { confBin, confVersion, confErr = buildConformance() })
	if confErr != nil {
		if InCI() {
			t.Fatalf("conformance suite: %v", confErr)
		}
		t.Skipf("conformance suite unavailable (no module proxy?): %v", confErr)
	}
	return confBin, confVersion
}

func buildConformance() (string, string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", conformanceModule+"@latest").Output()
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s@latest: %w", conformanceModule, err)
	}
	var mod struct{ Version, Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Error != "" || mod.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s@latest: %v %s", conformanceModule, err, mod.Error)
	}
	cache := filepath.Join(os.TempDir(), "gantry-conformance-"+mod.Version)
	bin := filepath.Join(cache, "conformance")
	if _, err := os.Stat(bin); err == nil {
		return bin, mod.Version, nil
	}
	// The module cache is read-only, and the suite's go.mod must be its
	// own main module: build from a writable copy, into a temporary name
	// renamed into place, so concurrent test processes never run a
	// half-written binary.
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", "", err
	}
	src, err := os.MkdirTemp(cache, "src-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(src)
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", "", fmt.Errorf("copy %s: %w", mod.Dir, err)
	}
	tmp := bin + fmt.Sprintf(".%d.tmp", os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s@%s: %v\n%s", conformanceModule, mod.Version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", "", err
	}
	return bin, mod.Version, nil
}

// Conformance runs the OCI conformance suite against the registry at addr
// (HOST:PORT, plain HTTP) and returns its rows. The configuration is the
// suite's defaults plus upload cancel and tag parameters (both of which
// gantry implements), repositories conformance/repo1 and
// conformance/repo2; extraEnv adds or overrides OCI_* variables (e.g.
// OCI_DATA_SPARSE=true). Inherited OCI_* variables are dropped so a
// developer's shell cannot change the run. The test fails only if the suite
// cannot run; the caller judges the rows.
func Conformance(t testing.TB, addr string, extraEnv map[string]string) ConformanceResult {
	t.Helper()
	bin, version := ConformanceBinary(t)
	dir := t.TempDir()
	env := map[string]string{
		"OCI_REGISTRY":                addr,
		"OCI_TLS":                     "disabled",
		"OCI_REPO1":                   "conformance/repo1",
		"OCI_REPO2":                   "conformance/repo2",
		"OCI_RESULTS_DIR":             filepath.Join(dir, "results"),
		"OCI_API_BLOBS_UPLOAD_CANCEL": "true",
		"OCI_API_MANIFESTS_TAG_PARAM": "true",
		"OCI_LOG":                     "error",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start conformance suite: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done: // a non-zero exit means failed rows, judged by the caller
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("conformance suite did not finish within 5 minutes; output:\n%s", logs)
	}
	res := ConformanceResult{Version: version, Output: logs.String(), Dir: env["OCI_RESULTS_DIR"]}
	tests, err := parseJunit(filepath.Join(res.Dir, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no usable junit.xml (%v); output:\n%s", err, res.Output)
	}
	res.Tests = tests
	res.Table = parseReportTables(res.Output)
	return res
}

// parseJunit reads the leaf tests of the suite's junit.xml.
func parseJunit(path string) ([]ConformanceRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name      string `xml:"name,attr"`
				Status    string `xml:"status,attr"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var rows []ConformanceRow
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			rows = append(rows, ConformanceRow{Name: c.Name, Kind: "test", Status: c.Status, Detail: strings.TrimSpace(c.SystemOut)})
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s has no test cases", path)
	}
	return rows, nil
}

// parseReportTables reads the "API conformance:" and "Data conformance:"
// tables the suite prints last: lines "  Name.......: Status".
func parseReportTables(out string) []ConformanceRow {
	var rows []ConformanceRow
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch strings.TrimSpace(line) {
		case "API conformance:":
			section = "API"
			continue
		case "Data conformance:":
			section = "Data"
			continue
		case "":
			section = ""
			continue
		}
		if section == "" || !strings.HasPrefix(line, "  ") {
			continue
		}
		name, status, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		rows = append(rows, ConformanceRow{Name: strings.TrimRight(name, "."), Kind: section, Status: strings.TrimSpace(status)})
	}
	return rows
}
