package lint

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateFigures = flag.Bool("update-figures", false, "rewrite testdata/real/figures.json with the measured precision and recall")

// categories maps each labelled category of testdata/real/manifest.json to
// the rules whose findings predict it.
var categories = []struct {
	name  string
	rules []string
}{
	{"process_manager", []string{"GL201", "GL202", "GL203"}},
	{"heavy_component", []string{"GL301", "GL302"}},
	{"runs_as_root", []string{"GL603", "GL604"}},
	{"unpinned_base", []string{"GL101", "GL102"}},
	// hadolint, by its documented rules (it cannot be installed here):
	// it has no rule for process managers or heavy components.
	{"runs_as_root (hadolint DL3002)", []string{"DL3002"}},
	{"unpinned_base (hadolint DL3006, DL3007)", []string{"DL3006", "DL3007"}},
}

type label struct {
	Value  bool   `json:"value"`
	Reason string `json:"reason"`
}

type labelled struct {
	File       string           `json:"file"`
	Repository string           `json:"repository"`
	Path       string           `json:"path"`
	Commit     string           `json:"commit"`
	Labels     map[string]label `json:"labels"`
}

// figure is precision and recall of one category, the committed floor.
type figure struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// TestRealPrecision lints the labelled set of public Dockerfiles in
// testdata/real, prints precision and recall per category and fails if
// either falls below the figures committed in testdata/real/figures.json
// (rewritten with -update-figures).
func TestRealPrecision(t *testing.T) {
	dir := filepath.Join("testdata", "real")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Files []labelled }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(m.Files) < 80 {
		t.Fatalf("the labelled set has %d files, want at least 80", len(m.Files))
	}
	type count struct{ tp, fp, fn, tn int }
	counts := make([]count, len(categories))
	var misses []string
	for _, f := range m.Files {
		src, err := os.ReadFile(filepath.Join(dir, f.File))
		if err != nil {
			t.Fatal(err)
		}
		// The scripts the Dockerfile copies from its build context, where
		// kept, sit in context/<file without .Dockerfile>.
		var opts Options
		if ctx := filepath.Join(dir, "context", strings.TrimSuffix(f.File, ".Dockerfile")); isDir(ctx) {
			opts.Context = ctx
		}
		fs, err := Lint(f.File, src, opts)
		if err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		fired := map[string]bool{}
		for _, x := range fs {
			fired[x.Rule] = true
		}
		for _, r := range hadolintRules(src) {
			fired[r] = true
		}
		for i, c := range categories {
			l, ok := f.Labels[strings.Fields(c.name)[0]]
			if !ok || l.Reason == "" {
				t.Errorf("%s: no labelled %s with a reason", f.File, c.name)
				continue
			}
			got := false
			for _, r := range c.rules {
				got = got || fired[r]
			}
			switch {
			case got && l.Value:
				counts[i].tp++
			case got:
				counts[i].fp++
				if strings.Contains(c.name, "hadolint") {
					continue
				}
				misses = append(misses, fmt.Sprintf("FP %-16s %s (%s)", c.name, f.File, l.Reason))
			case l.Value:
				counts[i].fn++
				if strings.Contains(c.name, "hadolint") {
					continue
				}
				misses = append(misses, fmt.Sprintf("FN %-16s %s (%s)", c.name, f.File, l.Reason))
			default:
				counts[i].tn++
			}
		}
	}
	got := map[string]figure{}
	var b strings.Builder
	fmt.Fprintf(&b, "%d files\n| category | TP | FP | FN | TN | precision | recall |\n|---|---|---|---|---|---|---|\n", len(m.Files))
	for i, c := range categories {
		k := counts[i]
		f := figure{Precision: ratio(k.tp, k.tp+k.fp), Recall: ratio(k.tp, k.tp+k.fn)}
		got[c.name] = f
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %.3f | %.3f |\n", c.name, k.tp, k.fp, k.fn, k.tn, f.Precision, f.Recall)
	}
	t.Log("\n" + b.String())
	if testing.Verbose() {
		t.Log("\n" + strings.Join(misses, "\n"))
	}
	golden := filepath.Join(dir, "figures.json")
	if *updateFigures {
		out, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err = os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]figure
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("figures.json: %v", err)
	}
	for _, c := range categories {
		g, w := got[c.name], want[c.name]
		if g.Precision+1e-9 < w.Precision || g.Recall+1e-9 < w.Recall {
			t.Errorf("%s: precision %.3f recall %.3f, below the committed %.3f / %.3f", c.name, g.Precision, g.Recall, w.Precision, w.Recall)
		}
	}
}

// hadolintRules returns the hadolint rules of the labelled categories that
// fire on src, as hadolint documents them: DL3002 when the last USER of the
// last stage is root; DL3006 for a FROM image written without a tag and
// DL3007 for one tagged latest, where FROM names neither a variable (which
// hadolint does not expand), a stage nor scratch.
func hadolintRules(src []byte) []string {
	text := strings.ReplaceAll(string(src), "\\\n", " ")
	stages := map[string]bool{}
	var out []string
	lastUser := ""
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			args := f[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				args = args[1:]
			}
			if len(args) == 0 {
				continue
			}
			img := strings.Trim(args[0], `"`)
			if len(args) >= 3 && strings.EqualFold(args[1], "as") {
				stages[strings.ToLower(args[2])] = true
			}
			lastUser = ""
			if strings.Contains(img, "$") || stages[strings.ToLower(img)] || img == "scratch" || strings.Contains(img, "@") {
				continue
			}
			tag := ""
			if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
				tag = img[i+1:]
			}
			switch tag {
			case "":
				out = append(out, "DL3006")
			case "latest":
				out = append(out, "DL3007")
			}
		case "USER":
			lastUser = f[1]
		}
	}
	if u, _, _ := strings.Cut(lastUser, ":"); u == "root" || u == "0" {
		out = append(out, "DL3002")
	}
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
