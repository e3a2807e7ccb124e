package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxReferrerAnnotations bounds the annotations a referrer carries in its
// subject's referrers list: the bytes of its keys and values together.
// distribution-spec v1.1.1 asks the list to carry a referrer's annotations,
// but a manifest may hold megabytes of them, and every GET of the list
// would repeat them for every referrer (40 referrers with 3 MB each made a
// 126 MB answer). Annotations are kept by key in lexical order while they
// fit; when some are left out, the entry carries AnnotationsTruncated. The
// whole manifest, with all its annotations, is one GET away.
const MaxReferrerAnnotations = 4 << 10

// AnnotationsTruncated is the annotation set on a referrer whose
// annotations MaxReferrerAnnotations cut: fetch the manifest for them all.
const AnnotationsTruncated = "dev.gantry.referrers.annotations-truncated"

// referrersPage is the most referrers one answer lists (a client's n may
// ask for fewer); a Link header (distribution-spec v1.1.1: RFC 5988,
// rel="next") leads to the rest. With MaxReferrerAnnotations a page stays
// well under the 4 MiB clients accept for an index.
const referrersPage = 256

// boundAnnotations returns a, or a copy cut to MaxReferrerAnnotations.
func boundAnnotations(a map[string]string) map[string]string {
	size := 0
	for k, v := range a {
		size += len(k) + len(v)
	}
	if size <= MaxReferrerAnnotations {
		return a
	}
	out := map[string]string{AnnotationsTruncated: "true"}
	size = len(AnnotationsTruncated) + len("true")
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if n := len(k) + len(a[k]); size+n <= MaxReferrerAnnotations {
			out[k] = a[k]
			size += n
		}
	}
	return out
}

// referrers answers GET /v2/<name>/referrers/<digest>[?artifactType=T]
// [&n=N&last=D]: an image index of the manifests whose subject is digest,
// from the store's cas.ReferrerLister (its cas.ReferrerIndex, or what a
// read-only store such as a bundle knows), in the order they were added, at most
// referrersPage (or n) at a time, with a Link to the next page. The page
// goes out entry by entry as it is encoded, never built whole. An unknown
// subject has an empty list (200), as the spec requires. A store without
// an index answers 404, which clients read as "no referrers API: use the
// tag schema".
//
// last is the digest of the last entry of the previous page; if that
// referrer was deleted meanwhile, the page is empty and the listing ends
// there (a deletion during a listing may hide entries, never repeat them).
func (rq *request) referrers() {
	ctx := rq.r.Context()
	d, ae := parseDigest(rq.ref)
	if ae != nil {
		rq.fail(ae, kindBlob)
		return
	}
	ri, ok := rq.repo.(cas.ReferrerLister)
	if !ok {
		rq.fail(newError(CodeUnsupported, "this store keeps no referrers index").withStatus(http.StatusNotFound), kindRegistry)
		return
	}
	q := rq.r.URL.Query()
	n, last, err := page(q)
	if err != nil {
		rq.fail(err, kindRegistry)
		return
	}
	if n < 0 || n > referrersPage {
		n = referrersPage
	}
	list, err := ri.Referrers(ctx, d)
	if err != nil {
		rq.fail(err, kindRegistry)
		return
	}
	if last != "" {
		i := slices.IndexFunc(list, func(x ocispec.Descriptor) bool { return x.Digest.String() == last })
		list = list[min(i+1, len(list)):]
		if i < 0 {
			list = nil
		}
	}
	types := q["artifactType"]
	out := make([]ocispec.Descriptor, 0, min(n, len(list)))
	more := false
	for _, desc := range list {
		if len(types) > 0 && !slices.Contains(types, desc.ArtifactType) {
			continue
		}
		// A referrer deleted through the blob API left its entry
		// behind; do not list what cannot be fetched.
		if ok, err := rq.repo.Exists(ctx, desc); err == nil && !ok {
			continue
		}
		if len(out) == n {
			more = true
			break
		}
		out = append(out, desc)
	}
	h := rq.w.Header()
	if len(types) > 0 {
		h.Set("OCI-Filters-Applied", "artifactType")
	}
	if more && len(out) > 0 {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {out[len(out)-1].Digest.String()}}
		if len(types) > 0 {
			next["artifactType"] = types
		}
		h.Set("Link", fmt.Sprintf(`</v2/%s/referrers/%s?%s>; rel="next"`, rq.name, d, next.Encode()))
	}
	h.Set("Content-Type", ocispec.MediaTypeImageIndex)
	rq.w.WriteHeader(http.StatusOK)
	// The index, written entry by entry: its head, the descriptors, its
	// tail. Entries added before MaxReferrerAnnotations are cut here too.
	_, _ = fmt.Fprintf(rq.w, `{"schemaVersion":2,"mediaType":%q,"manifests":[`, ocispec.MediaTypeImageIndex)
	for i, desc := range out {
		desc.Annotations = boundAnnotations(desc.Annotations)
		b, err := json.Marshal(desc)
		if err != nil {
			return // cannot happen for a descriptor; the client sees a cut body
		}
		if i > 0 {
			_, _ = rq.w.Write([]byte{','})
		}
		if _, err := rq.w.Write(b); err != nil {
			return // the client went away
		}
	}
	_, _ = rq.w.Write([]byte("]}"))
}
