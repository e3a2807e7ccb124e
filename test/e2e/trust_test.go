package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// The trust test signs an image with the real cosign and attaches an SBOM
// with the real oras, in a gantry serve registry; bundles it with gantry;
// checks the signatures offline with bundle verify --key; pushes the bundle
// to a second gantry serve (the site); and checks there with cosign verify
// and oras discover that the signature and the SBOM came along.

// pushImage puts img into s as repo:1 with gantry copy and returns its
// reference by digest.
func pushImage(t *testing.T, s *server, repo string, img testimage.Image) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	layoutWith(t, src, map[string]testimage.Image{"x:1": img})
	mustGantry(t, "copy", "-q", "oci:"+src+":x:1", s.Addr+"/"+repo+":1")
	return s.Addr + "/" + repo + "@" + img.ManifestDesc.Digest.String()
}

// tamperSignature flips a bit of the signature cosign stored for the image
// dgst in repo of s, in place under its tag: what an attacker who can
// write to the registry, but has not the key, can do.
func tamperSignature(t *testing.T, s *server, repo, dgst string) {
	t.Helper()
	tag := strings.Replace(dgst, ":", "-", 1) + ".sig"
	url := s.URL("/v2/" + repo + "/manifests/" + tag)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	ann := m["layers"].([]any)[0].(map[string]any)["annotations"].(map[string]any)
	sig, err := base64.StdEncoding.DecodeString(ann["dev.cosignproject.cosign/signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-2] ^= 1
	ann["dev.cosignproject.cosign/signature"] = base64.StdEncoding.EncodeToString(sig)
	body, _ = json.Marshal(m)
	req, _ = http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

func TestBundleCarriesTrust(t *testing.T) {
	requireBundleCreate(t)
	cosign, oras := testenv.GoTool(t, "cosign"), testenv.GoTool(t, "oras")
	t.Setenv("COSIGN_PASSWORD", "")
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	must(t, cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign"))
	must(t, cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "other"))
	otherPub := filepath.Join(dir, "other.pub")

	src, site := startServer(t, t.TempDir()), startServer(t, t.TempDir())
	imgs := fleetImages(t, 4, 64<<10, 16<<10, 31)
	signed := pushImage(t, src, "demo/signed", imgs[0])
	pushImage(t, src, "demo/unsigned", imgs[1])
	tampered := pushImage(t, src, "demo/tampered", imgs[2])
	// cosign's OCI 1.1 mode: the signature is a referrer, with no tag.
	referred := pushImage(t, src, "demo/referred", imgs[3])
	t.Setenv("COSIGN_EXPERIMENTAL", "1")
	must(t, cosign, "sign", "--yes", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", "--registry-referrers-mode=oci-1-1", referred)
	must(t, cosign, "sign", "--yes", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", signed)
	must(t, cosign, "sign", "--yes", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", tampered)
	tamperSignature(t, src, "demo/tampered", imgs[2].ManifestDesc.Digest.String())
	sbom := filepath.Join(dir, "sbom.spdx.json")
	if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","name":"demo/signed"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, oras, "attach", "--plain-http", "--disable-path-validation", "--artifact-type", "application/spdx+json", signed, sbom)

	// A signed bundle of the signed image: its signature and SBOM come
	// along, and verify offline.
	b := filepath.Join(dir, "signed.tar")
	createBundle(t, b, "--insecure", "--sign-key", key, src.Addr+"/demo/signed:1", src.Addr+"/demo/referred:1")
	r := mustGantry(t, "bundle", "verify", "--key", pub, "--require-signature", b)
	for _, want := range []string{"2 of 2 images complete (with 3 referrers)", "bundle verified; 2 of 2 images signed"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("bundle verify said %q, want %q", r.Stdout, want)
		}
	}
	if r := gantry(t, "bundle", "verify", "--key", otherPub, b); r.Code != 1 || !strings.Contains(r.Stderr, "bundle-signature") {
		t.Errorf("bundle verify with another key: exit %d, %s; want the bundle's signature refused", r.Code, r.Stderr)
	}

	// At the site: pushed with the same checks, then cosign and oras find
	// what they found at the source.
	mustGantry(t, "bundle", "push", "-q", "--key", pub, "--require-signature", b, "--to", site.Addr, "--insecure")
	atSite := site.Addr + "/demo/signed@" + imgs[0].ManifestDesc.Digest.String()
	must(t, cosign, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", atSite)
	if r := testenv.Run(t, timeout, cosign, "verify", "--key", otherPub, "--insecure-ignore-tlog", "--allow-insecure-registry", atSite); r.Code == 0 {
		t.Errorf("cosign verify with another key passed at the site")
	}
	if r := must(t, oras, "discover", "--plain-http", atSite); !strings.Contains(r.Stdout, "application/spdx+json") {
		t.Errorf("oras discover at the site does not list the SBOM:\n%s", r.Stdout)
	}

	// Loaded into gantry's store and served from it: the same. The copy
	// engine indexed the SBOM under its subject as it wrote it.
	loaded := filepath.Join(dir, "loaded")
	mustGantry(t, "bundle", "load", "-q", "--key", pub, "--require-signature", b, "--root", loaded)
	served := startServer(t, loaded)
	atServed := served.Addr + "/demo/signed@" + imgs[0].ManifestDesc.Digest.String()
	must(t, cosign, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", atServed)
	if r := must(t, oras, "discover", "--plain-http", atServed); !strings.Contains(r.Stdout, "application/spdx+json") {
		t.Errorf("oras discover of the loaded store does not list the SBOM:\n%s", r.Stdout)
	}

	// Served in place: the bundle answers the referrers API itself.
	inPlace := launchServer(t, t.TempDir(), "--bundle", b)
	defer inPlace.Kill() // nothing to flush: it serves the file as it is
	atInPlace := inPlace.Addr + "/demo/signed@" + imgs[0].ManifestDesc.Digest.String()
	must(t, cosign, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", atInPlace)
	if r := must(t, oras, "discover", "--plain-http", atInPlace); !strings.Contains(r.Stdout, "application/spdx+json") {
		t.Errorf("oras discover of serve --bundle does not list the SBOM:\n%s", r.Stdout)
	}

	// An unsigned image is refused by --require-signature, before
	// anything is written.
	bu := filepath.Join(dir, "unsigned.tar")
	createBundle(t, bu, "--insecure", src.Addr+"/demo/unsigned:1")
	if r := gantry(t, "bundle", "verify", "--key", pub, "--require-signature", bu); r.Code != 1 || !strings.Contains(r.Stderr, "unsigned") {
		t.Errorf("verify --require-signature of an unsigned image: exit %d, %s", r.Code, r.Stderr)
	}
	mustGantry(t, "bundle", "verify", "--key", pub, bu) // signatures checked when present only
	if r := gantry(t, "bundle", "push", "--key", pub, "--require-signature", bu, "--to", site.Addr, "--insecure"); r.Code == 0 || !strings.Contains(r.Stderr, "nothing written") {
		t.Errorf("push --require-signature of an unsigned image: exit %d, %s", r.Code, r.Stderr)
	}
	loadRoot := filepath.Join(dir, "store")
	if r := gantry(t, "bundle", "load", "--key", pub, "--require-signature", bu, "--root", loadRoot); r.Code == 0 || !strings.Contains(r.Stderr, "unsigned") {
		t.Errorf("load --require-signature of an unsigned image: exit %d, %s", r.Code, r.Stderr)
	}
	if slices.Contains(catalog(t, site.Addr), "demo/unsigned") {
		t.Errorf("the refused image reached the site")
	}

	// A tampered signature is refused, even without --require-signature.
	bt := filepath.Join(dir, "tampered.tar")
	createBundle(t, bt, "--insecure", src.Addr+"/demo/tampered:1")
	if r := gantry(t, "bundle", "verify", "--key", pub, bt); r.Code != 1 || !strings.Contains(r.Stderr, "bad-signature") {
		t.Errorf("verify of a tampered signature: exit %d, %s", r.Code, r.Stderr)
	}
	if r := gantry(t, "bundle", "push", "--key", pub, bt, "--to", site.Addr, "--insecure"); r.Code == 0 || !strings.Contains(r.Stderr, "signature does not verify") {
		t.Errorf("push of a tampered signature: exit %d, %s", r.Code, r.Stderr)
	}

	// --no-referrers leaves the signature and the SBOM out.
	bn := filepath.Join(dir, "bare.tar")
	createBundle(t, bn, "--insecure", "--no-referrers", src.Addr+"/demo/signed:1")
	var ins struct {
		Manifest struct {
			Images []struct{ Name, Subject string }
		}
	}
	if err := json.Unmarshal([]byte(mustGantry(t, "bundle", "inspect", "--json", bn).Stdout), &ins); err != nil {
		t.Fatal(err)
	}
	if n := len(ins.Manifest.Images); n != 1 {
		t.Errorf("--no-referrers: the bundle holds %d entries, want the image alone: %+v", n, ins.Manifest.Images)
	}
	if r := gantry(t, "bundle", "verify", "--key", pub, "--require-signature", bn); r.Code != 1 || !strings.Contains(r.Stderr, "unsigned") {
		t.Errorf("verify --require-signature of a bundle made --no-referrers: exit %d, %s", r.Code, r.Stderr)
	}
}

// writeSigningPKI writes, under dir, a CA (ca.pem) and a code-signing
// certificate for a fresh key (signer.pem, signer.key as PKCS #8) naming
// release@example.com and the OIDC issuer https://issuer.example.com in
// Fulcio's extension, as one's own PKI would for "cosign sign
// --certificate".
func writeSigningPKI(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gantry e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "release"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		EmailAddresses: []string{"release@example.com"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte("https://issuer.example.com")}}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, b := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "signer.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"signer.key": {Type: "PRIVATE KEY", Bytes: pk8},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBundleCertificateSignatures: an image signed by cosign with a
// certificate of one's own CA (cosign sign --certificate) verifies offline
// with bundle verify --certificate-chain --certificate-identity, is
// refused for another identity, and cosign verifies it at the site.
func TestBundleCertificateSignatures(t *testing.T) {
	requireBundleCreate(t)
	cosign := testenv.GoTool(t, "cosign")
	t.Setenv("COSIGN_PASSWORD", "")
	dir := t.TempDir()
	writeSigningPKI(t, dir)
	must(t, cosign, "import-key-pair", "--key", filepath.Join(dir, "signer.key"), "--output-key-prefix", filepath.Join(dir, "signer-cosign"))
	ca := filepath.Join(dir, "ca.pem")

	src, site := startServer(t, t.TempDir()), startServer(t, t.TempDir())
	imgs := fleetImages(t, 1, 64<<10, 16<<10, 37)
	ref := pushImage(t, src, "demo/certified", imgs[0])
	must(t, cosign, "sign", "--yes", "--key", filepath.Join(dir, "signer-cosign.key"), "--certificate", filepath.Join(dir, "signer.pem"),
		"--certificate-chain", ca, "--tlog-upload=false", "--allow-insecure-registry", ref)

	b := filepath.Join(dir, "certified.tar")
	createBundle(t, b, "--insecure", src.Addr+"/demo/certified:1")
	certFlags := []string{"--certificate-chain", ca, "--certificate-oidc-issuer", "https://issuer.example.com"}
	r := mustGantry(t, append([]string{"bundle", "verify", "--require-signature", "--certificate-identity", "release@example.com", b}, certFlags...)...)
	if !strings.Contains(r.Stdout, "1 of 1 image signed") {
		t.Errorf("bundle verify said %q, want the image signed", r.Stdout)
	}
	if r := gantry(t, append([]string{"bundle", "verify", "--certificate-identity", "intruder@example.com", b}, certFlags...)...); r.Code != 1 || !strings.Contains(r.Stderr, "not intruder@example.com") {
		t.Errorf("bundle verify for another identity: exit %d, %s", r.Code, r.Stderr)
	}
	mustGantry(t, append([]string{"bundle", "push", "-q", "--require-signature", "--certificate-identity", "release@example.com", b, "--to", site.Addr, "--insecure"}, certFlags...)...)
	must(t, cosign, "verify", "--certificate-identity", "release@example.com", "--certificate-oidc-issuer", "https://issuer.example.com",
		"--certificate-chain", ca, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--allow-insecure-registry",
		site.Addr+"/demo/certified@"+imgs[0].ManifestDesc.Digest.String())
}
