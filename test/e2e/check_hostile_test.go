package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// TestCheckImpliedDirs runs gantry check on an image whose one layer holds
// 1,000 files, each under its own chain of 2,000 directories that no entry
// names (two million directories from a few kilobytes of gzip; issue 9):
// it answers within a minute, under the race detector, with a GC007 error
// naming the layer and the entries it left out.
func TestCheckImpliedDirs(t *testing.T) {
	s := startServer(t, t.TempDir())
	reg, err := remote.New(s.Addr, remote.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	var es []imagetest.Entry
	for i := range 1000 {
		es = append(es, imagetest.Sized(fmt.Sprintf("d%d/%sf", i, strings.Repeat("a/", 1999)), 1))
	}
	layer := imagetest.Layer(imagetest.Gzip, es...)
	img := imagetest.Image([]testimage.Layer{layer}, imagetest.Config{CreatedBy: []string{"RUN make"}})
	repo, err := reg.Repository(t.Context(), "team/deep")
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Push(t.Context(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	res := testenv.Run(t, time.Minute, testenv.Gantry(t), "check", "--insecure", "--format", "json", s.Addr+"/team/deep:v1")
	if res.Code != 1 {
		t.Fatalf("check: exit %d, want 1 (an error finding); stderr:\n%s", res.Code, res.Stderr)
	}
	var out struct {
		Findings []struct{ Rule, Layer, Message string }
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("check output: %v\n%s", err, res.Stdout)
	}
	found := false
	for _, f := range out.Findings {
		if f.Rule == "GC007" {
			found = true
			t.Logf("%s: %s", f.Rule, f.Message)
			if f.Layer != layer.Desc.Digest.String() || !strings.Contains(f.Message, "of its 1000 entries") {
				t.Errorf("GC007 on layer %s: %s", f.Layer, f.Message)
			}
		}
	}
	if !found {
		t.Errorf("no GC007 finding in\n%s", res.Stdout)
	}
}
