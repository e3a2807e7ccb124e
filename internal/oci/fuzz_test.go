package oci

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/.

// FuzzParseImageRef checks that the reference parser never panics and that
// whatever it accepts prints back to a reference that parses to the same
// value.
func FuzzParseImageRef(f *testing.F) {
	for _, s := range []string{"localhost:5000/app:1", "oci:d:app@" + d256, "docker://h.io/a/b:c", "a:b", "oci:x:y:z:w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseImageRef(s)
		if err != nil {
			return
		}
		again, err := ParseImageRef(r.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q fails: %v", s, r, r.String(), err)
		}
		if again != r {
			t.Fatalf("%q: %+v then %+v", s, r, again)
		}
		if r.Repository == "" || (r.Tag == "" && r.Digest == "") {
			t.Fatalf("%q accepted without repository or reference: %+v", s, r)
		}
	})
}

// FuzzValidateDigest checks that an accepted digest can be used to hash.
func FuzzValidateDigest(f *testing.F) {
	for _, s := range []string{d256, "sha512:" + digest.SHA512.FromString("x").Encoded(), "sha256:abc", "md5:00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := digest.Digest(s)
		if cas.ValidateDigest(d) != nil {
			return
		}
		if got := d.Algorithm().FromString("x"); got.Algorithm() != d.Algorithm() || len(got.Encoded()) != len(d.Encoded()) {
			t.Fatalf("accepted %q but hashing gives %q", s, got)
		}
	})
}

// FuzzParseManifest checks that the manifest parser never panics and that
// what it accepts is consistent.
func FuzzParseManifest(f *testing.F) {
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":`+cfg+`,"layers":[`+layer+`]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, mt string, data []byte) {
		m, err := ParseManifest(ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, data)
		if err != nil {
			return
		}
		if !IsManifest(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		for _, c := range m.Children() {
			if cas.ValidateDescriptor(c) != nil {
				t.Fatalf("accepted a bad child %+v", c)
			}
		}
	})
}

// FuzzSiteRepository checks that a site repository is always a valid
// repository name, whatever name it is made from, and that keeping the
// host never merges names that differ only by their host.
func FuzzSiteRepository(f *testing.F) {
	for _, s := range []string{"registry.local:5000/apps/api", "docker.io/library/nginx", "[::1]:5000/app", "team/app", "A.b:1/x"} {
		f.Add(s, "other.io:5000")
	}
	f.Fuzz(func(t *testing.T, name, otherHost string) {
		for _, keep := range []bool{false, true} {
			site, err := SiteRepository(name, keep)
			if err != nil {
				continue
			}
			if err := ValidateRepository(site); err != nil {
				t.Fatalf("SiteRepository(%q, %v) = %q, not a repository name: %v", name, keep, site, err)
			}
			if err := ValidateLayoutRepository(site); err != nil {
				t.Fatalf("SiteRepository(%q, %v) = %q, refused by a layout: %v", name, keep, site, err)
			}
		}
		host, path := SplitRepositoryHost(name)
		oh, _ := SplitRepositoryHost(otherHost + "/x")
		if host == "" || oh == "" || strings.EqualFold(host, oh) {
			return
		}
		a, errA := SiteRepository(name, true)
		b, errB := SiteRepository(otherHost+"/"+path, true)
		if errA == nil && errB == nil && a == b && !ipv6Spelling(host, oh) {
			t.Fatalf("hosts %q and %q both give %q", host, otherHost, a)
		}
	})
}

// ipv6Spelling reports whether one of two hosts is an IPv6 address, whose
// written-out form a DNS name may spell (the documented exception).
func ipv6Spelling(a, b string) bool {
	return strings.HasPrefix(a, "[") || strings.HasPrefix(b, "[")
}
