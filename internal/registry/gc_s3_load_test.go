package registry_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/gc"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/s3"
	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
)

// TestS3GCUnderLoad: garbage collection in a loop on replica A of an S3
// bucket (grace two seconds, retention removing tags) while 16 clients
// push images and delete them through replica B's registry, for at most
// 20 seconds. Afterwards every tagged manifest is whole through both
// replicas: zero missing blobs. A push slower than the grace may be
// refused (MANIFEST_BLOB_UNKNOWN), never damaged.
func TestS3GCUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	s3srv := s3test.Start(t)
	loc := s3srv.URL()
	openReplica := func() *s3.Store {
		o, err := s3.ParseURL(loc)
		if err != nil {
			t.Fatal(err)
		}
		o.AccessKey, o.SecretKey = s3test.AccessKey, s3test.SecretKey
		s, err := s3.Open(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ds, sb := openReplica(), openReplica()
	srv := httptest.NewServer(registry.New(sb, registry.Options{MaxUploads: -1, MaxRepositoryUploads: -1}))
	defer srv.Close()
	srvA := httptest.NewServer(registry.New(ds, registry.Options{MaxUploads: -1, MaxRepositoryUploads: -1}))
	defer srvA.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	const (
		clients = 16
		rounds  = 40 // per client: bounded in count as well as in time
	)
	var gcRuns, gcBlobs, gcUnlinks atomic.Int64
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for ctx.Err() == nil {
			rep, err := ds.Collect(ctx, s3.GCOptions{Grace: 2 * time.Second,
				Retention: gc.Retention{KeepLast: 3, Protect: []string{"keep"}, RemoveUntagged: true}})
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Collect: %v", err)
				}
				return
			}
			gcRuns.Add(1)
			gcBlobs.Add(int64(rep.BlobsReclaimed))
			gcUnlinks.Add(int64(len(rep.Unlinked)))
			time.Sleep(50 * time.Millisecond)
		}
	}()

	load := runPushDeleteLoad(ctx, t, srv, clients, rounds)
	cancel()
	<-gcDone
	// One last collection with no grace, nobody pushing: it must not take
	// anything a tag reaches either.
	final, err := ds.Collect(t.Context(), s3.GCOptions{Grace: s3.NoGrace})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pushes, %d deletes, %d refusals; %d collections during the load unlinked %d and removed %d blobs; the last removed %d",
		load.pushes.Load(), load.deletes.Load(), load.refusals.Load(), gcRuns.Load(), gcUnlinks.Load(), gcBlobs.Load(), final.BlobsReclaimed)
	if load.pushes.Load() == 0 || gcRuns.Load() < 2 {
		t.Fatalf("too little happened: %d pushes, %d collections", load.pushes.Load(), gcRuns.Load())
	}

	// Every tag of every repository resolves to a manifest whose blobs
	// all come back over HTTP, through both replicas.
	missing, checked := 0, 0
	for _, c := range []*loadClient{{base: srv.URL, hc: srv.Client()}, {base: srvA.URL, hc: srvA.Client()}} {
		m, n := checkTagsWhole(t, c)
		missing, checked = missing+m, checked+n
	}
	if missing > 0 || checked == 0 {
		t.Fatalf("%d missing of %d blobs checked", missing, checked)
	}
}
