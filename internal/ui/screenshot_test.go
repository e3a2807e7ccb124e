package ui_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/gantry-dev/gantry/internal/ui"
)

// TestScreenshot makes docs/ui-fleet.png, the fleet page of seven
// images on three copies of one base, rendered by headless Chromium:
//
//	GANTRY_UI_SCREENSHOT=$PWD/docs/ui-fleet.png go test -run TestScreenshot ./internal/ui/
//
// It is a generator for the README, not a check: without the variable it
// does nothing (the e2e test TestUIInChromium checks the pages).
func TestScreenshot(t *testing.T) {
	out := os.Getenv("GANTRY_UI_SCREENSHOT")
	if out == "" {
		t.Skip("GANTRY_UI_SCREENSHOT names the PNG to write")
	}
	ds, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	ctx := context.Background()
	rnd := func(name string, n int) imagetest.Entry {
		b := make([]byte, n)
		_, _ = rand.Read(b) // incompressible: sizes as a real layer's
		return imagetest.Entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Data: b}
	}
	lay := func(name string, mib float64) testimage.Layer {
		return imagetest.Layer(imagetest.Gzip, rnd(name, int(mib*(1<<20))))
	}
	debA, debB, debC := lay("usr/lib/a.so", 8.6), lay("usr/lib/b.so", 8.6), lay("usr/lib/c.so", 8.6)
	py := lay("usr/lib/python3/lib.so", 14.3)
	images := []struct {
		name   string
		layers []testimage.Layer
		cb     []string
	}{
		{"billing/api", []testimage.Layer{debA, py, lay("app/api", 1.9)}, []string{"ADD file:debian-bookworm in /", "RUN apt-get install -y python3", "COPY api /app"}},
		{"ml/trainer", []testimage.Layer{debA, py, lay("app/train", 4.8)}, []string{"ADD file:debian-bookworm in /", "RUN apt-get install -y python3", "COPY trainer /app"}},
		{"search/indexer", []testimage.Layer{debA, lay("app/idx", 3.3)}, []string{"ADD file:debian-bookworm in /", "COPY indexer /app"}},
		{"billing/worker", []testimage.Layer{debB, lay("app/w", 2.4)}, []string{"ADD file:debian-bookworm in /", "COPY worker /app"}},
		{"web/frontend", []testimage.Layer{debB, lay("usr/lib/node", 14.1), lay("app/web", 4)}, []string{"ADD file:debian-bookworm in /", "RUN apt-get install -y nodejs", "COPY dist /app"}},
		{"search/api", []testimage.Layer{debC, lay("usr/lib/jre", 13.2), lay("app/s", 4)}, []string{"ADD file:debian-bookworm in /", "RUN apt-get install -y openjdk-17-jre-headless", "COPY api.jar /app"}},
		{"web/admin", []testimage.Layer{debC, lay("app/adm", 4.3)}, []string{"ADD file:debian-bookworm in /", "COPY admin /app"}},
	}
	u := ui.New(ds, ui.Options{})
	for _, im := range images {
		img := imagetest.Image(im.layers, imagetest.Config{Cmd: []string{"/app/run"}, CreatedBy: im.cb})
		tgt, err := ds.Repository(ctx, im.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(ctx, tgt, "v1"); err != nil {
			t.Fatal(err)
		}
		if err := u.Refresh(ctx, im.name); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(u)
	defer srv.Close()
	time.Sleep(3 * time.Second)
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--screenshot="+out, "--window-size=1100,760", srv.URL+"/ui/fleet")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
