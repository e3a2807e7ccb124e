package lint

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLint checks that no Dockerfile makes the linter panic, and that what
// it reports is well formed. Seeds: testdata/fuzz/FuzzLint and every rule
// case in testdata/rules.
func FuzzLint(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.txt"))
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b) // the whole file: many sections in one input
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fs, err := Lint("Dockerfile", src, Options{Config: Config{AllowedRegistries: []string{"ghcr.io"}, Digests: "require"}})
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, x := range fs {
			if _, ok := ruleIndex[x.Rule]; !ok || x.Line < 1 || x.Message == "" {
				t.Fatalf("malformed finding %+v", x)
			}
		}
	})
}

// FuzzExpand checks the bounds of ARG and ENV expansion on any Dockerfile:
// no kept value is longer than maxValue (or the file, for a value written
// out), and all expansions together receive at most maxExpanded bytes.
// Seeds: testdata/fuzz/FuzzExpand (doubling, linear and nested chains,
// pattern substitutions).
func FuzzExpand(f *testing.F) {
	f.Add(doubling("ARG", 22))
	f.Add(doubling("ENV", 22))
	f.Add(linearChain(300))
	f.Add([]byte("ARG A=${B:-${C:-${D:-x}}}\nFROM ${A}\nENV E=${A//x/yyyyyyyy} F=${E/y/${E}}\nRUN echo $E $F\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := load("Dockerfile", src, nil)
		if err != nil {
			return
		}
		if d.expanded > maxExpanded {
			t.Fatalf("expansions received %d bytes, over %d", d.expanded, maxExpanded)
		}
		// The values in force at the end of each stage (checking every
		// instruction's view would be quadratic in the seeds' chains).
		for _, st := range d.stages {
			in := st.from
			if st.last != nil {
				in = st.last
			}
			for _, k := range in.vars.Keys() {
				if v, _ := in.vars.Get(k); len(v) > maxValue+len(src) {
					t.Fatalf("line %d: $%s is %d bytes", in.line, k, len(v))
				}
			}
		}
	})
}

// FuzzScripts checks that no entrypoint or install script in the build
// context makes the linter panic or report a malformed finding. Seeds:
// testdata/fuzz/FuzzScripts and the scripts of the labelled set
// (testdata/real/context).
func FuzzScripts(f *testing.F) {
	filepath.WalkDir(filepath.Join("testdata", "real", "context"), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	const df = "FROM debian:12\nENV DEPS=\"gcc make\"\nCOPY s.sh /usr/local/bin/\nCOPY s.sh /i.sh\nRUN /i.sh $DEPS\nENTRYPOINT [\"s.sh\"]\n"
	f.Fuzz(func(t *testing.T, script []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "s.sh"), script, 0o755); err != nil {
			t.Fatal(err)
		}
		fs, err := Lint("Dockerfile", []byte(df), Options{Context: dir})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range fs {
			if _, ok := ruleIndex[x.Rule]; !ok || x.Line < 1 || x.Message == "" {
				t.Fatalf("malformed finding %+v", x)
			}
		}
	})
}
