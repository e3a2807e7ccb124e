package gc

import (
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func dg(s string) digest.Digest { return digest.FromString(s) }

// repo is a repository with two images (v1 tagged, v0 untagged), a
// signature of v1, a signature of v0, and a stray blob; everything old.
func repo() *Repository {
	mt := ocispec.MediaTypeImageManifest
	links := map[digest.Digest]Link{}
	nodes := map[digest.Digest]*Node{}
	for _, img := range []string{"v0", "v1"} {
		cfg, layer, m, sig := dg(img+"cfg"), dg(img+"layer"), dg(img), dg(img+"sig")
		links[cfg], links[layer] = Link{Since: 100}, Link{Since: 100}
		links[m], links[sig] = Link{Since: 100, MediaType: mt}, Link{Since: 100, MediaType: mt}
		nodes[m] = &Node{Children: []ocispec.Descriptor{{Digest: cfg}, {Digest: layer}}}
		nodes[sig] = &Node{Subject: m}
	}
	links[dg("stray")] = Link{Since: 100}
	return &Repository{
		Name:  "app",
		Links: links,
		Tags:  []Tag{{Name: "v1", Digest: dg("v1")}},
		Young: func(digest.Digest) bool { return false },
		Node:  func(d ocispec.Descriptor) *Node { return nodes[d.Digest] },
	}
}

func TestPlan(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name     string
		ret      Retention
		young    digest.Digest
		unlinked []digest.Digest
		tags     []string
	}{
		{"default keeps manifests, not the stray blob", Retention{}, "", []digest.Digest{dg("stray")}, nil},
		{"remove untagged takes v0 and its signature", Retention{RemoveUntagged: true}, "",
			[]digest.Digest{dg("stray"), dg("v0"), dg("v0cfg"), dg("v0layer"), dg("v0sig")}, nil},
		{"young content stays", Retention{RemoveUntagged: true}, dg("v0"),
			[]digest.Digest{dg("stray")}, nil},
		{"max age removes the tag and what only it kept", Retention{MaxAge: time.Second}, "",
			[]digest.Digest{dg("stray"), dg("v1"), dg("v1cfg"), dg("v1layer"), dg("v1sig")}, []string{"v1"}},
		{"protected tag stays", Retention{MaxAge: time.Second, Protect: []string{"v.*"}}, "",
			[]digest.Digest{dg("stray")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := tc.ret.Compile()
			if err != nil {
				t.Fatal(err)
			}
			r := repo()
			if tc.young != "" {
				r.Young = func(d digest.Digest) bool { return d == tc.young }
			}
			p := rules.Plan(r, now)
			want := slices.Sorted(slices.Values(tc.unlinked))
			if !slices.Equal(p.Unlink, want) {
				t.Errorf("unlinked %v, want %v", p.Unlink, want)
			}
			if !slices.Equal(p.Tags, tc.tags) {
				t.Errorf("tags %v, want %v", p.Tags, tc.tags)
			}
		})
	}
}

func TestRetentionValidate(t *testing.T) {
	for _, r := range []Retention{{KeepLast: -1}, {Protect: []string{"("}}} {
		if r.Validate() == nil {
			t.Errorf("%+v: valid, want an error", r)
		}
	}
}
