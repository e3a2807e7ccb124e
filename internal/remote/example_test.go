package remote_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/remote"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A registry is a cas.Store: push content, tag a manifest, resolve the tag.
func Example() {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ctx := context.Background()

	reg, err := remote.New(strings.TrimPrefix(srv.URL, "http://"), remote.Options{}) // loopback: plain HTTP
	if err != nil {
		log.Fatal(err)
	}
	repo, err := reg.Repository(ctx, "example/hello")
	if err != nil {
		log.Fatal(err)
	}
	push := func(mediaType string, b []byte) ocispec.Descriptor {
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := repo.Push(ctx, desc, bytes.NewReader(b)); err != nil {
			log.Fatal(err)
		}
		return desc
	}
	config := push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	manifest := push(ocispec.MediaTypeImageManifest, fmt.Appendf(nil,
		`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
		ocispec.MediaTypeImageManifest, config.MediaType, config.Digest, config.Size))
	if err := repo.Tag(ctx, manifest, "v1"); err != nil {
		log.Fatal(err)
	}

	got, err := repo.Resolve(ctx, "v1")
	if err != nil {
		log.Fatal(err)
	}
	b, err := cas.FetchAll(ctx, repo, got, 0) // fetched and verified
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.MediaType, got.Digest == manifest.Digest, len(b) == int(manifest.Size))
	// Output: application/vnd.oci.image.manifest.v1+json true true
}
