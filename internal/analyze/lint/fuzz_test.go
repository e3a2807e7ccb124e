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
