package bundle

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tarFile is one regular file to write into a tar.
type tarFile struct {
	name string
	data []byte
}

// rewriteTar copies the tar at src into a new file, entry by entry: each
// regular file is replaced by what fn returns for it (nil drops it), so a
// test can plant what a hostile bundle maker would.
func rewriteTar(t testing.TB, src string, fn func(name string, data []byte) []tarFile) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fn(h.Name, data) {
			if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o444, Size: int64(len(f.data))}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(f.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hostile.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// flipped returns data with one byte in the middle changed.
func flipped(data []byte) []byte {
	b := bytes.Clone(data)
	b[len(b)/2] ^= 0x01
	return b
}

// A tar holding two entries of one name is refused at Open, naming the
// entry: tar readers disagree on which copy counts (archive/tar and
// gantry's index took the last, so a corrupt copy followed by a good one
// verified, while tar -x of a volume, or another reader, may keep the
// first).
func TestDuplicateEntries(t *testing.T) {
	_, images, fl := fleet(t, 2, 1, 30000, 10000)
	good, _ := create(t, images, CreateOptions{})
	layer := blobPath(fl[1].Layers[1].Desc.Digest)

	tests := []struct {
		name  string
		entry string // the entry the error must name
		fn    func(name string, data []byte) []tarFile
	}{
		{"corrupt then good blob", layer, func(name string, data []byte) []tarFile {
			if name == layer {
				return []tarFile{{name, flipped(data)}, {name, data}}
			}
			return []tarFile{{name, data}}
		}},
		{"good then corrupt blob", layer, func(name string, data []byte) []tarFile {
			if name == layer {
				return []tarFile{{name, data}, {name, flipped(data)}}
			}
			return []tarFile{{name, data}}
		}},
		{"manifest twice", ManifestName, func(name string, data []byte) []tarFile {
			if name == ManifestName {
				return []tarFile{{name, data}, {name, data}}
			}
			return []tarFile{{name, data}}
		}},
		{"same name spelt with ./", layer, func(name string, data []byte) []tarFile {
			if name == layer {
				return []tarFile{{"./" + name, flipped(data)}, {name, data}}
			}
			return []tarFile{{name, data}}
		}},
		{"same name spelt with a double slash", layer, func(name string, data []byte) []tarFile {
			if name == layer {
				return []tarFile{{strings.Replace(name, "/", "//", 1), flipped(data)}, {name, data}}
			}
			return []tarFile{{name, data}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(rewriteTar(t, good, tc.fn))
			if !errors.Is(err, cas.ErrInvalid) || !strings.Contains(err.Error(), tc.entry) || !strings.Contains(err.Error(), "twice") {
				t.Fatalf("Open: %v; want an error naming %s twice", err, tc.entry)
			}
			t.Log(err)
		})
	}
	t.Run("unchanged", func(t *testing.T) {
		r := open(t, rewriteTar(t, good, func(name string, data []byte) []tarFile { return []tarFile{{name, data}} }))
		if v := verify(t, r); !v.OK() {
			t.Fatal(v.Problems)
		}
	})
}

// servedBundle serves the bundle at path over HTTP as gantry serve
// --bundle does, without verifying it first.
func serveBundle(t *testing.T, path string) (*Reader, *httptest.Server) {
	t.Helper()
	r := open(t, path)
	srv := httptest.NewServer(registry.NewReadOnly(r, registry.Options{}))
	t.Cleanup(srv.Close)
	return r, srv
}

// get fetches url with an optional Range header and returns the status,
// the bytes received and the error reading the body.
func get(t *testing.T, url, rng string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// A blob whose bytes do not match its digest is never served whole: the
// first read breaks off before the last byte, and every later request is
// refused at once. A sound blob is served, and remembered as verified.
func TestServeVerifies(t *testing.T) {
	_, images, fl := fleet(t, 2, 1, 300000, 100000)
	good, _ := create(t, images, CreateOptions{})
	damaged := fl[1].Layers[1].Desc // app1's own layer
	sound := fl[0].Layers[1].Desc   // app0's own layer
	bad := rewriteTar(t, good, func(name string, data []byte) []tarFile {
		if name == blobPath(damaged.Digest) {
			return []tarFile{{name, flipped(data)}}
		}
		return []tarFile{{name, data}}
	})
	url := func(srv *httptest.Server, repo string, d digest.Digest) string {
		return srv.URL + "/v2/registry.example.com/team/" + repo + "/blobs/" + d.String()
	}

	tests := []struct {
		name  string
		first string // the Range of the first request
	}{
		{"whole", ""},
		{"from the start", "bytes=0-"},
		{"a range with the last byte", "bytes=1000-"},
		{"the last byte", "bytes=-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := serveBundle(t, bad)
			code, body, err := get(t, url(srv, "app1", damaged.Digest), tc.first)
			if err == nil && (code == http.StatusOK || code == http.StatusPartialContent) {
				t.Fatalf("first GET: %d with %d bytes and no error: a damaged blob was served", code, len(body))
			}
			if code == http.StatusOK && int64(len(body)) >= damaged.Size {
				t.Fatalf("first GET sent all %d bytes", len(body))
			}
			t.Logf("first GET: %d, %d of %d bytes, %v", code, len(body), damaged.Size, err)
			// Later requests are refused before any byte.
			for _, rng := range []string{"", "bytes=0-10"} {
				code, body, err = get(t, url(srv, "app1", damaged.Digest), rng)
				if err != nil || code != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
					t.Fatalf("later GET %q: %d %s %v, want 400 DIGEST_INVALID", rng, code, body, err)
				}
			}
		})
	}

	t.Run("sound blob", func(t *testing.T) {
		r, srv := serveBundle(t, bad)
		for i := range 2 {
			code, body, err := get(t, url(srv, "app0", sound.Digest), "")
			if err != nil || code != http.StatusOK || digest.FromBytes(body) != sound.Digest {
				t.Fatalf("GET %d: %d, %d bytes, %v", i, code, len(body), err)
			}
			if got := r.verdict(sound.Digest); got != verified {
				t.Fatalf("after GET %d: verdict %v, want verified", i, got)
			}
		}
	})

	t.Run("after Verify", func(t *testing.T) {
		r, srv := serveBundle(t, bad)
		if v := verify(t, r); v.OK() {
			t.Fatal("the damaged bundle verifies")
		}
		code, _, err := get(t, url(srv, "app1", damaged.Digest), "")
		if err != nil || code != http.StatusBadRequest {
			t.Fatalf("GET after Verify: %d %v, want 400", code, err)
		}
		if got := r.verdict(sound.Digest); got != verified {
			t.Fatalf("Verify left the sound layer %v", got)
		}
	})
}

// manyVolumes writes a bundle whose manifest lists n volumes and n blobs,
// one in each, and one image that needs them all; only volume 1 is
// written. A hostile or broken bundle costs what it lists: the checks that
// relate volumes, blobs and images must stay linear in it.
func manyVolumes(t testing.TB, n int) string {
	t.Helper()
	m := Manifest{FormatVersion: FormatVersion, ID: digest.FromString("many"), Volume: 1}
	img := ImageEntry{Name: "registry.example.com/team/app:1", MediaType: ocispec.MediaTypeImageManifest, Size: 1}
	for i := range n {
		d := digest.FromString(fmt.Sprint(i))
		m.Volumes = append(m.Volumes, VolumeEntry{Number: i + 1, Name: fmt.Sprintf("v%d.tar", i+1), Blobs: 1, Bytes: 1})
		m.Blobs = append(m.Blobs, BlobEntry{Digest: d, Size: 1, MediaType: ocispec.MediaTypeImageLayer, Volume: i + 1})
		img.Blobs = append(img.Blobs, d)
	}
	img.Digest = img.Blobs[n-1]
	m.Images = []ImageEntry{img}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range []tarFile{
		{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{ocispec.ImageIndexFile, []byte(`{"schemaVersion":2,"manifests":[]}`)},
		{ManifestName, mb},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o444, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "many.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Open, Missing and Verify of a bundle listing 40,000 volumes take time
// linear in what it lists: about 0.5 s, where they took minutes when they
// were quadratic. The bound is loose (the race detector slows them several
// times, and tests run side by side); BenchmarkManyVolumes gives the
// figure.
func TestManyVolumesLinear(t *testing.T) {
	const n = 40000
	bound := 10 * time.Second
	if raceEnabled {
		bound = time.Minute
	}
	p := manyVolumes(t, n)
	start := time.Now()
	r := open(t, p)
	if got := len(r.Missing()); got != n-1 {
		t.Fatalf("%d volumes missing, want %d", got, n-1)
	}
	v := verify(t, r)
	if v.OK() || v.Images[0].Complete {
		t.Fatal("a bundle missing its volumes verifies")
	}
	if took := time.Since(start); took > bound {
		t.Fatalf("Open, Missing and Verify of %d volumes took %s", n, took)
	}
}

// BenchmarkManyVolumes opens and verifies a bundle listing 40,000 volumes
// (one given) and 40,000 blobs: what gantry bundle verify and serve
// --bundle do before anything else.
func BenchmarkManyVolumes(b *testing.B) {
	p := manyVolumes(b, 40000)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Missing()
		if _, err := r.Verify(b.Context()); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
