package registry

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrers answers GET /v2/<name>/referrers/<digest>[?artifactType=T]:
// an image index of the manifests whose subject is digest, from the
// store's cas.ReferrerIndex. An unknown subject has an empty list (200), as
// the spec requires. A store without an index answers 404, which clients
// read as "no referrers API: use the tag schema".
func (rq *request) referrers() {
	ctx := rq.r.Context()
	d, ae := parseDigest(rq.ref)
	if ae != nil {
		rq.fail(ae, kindBlob)
		return
	}
	ri, ok := rq.repo.(cas.ReferrerIndex)
	if !ok {
		rq.fail(newError(CodeUnsupported, "this store keeps no referrers index").withStatus(http.StatusNotFound), kindRegistry)
		return
	}
	list, err := ri.Referrers(ctx, d)
	if err != nil {
		rq.fail(err, kindRegistry)
		return
	}
	types := rq.r.URL.Query()["artifactType"]
	out := make([]ocispec.Descriptor, 0, len(list))
	for _, desc := range list {
		if len(types) > 0 && !slices.Contains(types, desc.ArtifactType) {
			continue
		}
		// A referrer deleted through the blob API left its entry
		// behind; do not list what cannot be fetched.
		if ok, err := rq.repo.Exists(ctx, desc); err == nil && !ok {
			continue
		}
		out = append(out, desc)
	}
	if len(types) > 0 {
		rq.w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	b, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: out,
	})
	rq.w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	rq.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rq.w.WriteHeader(http.StatusOK)
	_, _ = rq.w.Write(b)
}
