package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const sha = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestFromFiles(t *testing.T) {
	t.Setenv("WEB_TAG", "")
	refs, err := FromFiles([]string{"testdata"})
	if err != nil {
		t.Fatal(err)
	}
	c, d := filepath.Join("testdata", "compose.yml"), filepath.Join("testdata", "deploy.yaml")
	want := []Ref{
		{"registry.example.com/team/web:1.0", []Location{{c, 3}}},
		{"docker.io/library/redis:7", []Location{{c, 5}}},
		{"registry.example.com/team/migrate:2.0", []Location{{d, 11}}},
		{"docker.io/library/nginx:1.25", []Location{{d, 14}, {d, 48}}},
		{"registry.example.com/team/sidecar@" + sha, []Location{{d, 16}}},
		{"docker.io/library/busybox:latest", []Location{{d, 38}}},
		{"localhost:5000/tools/debug:1", []Location{{d, 50}}},
		{"docker.io/bitnami/postgresql:16", []Location{{d, 56}}},
	}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Fatalf("FromFiles (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
		errHas     string
	}{
		{"empty", "", nil, ""},
		{"empty documents", "---\n---\n", nil, ""},
		{"not k8s", "a: 1\nb: [1,2]\n", nil, ""},
		{"pod", "kind: Pod\nspec:\n  containers:\n  - image: a.io/x:1\n", []string{"a.io/x:1"}, ""},
		{"daemonset", "kind: DaemonSet\nspec:\n  template:\n    spec:\n      containers:\n      - image: a.io/x:1\n", []string{"a.io/x:1"}, ""},
		{"job", "kind: Job\nspec:\n  template:\n    spec:\n      initContainers:\n      - image: a.io/i:1\n      containers:\n      - image: a.io/x:1\n", []string{"a.io/i:1", "a.io/x:1"}, ""},
		{"replicaset", "kind: ReplicaSet\nspec:\n  template:\n    spec:\n      containers:\n      - image: a.io/x:1\n", []string{"a.io/x:1"}, ""},
		{"DeploymentList", "kind: DeploymentList\nitems:\n- kind: Deployment\n  spec:\n    template:\n      spec:\n        containers:\n        - image: a.io/x:1\n", []string{"a.io/x:1"}, ""},
		{"alias", "kind: Pod\nspec:\n  containers:\n  - &c {image: a.io/x:1}\n  initContainers:\n  - *c\n", []string{"a.io/x:1"}, ""},
		{"compose no image", "services:\n  a:\n    build: .\n", nil, ""},
		{"image not a string", "kind: Pod\nspec:\n  containers:\n  - image: [1]\n", nil, ""},
		{"bad yaml", "kind: Pod\nspec: [\n", nil, "not valid YAML"},
		{"helm template", "kind: Pod\nspec:\n  containers:\n  - image: \"{{ .Values.image }}\"\n", nil, "unrendered Helm template"},
		{"bad image", "kind: Pod\nspec:\n  containers:\n  - image: Bad/Name\n", nil, "f.yaml:4"},
		{"compose unset var", "services:\n  a:\n    image: a.io/x:${GANTRY_TEST_UNSET}\n", nil, "GANTRY_TEST_UNSET is not set"},
		{"compose default", "services:\n  a:\n    image: a.io/x:${GANTRY_TEST_UNSET-2}\n  b:\n    image: a.io/y:$$x\n", nil, "f.yaml:5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refs, err := Parse("f.yaml", []byte(tc.yaml))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("Parse: %v, want an error mentioning %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, r.Image)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromFilesErrors(t *testing.T) {
	if _, err := FromFiles([]string{filepath.Join(t.TempDir(), "missing.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("{{ not yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "x.yaml"), []byte("{{ not yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if refs, err := FromFiles([]string{dir}); err != nil || len(refs) != 0 {
		t.Errorf("directory with no manifests: %v, %v", refs, err)
	}
}

func TestParseList(t *testing.T) {
	arm := &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	v7 := &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	in := `# images for site A
registry.example.com/team/app:1.4.2
nginx:1.25   # from Docker Hub
registry.example.com/base@` + sha + ` --platform=linux/arm64

registry.example.com/tool:2 platform=linux/arm/v7
registry.example.com/tool:3 --platform linux/arm64
oci:./images:team/app:1
docker-archive:saved.tar:nginx:1.25 platform=linux/amd64
registry.example.com/team/app:1.4.2
registry.example.com/x#y:1
`
	got, err := ParseList(strings.NewReader(in))
	if err == nil {
		t.Fatalf("a '#' inside a word was taken for a comment: %+v", got)
	}
	in = strings.Replace(in, "registry.example.com/x#y:1\n", "", 1)
	got, err = ParseList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []ListEntry{
		{Image: "registry.example.com/team/app:1.4.2", Line: 2},
		{Image: "docker.io/library/nginx:1.25", Line: 3},
		{Image: "registry.example.com/base@" + sha, Platform: arm, Line: 4},
		{Image: "registry.example.com/tool:2", Platform: v7, Line: 6},
		{Image: "registry.example.com/tool:3", Platform: arm, Line: 7},
		{Image: "oci:./images:team/app:1", Line: 8},
		{Image: "docker-archive:saved.tar:nginx:1.25", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}, Line: 9},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct{ name, in, errHas string }{
		{"junk", "a.io/x:1 extra\n", `line 1: unexpected "extra"`},
		{"bad platform", "a.io/x:1 --platform=linux\n", "line 1: platform"},
		{"two platforms", "a.io/x:1 --platform=linux/amd64 platform=linux/arm64\n", "twice"},
		{"conflict", "a.io/x:1 --platform=linux/amd64\n\na.io/x:1\n", "line 3: a.io/x:1 listed again with another platform (line 1 has linux/amd64, this line all platforms)"},
		{"bad ref", "\nA.io/X\n", "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseList(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("ParseList: %v, want an error mentioning %q", err, tc.errHas)
			}
			if !errors.Is(err, cas.ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}
