package registry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// remoteClient returns gantry's registry client of a server over s.
func remoteClient(t *testing.T, s cas.Store, opts registry.Options) *remote.Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(s, opts))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	r, err := remote.New(u.Host, remote.Options{DockerConfig: filepath.Join(t.TempDir(), "absent.json")})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCASOverTheWire runs the cas conformance suite through gantry's
// client against the handler over a memory store: every cas sentinel the
// suite expects must survive the trip through the error table and the
// client's mirror of it.
func TestCASOverTheWire(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(t *testing.T) cas.Store { return remoteClient(t, memory.New(), registry.Options{}) },
	})
}

// TestErrorTableMirrorsClient checks each sentinel the handler can send
// against what the client makes of it.
func TestErrorTableMirrorsClient(t *testing.T) {
	ctx := t.Context()
	reg := remoteClient(t, memory.New(), registry.Options{})
	repo, err := reg.Repository(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("hello")
	good := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: 5}
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"missing blob", func() error { _, err := repo.Fetch(ctx, good); return err }, cas.ErrNotFound},
		{"missing tag", func() error { _, err := repo.Resolve(ctx, "absent"); return err }, cas.ErrNotFound},
		{"wrong digest", func() error {
			bad := good
			bad.Digest = digest.FromString("other")
			return repo.Push(ctx, bad, strings.NewReader("hello"))
		}, cas.ErrDigestMismatch},
		{"missing child", func() error {
			m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest.FromString("x").String() + `","size":1},"layers":[]}`)
			return repo.Push(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}, strings.NewReader(string(m)))
		}, cas.ErrNotFound},
		{"invalid manifest", func() error {
			m := []byte(`{"schemaVersion":3}`)
			return repo.Push(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}, strings.NewReader(string(m)))
		}, cas.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want errors.Is %v", err, tc.want)
			}
		})
	}
}

// readFromRecorder records the reader net/http would hand to sendfile.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	src io.Reader
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.src = src
	return io.Copy(r.ResponseRecorder, src)
}

// TestBlobGetZeroCopy checks that a blob GET over the disk store reaches
// the ResponseWriter's ReadFrom with the blob's *os.File (inside the
// io.LimitedReader that sendfile accepts), for whole blobs and ranges: any
// other reader would make net/http copy through user space.
func TestBlobGetZeroCopy(t *testing.T) {
	s, err := disk.Open(t.TempDir(), disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	repo, _ := s.Repository(t.Context(), "r")
	b := randomBytes(1 << 20)
	desc := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := repo.Push(t.Context(), desc, strings.NewReader(string(b))); err != nil {
		t.Fatal(err)
	}
	h := registry.New(s, registry.Options{})
	for _, rng := range []string{"", "bytes=1000-"} {
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", "/v2/r/blobs/"+desc.Digest.String(), nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusPartialContent {
			t.Fatalf("Range %q: status %d", rng, rec.Code)
		}
		lr, ok := rec.src.(*io.LimitedReader)
		if !ok {
			t.Fatalf("Range %q: ReadFrom got %T, want *io.LimitedReader", rng, rec.src)
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Errorf("Range %q: ReadFrom got a LimitedReader over %T, want *os.File", rng, lr.R)
		}
		want := b
		if rng != "" {
			want = b[1000:]
		}
		if rec.Body.Len() != len(want) || rec.Body.String() != string(want) {
			t.Errorf("Range %q: body of %d bytes, want %d", rng, rec.Body.Len(), len(want))
		}
	}
}

// BenchmarkBlobGet measures a 64 MiB blob GET over loopback from the disk
// store; with sendfile the server's CPU per GiB is a small fraction of a
// user-space copy's.
func BenchmarkBlobGet(b *testing.B) {
	s, err := disk.Open(b.TempDir(), disk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	repo, _ := s.Repository(b.Context(), "r")
	data := randomBytes(64 << 20)
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.Push(b.Context(), desc, strings.NewReader(string(data))); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(s, registry.Options{}))
	defer srv.Close()
	u := srv.URL + "/v2/r/blobs/" + desc.Digest.String()
	b.SetBytes(desc.Size)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
