package sources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/oci"
)

// FuzzParse checks that the YAML walker never panics or loops on any input
// and that every image it reports is a full reference with a location. Its
// seeds are the files of testdata/ plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.y*ml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: List\nitems: &a [ {kind: List, items: *a} ]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		for _, r := range refs {
			ref, err := oci.ParseImageRef(r.Image)
			if err != nil || ref.String() != r.Image {
				t.Fatalf("reported %q, which does not parse back: %v", r.Image, err)
			}
			if len(r.Locations) == 0 || r.Locations[0].Line < 1 {
				t.Fatalf("%q without a location", r.Image)
			}
		}
	})
}

// FuzzParseList checks that the list parser never panics and that what it
// accepts is a full reference.
func FuzzParseList(f *testing.F) {
	f.Add("a.io/x:1 --platform=linux/amd64\n# c\nnginx\n")
	f.Add("x platform=a/b/c\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseList(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if hasTransport(e.Image) {
				continue // kept as written, for the command to open
			}
			if _, err := oci.ParseImageRef(e.Image); err != nil {
				t.Fatalf("accepted %q: %v", e.Image, err)
			}
		}
	})
}
