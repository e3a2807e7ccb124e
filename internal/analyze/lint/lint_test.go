package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/google/go-cmp/cmp"
)

func rulesOf(t *testing.T, src string, opts Options) []string {
	t.Helper()
	fs, err := Lint("Dockerfile", []byte(src), opts)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Rule)
	}
	return ids
}

const pragmaFile = `# gantry global ignore=GL103,GL617
FROM debian AS build
# gantry stage ignore=GL101
RUN apt-get install curl

FROM alpine:latest
# just a comment
# hadolint ignore=DL3018,DL3019
RUN apk add curl
# gantry ignore=GL410
RUN apk add --no-cache wget
RUN apk add --no-cache jq
USER 1000
`

func TestPragmas(t *testing.T) {
	got := rulesOf(t, pragmaFile, Options{})
	want := []string{"GL102", "GL410"} // GL410 of `apk add jq` only
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with pragmas (-want +got):\n%s", diff)
	}
	all := rulesOf(t, pragmaFile, Options{DisableIgnorePragma: true})
	for _, id := range []string{"GL101", "GL103", "GL617", "GL402"} {
		if !slices.Contains(all, id) {
			t.Errorf("--disable-ignore-pragma: %s missing from %v", id, all)
		}
	}
	if n := strings.Count(strings.Join(all, " "), "GL410"); n != 3 {
		t.Errorf("--disable-ignore-pragma: GL410 %d times, want 3: %v", n, all)
	}
}

// A pragma separated from its instruction by another instruction does not
// apply; one inside a heredoc is not a pragma.
func TestPragmaPlacement(t *testing.T) {
	src := "FROM alpine:3.20\n# gantry ignore=GL402\nRUN true\nRUN apk add curl=1\nRUN <<EOF\n# gantry global ignore=GL617\necho\nEOF\n"
	got := rulesOf(t, src, Options{})
	if !slices.Contains(got, "GL402") || !slices.Contains(got, "GL617") {
		t.Errorf("misplaced pragmas applied: %v", got)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".gantry.yaml")
	yaml := "ignore: [GL617, DL3018]\nseverity:\n  GL604: none\n  GL402: error\nallowed-registries: [ghcr.io/acme]\ndigests: require\nbuild-args:\n  BASE: ghcr.io/acme/base:1\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Lint("Dockerfile", []byte("ARG BASE=debian:12\nFROM ${BASE}\nRUN apk add curl\n"), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]report.Severity{}
	for _, f := range fs {
		got[f.Rule] = f.Severity
	}
	want := map[string]report.Severity{"GL103": report.Error, "GL402": report.Error}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"ignore: [GL999]\n", "severity: {GL101: fatal}\n", "digests: maybe\n", "ignores: [GL101]\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err == nil {
			t.Errorf("LoadConfig(%q): no error", bad)
		}
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err != nil {
		t.Errorf("empty config: %v", err)
	}
}

func TestDigestPolicyIgnore(t *testing.T) {
	got := rulesOf(t, "FROM debian:12\n", Options{Config: Config{Digests: "ignore"}})
	if slices.Contains(got, "GL103") {
		t.Errorf("digests: ignore still reports GL103: %v", got)
	}
}

func TestStages(t *testing.T) {
	src := `ARG GO=1.22
FROM golang:${GO} AS build
FROM nginx:1.27 AS assets
FROM debian:12 AS base
ENV APP=/srv/app
WORKDIR $APP
FROM base
ARG GO
COPY --from=build /out /out
COPY --from=assets /x /x
`
	d, err := load("Dockerfile", []byte(src), map[string]string{"GO": "1.23"})
	if err != nil {
		t.Fatal(err)
	}
	type role struct {
		Name, Base                    string
		Final, Shipped, Copied, Based bool
	}
	var got []role
	for _, s := range d.stages {
		got = append(got, role{s.name, s.base, s.final, s.shipped, s.copiedFrom, s.usedAsBase})
	}
	want := []role{
		{"build", "golang:1.23", false, false, true, false},
		{"assets", "nginx:1.27", false, false, true, false},
		{"base", "debian:12", false, true, false, true},
		{"", "base", true, true, false, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	last := d.stages[3].last
	app, _ := last.vars.Get("APP")
	goVersion, _ := last.vars.Get("GO")
	if last.workdir != "/srv/app" || app != "/srv/app" || goVersion != "1.23" {
		t.Errorf("inherited state: workdir %q vars %v", last.workdir, last.vars)
	}
}

func TestParseError(t *testing.T) {
	_, err := Lint("bad/Dockerfile", []byte("FROM debian:12\nRUN <<EOF\necho\n"), Options{})
	pe, ok := err.(*ParseError)
	if !ok || pe.Line < 1 || pe.Column < 1 || pe.File != "bad/Dockerfile" {
		t.Fatalf("err = %#v, want a *ParseError with a position", err)
	}
}

func TestRuleMetadata(t *testing.T) {
	id := regexp.MustCompile(`^GL[1-9]\d\d$`)
	seen := map[string]bool{}
	for _, r := range Rules() {
		if !id.MatchString(r.ID) || seen[r.ID] || r.Name == "" || r.Summary == "" || r.Severity == report.None || r.HelpURI == "" {
			t.Errorf("rule %+v", r)
		}
		seen[r.ID] = true
	}
	for dl, ids := range hadolintMap {
		for _, g := range ids {
			if !seen[g] {
				t.Errorf("%s maps to unknown %s", dl, g)
			}
		}
	}
}

// TestDocs checks docs/rules.md has a section with a bad and a good example
// for every rule, and a coverage row for every mapped hadolint rule.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range ruleTable {
		i := strings.Index(doc, "\n### "+r.id+" ")
		if i < 0 {
			t.Errorf("docs/rules.md: no section for %s", r.id)
			continue
		}
		sec := doc[i+1:]
		if j := strings.Index(sec[4:], "\n### "); j >= 0 {
			sec = sec[:j+4]
		}
		if r.id != "GL900" && (!strings.Contains(sec, "Bad") || !strings.Contains(sec, "Good")) {
			t.Errorf("docs/rules.md: %s needs a bad and a good example", r.id)
		}
	}
	for dl := range hadolintMap {
		if strings.HasPrefix(dl, "DL") && !strings.Contains(doc, "| "+dl+" ") {
			t.Errorf("docs/rules.md: no coverage row for %s", dl)
		}
	}
}

// TestHostileSizes checks that cost grows with the input, not with its
// square: many ENV lines, many stages built on each other, many ARGs seen
// by many FROMs.
func TestHostileSizes(t *testing.T) {
	var env, chain, args strings.Builder
	env.WriteString("FROM debian:12\n")
	chain.WriteString("FROM debian:12 AS s0\nENV A=1\n")
	for i := range 10000 {
		fmt.Fprintf(&env, "ENV V%d=$V0-x\n", i)
		fmt.Fprintf(&args, "ARG A%d=%d\n", i, i)
	}
	for i := 1; i < 3000; i++ {
		fmt.Fprintf(&chain, "FROM s%d AS s%d\nENV B%d=$A\nRUN echo $A $B%d\n", i-1, i, i, i)
	}
	for i := range 3000 {
		fmt.Fprintf(&args, "FROM debian:${A%d}\n", i)
	}
	for name, src := range map[string]string{"env": env.String(), "chain": chain.String(), "args": args.String()} {
		start := time.Now()
		if _, err := Lint(name, []byte(src), Options{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := time.Since(start); d > 5*time.Second && !raceEnabled {
			t.Errorf("%s: %v", name, d)
		}
	}
}
