package remote

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
)

// Registries keep blobs per repository and a registry client keeps no
// state, so Reopen is a new client of the same registry.
// Untag is skipped by the suite: Repo does not implement cas.Untagger.

// distributionLimits are the subtests Distribution 2.8 cannot pass.
var distributionLimits = map[string]string{
	// Distribution 2.8 accepts a sha512 upload but stores and answers it
	// under the sha256 of the bytes (Docker-Content-Digest: sha256:...), so
	// the content is never present under its sha512 digest. Push reports
	// that as ErrDigestMismatch instead of pretending it worked.
	"SHA512": "Distribution 2.8 stores sha512 uploads under their sha256 digest",
	// Distribution 2.8 walks and removes tag directories one by one while
	// a PUT writes them: a manifest DELETE racing a tag move answers 404
	// or 500 (seen: "unlinkat .../_manifests/tags/move1/index: directory
	// not empty").
	"DeleteRacesTag": "Distribution 2.8's manifest DELETE fails when a tag moves at the same time",
	// Distribution 2.8 answers GET /manifests/<digest> for any blob of the
	// repository that parses as a manifest, however it entered.
	"ManifestThroughBlobAPI": "Distribution 2.8 serves manifest bytes pushed through the blob API as a manifest",
}

// ggcrLimits are the subtests go-containerregistry's registry cannot pass.
var ggcrLimits = map[string]string{
	// Its blob DELETE answers 500 ("internal server error: not found") for
	// an absent blob instead of 404 BLOB_UNKNOWN, so the second Delete
	// cannot be told from a server fault. The first Delete works.
	"Delete": "go-containerregistry's registry answers 500, not 404, to a DELETE of an absent blob",
	// Its in-memory registry keeps one blob map for every repository and
	// mounts without checking the source; a manifest DELETE leaves the
	// tags that point at it.
	"RepositoryScoping": "go-containerregistry's registry serves every blob from every repository",
	"MountScoped":       "go-containerregistry's registry mounts blobs from repositories that do not hold them",
	"DeleteScoped":      "go-containerregistry's registry shares blobs between repositories",
	"DeleteUntags":      "go-containerregistry's registry keeps the tags of a deleted manifest",
	"DeleteRacesTag":    "go-containerregistry's registry keeps the tags of a deleted manifest",
}

// skipLimits skips the castest subtest running in t if limits names it.
func skipLimits(t *testing.T, limits map[string]string) {
	t.Helper()
	sub := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
	if why, ok := limits[sub]; ok {
		t.Skip(why)
	}
}

func reopen(t *testing.T, s cas.Store) cas.Store {
	return newRegistry(t, s.(*Registry).host, "")
}

func TestConformanceDistribution(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store {
			skipLimits(t, distributionLimits)
			return newRegistry(t, startDistribution(t, true), "")
		},
		Reopen: reopen,
	})
}

func TestConformanceGGCR(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store {
			skipLimits(t, ggcrLimits)
			return newRegistry(t, serve(t, newGGCR()), "")
		},
		Reopen: reopen,
	})
}
