package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testenv"
)

func unitFile() string { return filepath.Join(repoRoot(), "deploy", "systemd", "gantry.service") }

// TestSystemdUnit checks deploy/systemd/gantry.service with systemd's own
// verifier (with ExecStart pointed at the gantry under test, which it
// requires to exist), that its exposure score stays where the hardening put
// it, and that every GANTRY_ variable it sets names a flag of gantry serve.
func TestSystemdUnit(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze")
	unit, err := os.ReadFile(unitFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nStateDirectory=gantry\n",
		"\nRestart=on-failure\n", "\nLimitNOFILE=", "\nUser=gantry\n", "\nExecStart=/usr/local/bin/gantry serve\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("gantry.service lacks %q", strings.TrimSpace(want))
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.service")
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/gantry", testenv.Gantry(t))
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on unknown keys and only says so: any output fails.
	r := testenv.Run(t, timeout, analyze, "verify", "--man=no", path)
	if r.Code != 0 || strings.TrimSpace(r.Stdout+r.Stderr) != "" {
		t.Errorf("systemd-analyze verify: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = testenv.Run(t, timeout, analyze, "security", "--offline=yes", "--no-pager", path)
	m := regexp.MustCompile(`Overall exposure level for gantry\.service: ([0-9.]+)`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("systemd-analyze security: exit %d, no overall exposure:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score > 2.0 {
		t.Errorf("exposure %s, want 2.0 or less (it was 1.6 when the unit was written)", m[1])
	}
	help, stderr, code := gantry(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("gantry serve --help: %s", stderr)
	}
	for _, v := range regexp.MustCompile(`Environment=GANTRY_([A-Z_]+)=`).FindAllStringSubmatch(string(unit), -1) {
		flag := "--" + strings.ReplaceAll(strings.ToLower(v[1]), "_", "-")
		if !strings.Contains(help, flag+" ") {
			t.Errorf("GANTRY_%s names no flag of gantry serve (%s)", v[1], flag)
		}
	}
}
