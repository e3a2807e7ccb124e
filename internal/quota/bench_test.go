package quota_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/quota"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
)

// BenchmarkCharge is the cost a quota adds to each blob that enters a
// repository: a charge of new content and its undo, with three rules of
// which two govern the repository, holding 100,000 blobs already.
func BenchmarkCharge(b *testing.B) {
	q, err := quota.New([]quota.Rule{
		{Repositories: "team-a/**", Bytes: 1 << 50, Tags: 1 << 20},
		{Repositories: "**", Bytes: 1 << 50},
		{Repositories: "team-b/*", Tags: 10},
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		if _, err := q.Charge(fmt.Sprintf("team-a/r%d", i%100), digest.FromString(fmt.Sprint(i)), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
	d := digest.FromString("new")
	b.ReportAllocs()
	for b.Loop() {
		undo, err := q.Charge("team-a/r7", d, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		undo()
	}
}

// BenchmarkPush pushes small images (a 4 KiB layer, config and manifest,
// tagged) through gantry's registry handler with the remote client, with
// and without a quota governing the repositories: what the quota costs a
// whole push.
func BenchmarkPush(b *testing.B) {
	for _, withQuota := range []bool{false, true} {
		name := "no-quota"
		if withQuota {
			name = "quota"
		}
		b.Run(name, func(b *testing.B) {
			var q *quota.Quotas
			if withQuota {
				var err error
				if q, err = quota.New([]quota.Rule{{Repositories: "team-a/**", Bytes: 1 << 50, Tags: 1 << 30}}); err != nil {
					b.Fatal(err)
				}
			}
			opts := registry.Options{}
			if q != nil {
				opts.Quota = q
			}
			srv := httptest.NewServer(registry.New(memory.New(), opts))
			defer srv.Close()
			c, err := remote.New(strings.TrimPrefix(srv.URL, "http://"), remote.Options{})
			if err != nil {
				b.Fatal(err)
			}
			imgs := make([]testimage.Image, 64)
			for i := range imgs {
				l, err := testimage.RandomLayer(4 << 10)
				if err != nil {
					b.Fatal(err)
				}
				if imgs[i], err = testimage.NewImage([]testimage.Layer{l}, []string{"/bin/true"}); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				repo, err := c.Repository(b.Context(), fmt.Sprintf("team-a/r%d", i))
				if err != nil {
					b.Fatal(err)
				}
				if err := imgs[i%len(imgs)].Push(b.Context(), repo, "v1"); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
