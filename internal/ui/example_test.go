package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/gantry-dev/gantry/internal/ui"
)

// Example serves the view of a store holding one image, waits for its
// background analysis, and reads the image's page as JSON.
func Example() {
	dir, _ := os.MkdirTemp("", "gantry-ui-example")
	defer os.RemoveAll(dir)
	store, err := disk.Open(dir, disk.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	img := imagetest.Image([]testimage.Layer{
		imagetest.Layer(imagetest.Gzip, imagetest.Sized("tmp/cache.bin", 50_000)),
		imagetest.Layer(imagetest.Gzip, imagetest.Whiteout("tmp/cache.bin")),
	}, imagetest.Config{Cmd: []string{"/app"}, CreatedBy: []string{"RUN fetch", "RUN rm /tmp/cache.bin"}})
	repo, _ := store.Repository(ctx, "team/app")
	if err := img.Push(ctx, repo, "v1"); err != nil {
		panic(err)
	}

	view := ui.New(store, ui.Options{})
	go view.Run(ctx) // reads the store, then analyzes in the background
	for !view.Idle() || view.LayersScanned() < 2 {
		time.Sleep(10 * time.Millisecond)
	}

	req := httptest.NewRequest("GET", "/ui/image/team/app:v1", nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	view.ServeHTTP(w, req)
	var page ui.ImagePage
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		panic(err)
	}
	fmt.Println(page.Analysis, "wasted:", *page.Wasted)
	fmt.Printf("layer 1 (%s): %d bytes hidden by later layers\n", page.Layers[0].CreatedBy, *page.Layers[0].Hidden)
	for _, f := range page.Findings {
		if f.Bytes > 0 && f.Rule == "GC004" {
			fmt.Println(f.Rule, f.Bytes)
		}
	}
	// Output:
	// ready wasted: 50000
	// layer 1 (RUN fetch): 50000 bytes hidden by later layers
	// GC004 50000
}
