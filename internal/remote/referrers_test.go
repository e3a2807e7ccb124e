package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func pushAll(t *testing.T, r cas.Pusher, blobs ...[]byte) []ocispec.Descriptor {
	t.Helper()
	var out []ocispec.Descriptor
	for _, b := range blobs {
		d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := r.Push(t.Context(), d, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// referrerOf pushes an artifact manifest whose subject is subject and
// returns its descriptor.
func referrerOf(t *testing.T, r *Repo, subject ocispec.Descriptor, artifactType string) ocispec.Descriptor {
	t.Helper()
	pushAll(t, r, ocispec.DescriptorEmptyJSON.Data)
	layer := pushAll(t, r, []byte(artifactType))[0]
	layer.MediaType = artifactType
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer}, Subject: &subject}
	m.SchemaVersion = 2
	b, _ := json.Marshal(m)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: artifactType}
	if err := r.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return d
}

func subjectImage(t *testing.T, r *Repo) ocispec.Descriptor {
	t.Helper()
	b, desc := castest.Blob(t, 100)
	pushAll(t, r, b)
	mb, mdesc := castest.Manifest(t, desc)
	if err := r.Push(t.Context(), mdesc, bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	return mdesc
}

// TestReferrersAPI lists referrers through gantry's registry, which has the
// referrers API.
func TestReferrersAPI(t *testing.T) {
	reg := newRegistry(t, serve(t, registry.New(memory.New(), registry.Options{})), "")
	r := repoOf(t, reg, "team/app")
	img := subjectImage(t, r)
	sbom := referrerOf(t, r, img, "application/spdx+json")
	sig := referrerOf(t, r, img, "application/vnd.dev.cosign.artifact.sig.v1+json")
	list, err := r.Referrers(t.Context(), img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Digest != sbom.Digest || list[1].Digest != sig.Digest || list[0].ArtifactType != "application/spdx+json" {
		t.Fatalf("Referrers = %+v, want the SBOM and the signature", list)
	}
	if list, err := r.Referrers(t.Context(), digest.FromString("nothing")); err != nil || len(list) != 0 {
		t.Fatalf("Referrers of an unknown subject = %v, %v; want none", list, err)
	}
}

// TestReferrersTagSchema lists referrers through the tag schema of a
// registry without the API (Distribution 2.8): the index tagged
// sha256-HEX lists them.
func TestReferrersTagSchema(t *testing.T) {
	reg := newRegistry(t, startDistribution(t, true), "")
	r := repoOf(t, reg, "team/app")
	img := subjectImage(t, r)
	if list, err := r.Referrers(t.Context(), img.Digest); err != nil || len(list) != 0 {
		t.Fatalf("Referrers before any = %v, %v; want none", list, err)
	}
	sbom := referrerOf(t, r, img, "application/spdx+json")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{sbom}}
	idx.SchemaVersion = 2
	b, _ := json.Marshal(idx)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := r.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(t.Context(), d, "sha256-"+img.Digest.Encoded()); err != nil {
		t.Fatal(err)
	}
	list, err := r.Referrers(t.Context(), img.Digest)
	if err != nil || len(list) != 1 || list[0].Digest != sbom.Digest {
		t.Fatalf("Referrers = %+v, %v; want the SBOM", list, err)
	}
}

// TestReferrersRefused: a registry that answers the referrers route with
// 405 has no referrers to give, rather than failing the caller.
func TestReferrersRefused(t *testing.T) {
	h := registry.New(memory.New(), registry.Options{})
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
	reg := newRegistry(t, serve(t, refuse), "")
	r := repoOf(t, reg, "team/app")
	img := subjectImage(t, r)
	if list, err := r.Referrers(t.Context(), img.Digest); err != nil || len(list) != 0 {
		t.Fatalf("Referrers = %v, %v; want none", list, err)
	}
}
