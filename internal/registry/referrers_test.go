package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// Referrers with large annotations: each entry of the list carries at most
// MaxReferrerAnnotations of them (in the store's index too), the list comes
// in pages linked by Link, and following the links yields every referrer
// once, in the order they were pushed.
func TestReferrersBounded(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store := s.open(t)
			srv := httptest.NewServer(registry.New(store, registry.Options{}))
			t.Cleanup(srv.Close)
			c := &client{t: t, base: srv.URL}
			subject := c.image("app", "")
			sd := digest.FromBytes(subject)
			c.expect(c.do("PUT", "/v2/app/manifests/v1", subject, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
			subj := fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":%d}`, ocispec.MediaTypeImageManifest, sd, len(subject))
			const count, big = 40, 256 << 10
			var want []digest.Digest
			for i := range count {
				at := "application/vnd.example.even"
				if i%2 == 1 {
					at = "application/vnd.example.odd"
				}
				extra := fmt.Sprintf(`,"artifactType":%q,"annotations":{"a.small":"%d","z.big":%q}`, at, i, strings.Repeat("x", big))
				m := c.image("app", extra+subj)
				c.expect(c.do("PUT", "/v2/app/manifests/"+digest.FromBytes(m).String(), m, "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated, "")
				want = append(want, digest.FromBytes(m))
			}

			// The index keeps the bounded entries only.
			repo, _ := store.Repository(t.Context(), "app")
			list, err := repo.(cas.ReferrerIndex).Referrers(t.Context(), sd)
			if err != nil || len(list) != count {
				t.Fatalf("index: %d entries, %v", len(list), err)
			}
			for _, d := range list {
				if len(d.Annotations["z.big"]) > 0 || d.Annotations[registry.AnnotationsTruncated] != "true" {
					t.Fatalf("index entry %s keeps %d bytes of z.big, truncated=%q", d.Digest, len(d.Annotations["z.big"]), d.Annotations[registry.AnnotationsTruncated])
				}
			}

			// Whole list in one page; small answer.
			r := c.do("GET", "/v2/app/referrers/"+sd.String(), nil)
			c.expect(r, http.StatusOK, "")
			if len(r.body) > count*(registry.MaxReferrerAnnotations+1024) {
				t.Fatalf("referrers answer of %d bytes for %d referrers", len(r.body), count)
			}
			var idx ocispec.Index
			if err := json.Unmarshal(r.body, &idx); err != nil || len(idx.Manifests) != count || r.Header.Get("Link") != "" {
				t.Fatalf("one page: %d entries, %v, Link %q", len(idx.Manifests), err, r.Header.Get("Link"))
			}
			if idx.Manifests[3].Annotations["a.small"] != "3" {
				t.Fatalf("small annotation lost: %v", idx.Manifests[3].Annotations)
			}

			// Pages of 15, then of 7 with a filter kept across pages.
			for _, tc := range []struct {
				query string
				want  []digest.Digest
				pages int
			}{
				{"?n=15", want, 3},
				{"?n=7&artifactType=application/vnd.example.odd", odd(want), 3},
			} {
				var got []digest.Digest
				pages := 0
				for next := "/v2/app/referrers/" + sd.String() + tc.query; next != ""; pages++ {
					r := c.do("GET", next, nil)
					c.expect(r, http.StatusOK, "")
					var idx ocispec.Index
					if err := json.Unmarshal(r.body, &idx); err != nil {
						t.Fatalf("%s: %v", next, err)
					}
					for _, m := range idx.Manifests {
						got = append(got, m.Digest)
					}
					next = ""
					if l := r.Header.Get("Link"); l != "" {
						m := nextLink.FindStringSubmatch(l)
						if m == nil {
							t.Fatalf("Link %q", l)
						}
						next = m[1]
					}
					if pages > count {
						t.Fatal("the Links do not end")
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) || pages != tc.pages {
					t.Fatalf("%s: %d pages listing %v, want %d pages listing %v", tc.query, pages, got, tc.pages, tc.want)
				}
			}
			r = c.do("GET", "/v2/app/referrers/"+sd.String()+"?n=0", nil)
			if err := json.Unmarshal(r.body, &idx); err != nil || len(idx.Manifests) != 0 || r.Header.Get("Link") != "" {
				t.Fatalf("n=0: %s, Link %q", r.body, r.Header.Get("Link"))
			}
		})
	}
}

func odd(ds []digest.Digest) []digest.Digest {
	var out []digest.Digest
	for i := 1; i < len(ds); i += 2 {
		out = append(out, ds[i])
	}
	return out
}
