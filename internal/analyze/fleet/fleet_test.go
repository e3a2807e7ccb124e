package fleet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

func load(t *testing.T, imgs []testimage.Image) []Image {
	t.Helper()
	repo, err := memory.New().Repository(t.Context(), "fleet")
	if err != nil {
		t.Fatal(err)
	}
	var out []Image
	for i, img := range imgs {
		if err := img.Push(t.Context(), repo, ""); err != nil {
			t.Fatal(err)
		}
		l, err := image.Load(t.Context(), repo, img.ManifestDesc.Digest.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Image{Name: "app" + string(rune('0'+i)), Loaded: l})
	}
	return out
}

func TestAnalyze(t *testing.T) {
	// Five images on three bases of one family: 0 and 3 on base 0, 1 and
	// 4 on base 1, 2 on base 2.
	imgs, err := testimage.Fleet(5, 3, 20000, 1000, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := Analyze(load(t, imgs))
	base := func(i int) int64 { return imgs[i].Layers[0].Desc.Size }
	app := func(i int) int64 { return imgs[i].Layers[1].Desc.Size }
	var apps int64
	for i := range imgs {
		apps += app(i)
	}
	if want := base(0) + base(1) + base(2) + apps; r.Node != want {
		t.Errorf("node %d, want %d", r.Node, want)
	}
	if want := base(0) + base(1); r.Shared != want {
		t.Errorf("shared %d, want %d", r.Shared, want)
	}
	if want := base(0)*2 + base(1)*2 + base(2) + apps; r.Total != want {
		t.Errorf("total %d, want %d", r.Total, want)
	}
	if r.Images[2].Unique != base(2)+app(2) || r.Images[0].Unique != app(0) || r.Images[0].BaseLayers != 1 {
		t.Errorf("images: %+v", r.Images)
	}
	if len(r.Families) != 1 || len(r.Families[0].Bases) != 3 {
		t.Fatalf("families: %+v", r.Families)
	}
	if len(r.Recommendations) != 1 {
		t.Fatalf("recommendations: %+v", r.Recommendations)
	}
	rec := r.Recommendations[0]
	// Moving 1, 2 and 4 onto base 0 drops bases 1 and 2 from the node.
	if rec.Saves != base(1)+base(2) || rec.Target != imgs[0].Layers[0].Desc.Digest || !strings.Contains(rec.Message, "5 images on 3 different") {
		t.Errorf("recommendation: %+v", rec)
	}
	// Tree: three subtrees under the root, the first holding two images.
	if len(r.Tree.Children) != 3 || r.Tree.Children[0].Count != 2 || len(r.Tree.Children[0].Children) != 2 {
		t.Errorf("tree: %+v", r.Tree)
	}
	var html, txt bytes.Buffer
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&txt, r); err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		name := "app" + string(rune('0'+i))
		if !strings.Contains(html.String(), name) || !strings.Contains(txt.String(), name) {
			t.Errorf("%s missing from the reports", name)
		}
	}
	if !strings.Contains(html.String(), "<svg") || strings.Contains(html.String(), "http://") && !strings.Contains(html.String(), "http://www.w3.org/2000/svg") {
		t.Error("html: no inline svg, or external references")
	}
}

func TestNoRecommendationForOneBase(t *testing.T) {
	imgs, err := testimage.Fleet(3, 1, 1000, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := Analyze(load(t, imgs))
	if len(r.Recommendations) != 0 || len(r.Families) != 1 || r.Unique+r.Shared != r.Node {
		t.Errorf("%+v", r)
	}
}
