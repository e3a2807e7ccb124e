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
		fs, err := Lint(f.File, src, Options{})
		if err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		fired := map[string]bool{}
		for _, x := range fs {
			fired[x.Rule] = true
		}
		for i, c := range categories {
			l, ok := f.Labels[c.name]
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
				misses = append(misses, fmt.Sprintf("FP %-16s %s (%s)", c.name, f.File, l.Reason))
			case l.Value:
				counts[i].fn++
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

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
