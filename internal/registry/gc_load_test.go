package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// loadClient is one of the load test's registry clients: plain HTTP, as a
// client pushes (HEAD each blob, upload what is missing, PUT the manifest)
// and deletes.
type loadClient struct {
	base string
	hc   *http.Client
}

func (c *loadClient) do(ctx context.Context, method, path string, body []byte, ct string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// pushBlob uploads b to repo unless the repository has it.
func (c *loadClient) pushBlob(ctx context.Context, repo string, b []byte) error {
	d := digest.FromBytes(b)
	if st, _, _, err := c.do(ctx, "HEAD", "/v2/"+repo+"/blobs/"+d.String(), nil, ""); err != nil || st == http.StatusOK {
		return err
	}
	st, _, h, err := c.do(ctx, "POST", "/v2/"+repo+"/blobs/uploads/", nil, "")
	if err != nil {
		return err
	}
	if st != http.StatusAccepted {
		return fmt.Errorf("POST upload: %d", st)
	}
	loc := h.Get("Location")
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	st, body, _, err := c.do(ctx, "PUT", loc+sep+"digest="+d.String(), b, "application/octet-stream")
	if err != nil {
		return err
	}
	if st != http.StatusCreated {
		return fmt.Errorf("PUT upload: %d %s", st, body)
	}
	return nil
}

// TestGCUnderLoad runs online garbage collection in a loop, with a grace
// period of two seconds and retention removing tags, while 64
// clients push images (sharing layers across repositories) and delete
// them through the registry. Afterwards every tagged manifest is whole:
// zero missing blobs over HTTP, and fsck is clean. A push slower than the
// grace period (on a loaded machine) may see its first blobs taken before
// its manifest: MANIFEST_BLOB_UNKNOWN, a refusal, never damage.
func TestGCUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	ds, err := disk.Open(dir, disk.Options{OnlineGC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	srv := httptest.NewServer(registry.New(ds, registry.Options{MaxUploads: -1, MaxRepositoryUploads: -1}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()

	const (
		clients = 64
		rounds  = 25 // per client: bounded in count as well as in time
	)
	var (
		gcRuns, gcBlobs atomic.Int64
		maxPause        atomic.Int64
	)
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for ctx.Err() == nil {
			rep, err := ds.Collect(ctx, disk.GCOptions{Grace: 2 * time.Second, Batch: 16,
				Retention: disk.Retention{KeepLast: 3, Protect: []string{"keep"}, RemoveUntagged: true}})
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Collect: %v", err)
				}
				return
			}
			gcRuns.Add(1)
			gcBlobs.Add(int64(rep.BlobsReclaimed))
			if int64(rep.LongestPause) > maxPause.Load() {
				maxPause.Store(int64(rep.LongestPause))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	load := runPushDeleteLoad(ctx, t, srv, clients, rounds)
	cancel()
	<-gcDone
	// One last collection with no grace, nobody pushing: it must not take
	// anything a tag reaches either.
	final, err := ds.Collect(t.Context(), disk.GCOptions{Grace: disk.NoGrace})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pushes, %d deletes, %d refusals; %d collections during the load removed %d blobs (longest pause %s); the last removed %d",
		load.pushes.Load(), load.deletes.Load(), load.refusals.Load(), gcRuns.Load(), gcBlobs.Load(), time.Duration(maxPause.Load()), final.BlobsReclaimed)
	if load.pushes.Load() == 0 || gcRuns.Load() < 2 {
		t.Fatalf("too little happened: %d pushes, %d collections", load.pushes.Load(), gcRuns.Load())
	}

	missing, checked := checkTagsWhole(t, &loadClient{base: srv.URL, hc: srv.Client()})
	if missing > 0 || checked == 0 {
		t.Fatalf("%d missing of %d blobs checked", missing, checked)
	}
	rep, err := ds.Fsck(t.Context(), disk.FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || len(rep.Incomplete) > 0 {
		t.Fatalf("fsck after the load: %+v", rep)
	}
}

// loadCounts is what runPushDeleteLoad did.
type loadCounts struct{ pushes, deletes, refusals atomic.Int64 }

// runPushDeleteLoad has clients push images (sharing layers across eight
// repositories, load/r0 to load/r7) and delete some of them through srv,
// each for rounds rounds or until ctx ends, as garbage collection runs
// beside them. A refusal (a child taken meanwhile) is counted and the
// client pushes again; anything else unexpected fails t.
func runPushDeleteLoad(ctx context.Context, t *testing.T, srv *httptest.Server, clients, rounds int) *loadCounts {
	var n loadCounts
	pushes, deletes, refusals := &n.pushes, &n.deletes, &n.refusals
	shared := make([][]byte, 12)
	for i := range shared {
		shared[i] = make([]byte, 200+i)
		rand.Read(shared[i])
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &loadClient{base: srv.URL, hc: srv.Client()}
			repo := fmt.Sprintf("load/r%d", i%8)
			var mine []digest.Digest
			for k := 0; k < rounds && ctx.Err() == nil; k++ {
				cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","client":%d,"round":%d}`, i, k)
				layer := shared[(i+k)%len(shared)]
				uniq := make([]byte, 300)
				rand.Read(uniq)
				if k%3 == 2 && len(mine) > 0 {
					uniq = nil // re-push an image whose blobs are likely orphaned and old
				}
				blobs := [][]byte{cfg, layer}
				if uniq != nil {
					blobs = append(blobs, uniq)
				}
				failed := false
				for _, b := range blobs {
					if err := c.pushBlob(ctx, repo, b); err != nil {
						if ctx.Err() == nil && refusals.Load() < 3 {
							t.Logf("client %d: %v", i, err)
						}
						failed = true
						break
					}
				}
				if failed {
					if ctx.Err() == nil {
						refusals.Add(1)
					}
					continue
				}
				m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
					Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
				m.SchemaVersion = 2
				for _, b := range blobs[1:] {
					m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))})
				}
				mb, _ := json.Marshal(m)
				tag := fmt.Sprintf("c%d-%d", i, k%5)
				if k == 0 {
					tag = fmt.Sprintf("keep-c%d", i)
				}
				st, body, _, err := c.do(ctx, "PUT", "/v2/"+repo+"/manifests/"+tag, mb, ocispec.MediaTypeImageManifest)
				switch {
				case err != nil:
					continue
				case st == http.StatusCreated:
					pushes.Add(1)
					mine = append(mine, digest.FromBytes(mb))
				case st == http.StatusBadRequest || st == http.StatusNotFound:
					if refusals.Add(1) < 4 {
						t.Logf("client %d: PUT manifest: %d %s", i, st, body)
					} // a child taken meanwhile: push again
					continue
				default:
					t.Errorf("PUT manifest: %d", st)
					return
				}
				if k%4 == 3 && len(mine) > 1 {
					d := mine[0]
					mine = mine[1:]
					if st, _, _, err := c.do(ctx, "DELETE", "/v2/"+repo+"/manifests/"+d.String(), nil, ""); err == nil && (st == http.StatusAccepted || st == http.StatusNotFound) {
						deletes.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return &n
}

// checkTagsWhole checks through c that every tag of load/r0 to load/r7
// resolves to a manifest whose blobs all come back, and returns how many
// were missing and how many were checked.
func checkTagsWhole(t *testing.T, c *loadClient) (missing, checked int) {
	for r := range 8 {
		repo := fmt.Sprintf("load/r%d", r)
		st, body, _, err := c.do(t.Context(), "GET", "/v2/"+repo+"/tags/list?n=10000", nil, "")
		if err != nil || st != http.StatusOK {
			t.Fatalf("tags of %s: %d %v", repo, st, err)
		}
		var tl struct{ Tags []string }
		json.Unmarshal(body, &tl)
		for _, tag := range tl.Tags {
			st, mb, _, err := c.do(t.Context(), "GET", "/v2/"+repo+"/manifests/"+tag, nil, "")
			if err != nil || st != http.StatusOK {
				t.Errorf("%s:%s: manifest %d %v", repo, tag, st, err)
				missing++
				continue
			}
			var m ocispec.Manifest
			json.Unmarshal(mb, &m)
			for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
				checked++
				st, b, _, err := c.do(t.Context(), "GET", "/v2/"+repo+"/blobs/"+d.Digest.String(), nil, "")
				if err != nil || st != http.StatusOK || digest.FromBytes(b) != d.Digest {
					t.Errorf("%s:%s: blob %s: %d %v", repo, tag, d.Digest, st, err)
					missing++
				}
			}
		}
	}
	return missing, checked
}
