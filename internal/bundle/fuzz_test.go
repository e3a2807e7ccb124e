package bundle

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/trust"
)

// The seed corpus lives in testdata/fuzz/FuzzOpen/: small bundles, whole,
// truncated and split, one with a damaged layer, and ones holding an entry
// twice. GANTRY_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds
// rewrites it.

// FuzzOpen feeds arbitrary files to Open (tar indexing and manifest
// parsing) and, when they open, to Verify and the read-only targets: no
// input may panic, a bundle that verifies serves its images' manifests,
// and no blob is ever read whole from Fetch unless its bytes match its
// digest, whether or not Verify ran first.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("not a tar"))
	key := fuzzKey(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "b.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			return
		}
		defer r.Close()
		fetchAll(t, r) // before Verify: Fetch checks as it reads
		_ = r.Missing()
		v, err := r.Verify(t.Context())
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		_ = InventoryOf(r)
		_ = Diff(r, r)
		for i, img := range r.Images() {
			tgt, err := r.Repository(t.Context(), img.Repository())
			if err != nil {
				continue
			}
			desc, err := tgt.Resolve(t.Context(), img.Digest.String())
			if err != nil {
				continue
			}
			b, err := cas.FetchAll(t.Context(), tgt, desc, oci.MaxManifestSize)
			if v.OK() && len(r.Missing()) == 0 && v.Images[i].Complete && err != nil {
				t.Fatalf("bundle verifies but %s's root does not fetch: %v", img.Name, err)
			}
			_ = b
		}
		fetchAll(t, r) // after Verify: from its verdicts
		// Signatures: the seed "signed-referrers" is signed, and its
		// image too, with this key.
		if _, err := r.VerifySignatures(t.Context(), SignatureOptions{Key: key.Public(), RequireSignature: true}); err != nil {
			t.Fatalf("VerifySignatures: %v", err)
		}
	})
}

// fuzzKey is the key of testdata/test-signing.key, which signed the seed
// "signed-referrers" (a key for tests only).
func fuzzKey(t testing.TB) *trust.PrivateKey {
	t.Helper()
	k, err := trust.LoadPrivateKey(filepath.Join("testdata", "test-signing.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fetchAll reads every blob the bundle's images need through their
// repositories' Fetch and fails when one reads to the end without error
// but does not match its digest.
func fetchAll(t *testing.T, r *Reader) {
	t.Helper()
	for _, img := range r.Images() {
		tgt, err := r.Repository(t.Context(), img.Repository())
		if err != nil {
			continue
		}
		for _, d := range img.Blobs {
			b, ok := r.blobs[d]
			if !ok {
				continue
			}
			rc, err := tgt.Fetch(t.Context(), b.desc())
			if err != nil {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(rc, b.Size+1))
			rc.Close()
			if err == nil && (int64(len(data)) != b.Size || d.Algorithm().FromBytes(data) != d) {
				t.Fatalf("%s: Fetch gave %d bytes hashing to %s without error", d, len(data), d.Algorithm().FromBytes(data))
			}
		}
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GANTRY_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set GANTRY_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzOpen")
	}
	_, images, fl := fleet(t, 2, 1, 300, 200)
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := func(name, path string, cut int) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if cut > 0 {
			b = b[:cut]
		}
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	whole, _ := create(t, images, CreateOptions{})
	seed("whole", whole, 0)
	writeTrustSeed(t, seed)
	st, _ := os.Stat(whole)
	seed("truncated", whole, int(st.Size()*3/4))
	_, split, _ := fleet(t, 3, 1, 6000, 6000)
	_, rep := create(t, split, CreateOptions{Split: 22000})
	if len(rep.Files) < 2 {
		t.Fatalf("%d volumes", len(rep.Files))
	}
	seed("volume1", rep.Files[0], 0)
	seed("volume2", rep.Files[len(rep.Files)-1], 0)

	// A damaged layer, and entries twice: a damaged copy shadowed by a
	// good one (the last one won, and verified), and the manifest.
	layer := blobPath(fl[1].Layers[1].Desc.Digest)
	rewritten := func(name string, fn func(tarFile) []tarFile) {
		seed(name, rewriteTar(t, whole, func(name string, data []byte) []tarFile {
			return fn(tarFile{name, data})
		}), 0)
	}
	rewritten("damaged", func(f tarFile) []tarFile {
		if f.name == layer {
			return []tarFile{{f.name, flipped(f.data)}}
		}
		return []tarFile{f}
	})
	rewritten("duplicate-blob", func(f tarFile) []tarFile {
		if f.name == layer {
			return []tarFile{{f.name, flipped(f.data)}, f}
		}
		return []tarFile{f}
	})
	rewritten("duplicate-manifest", func(f tarFile) []tarFile {
		if f.name == ManifestName {
			return []tarFile{f, f}
		}
		return []tarFile{f}
	})
}

// writeTrustSeed writes the seed "signed-referrers": a bundle signed with
// fuzzKey whose image carries a cosign signature by it and an SBOM.
func writeTrustSeed(t *testing.T, seed func(name, path string, cut int)) {
	key := fuzzKey(t)
	_, images, fl := fleet(t, 1, 1, 300, 200)
	src := images[0].Source.(cas.Target)
	cosignSign(t, src, fl[0].ManifestDesc.Digest, fl[0].ManifestDesc.Digest, key, nil)
	attachSBOM(t, src, fl[0].ManifestDesc)
	signed, _ := create(t, images, CreateOptions{SignKey: key})
	seed("signed-referrers", signed, 0)
}

func TestWriteTrustFuzzSeed(t *testing.T) {
	if os.Getenv("GANTRY_WRITE_TRUST_SEED") == "" {
		t.Skip("set GANTRY_WRITE_TRUST_SEED=1 to rewrite testdata/fuzz/FuzzOpen/signed-referrers alone")
	}
	writeTrustSeed(t, func(name, path string, _ int) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzOpen", name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}
