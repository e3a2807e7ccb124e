package oci

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/google/go-cmp/cmp"
)

const d256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestParseImageRef(t *testing.T) {
	tests := []struct {
		in   string
		want ImageRef
	}{
		{"localhost:5000/app:1.0", ImageRef{Transport: "docker", Registry: "localhost:5000", Repository: "app", Tag: "1.0"}},
		{"docker://localhost:5000/team/app:1.0", ImageRef{Transport: "docker", Registry: "localhost:5000", Repository: "team/app", Tag: "1.0"}},
		{"127.0.0.1:5000/app", ImageRef{Transport: "docker", Registry: "127.0.0.1:5000", Repository: "app", Tag: "latest"}},
		{"registry.example.com/a/b@" + d256, ImageRef{Transport: "docker", Registry: "registry.example.com", Repository: "a/b", Digest: d256}},
		{"reg.io/a:v1@" + d256, ImageRef{Transport: "docker", Registry: "reg.io", Repository: "a", Tag: "v1", Digest: d256}},
		{"myhost:5000/app:2", ImageRef{Transport: "docker", Registry: "myhost:5000", Repository: "app", Tag: "2"}},
		{"oci:/var/lib/gantry:library/alpine:3.19", ImageRef{Transport: "oci", Dir: "/var/lib/gantry", Repository: "library/alpine", Tag: "3.19"}},
		{"oci:store:app@" + d256, ImageRef{Transport: "oci", Dir: "store", Repository: "app", Digest: d256}},
		{"oci:store:app", ImageRef{Transport: "oci", Dir: "store", Repository: "app", Tag: "latest"}},
		{"oci:store:localhost:5000/app:1", ImageRef{Transport: "oci", Dir: "store", Repository: "localhost:5000/app", Tag: "1"}},
		// Docker Hub names, as docker, containerd, skopeo and crane read them.
		{"busybox:1.36", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/busybox", Tag: "1.36"}},
		{"nginx", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/nginx", Tag: "latest"}},
		{"docker://busybox", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/busybox", Tag: "latest"}},
		{"docker.io/library/busybox:1.36", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/busybox", Tag: "1.36"}},
		{"docker.io/busybox", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/busybox", Tag: "latest"}},
		{"docker.io/x/y:1", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "x/y", Tag: "1"}},
		{"index.docker.io/x/y:1", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "x/y", Tag: "1"}},
		{"registry-1.docker.io/alpine", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/alpine", Tag: "latest"}},
		{"bitnami/redis:7", ImageRef{Transport: "docker", Registry: "docker.io", Repository: "bitnami/redis", Tag: "7"}},
		{"nginx:1.25@" + d256, ImageRef{Transport: "docker", Registry: "docker.io", Repository: "library/nginx", Tag: "1.25", Digest: d256}},
		{"localhost/app:1", ImageRef{Transport: "docker", Registry: "localhost", Repository: "app", Tag: "1"}},
		{"[::1]:5000/app:1", ImageRef{Transport: "docker", Registry: "[::1]:5000", Repository: "app", Tag: "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseImageRef(tc.in)
			if err != nil {
				t.Fatalf("ParseImageRef(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ParseImageRef(%q) (-want +got):\n%s", tc.in, diff)
			}
			again, err := ParseImageRef(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q via %q: %+v, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func TestParseImageRefErrors(t *testing.T) {
	tests := []struct{ in, mention string }{
		{"", "empty"},
		{" ", "empty"},
		{"Nginx", "lowercase"},
		{"a b", "invalid reference format"},
		{"docker-archive:/tmp/x.tar", "only as a source"},
		{"oci-archive:/tmp/x.tar:app", "not supported yet"},
		{"containers-storage:app", "skopeo copy containers-storage:app oci:DIR"},
		{"s3://bucket/x", "unknown transport"},
		{"oci:", "no directory"},
		{"oci:dir", "no image"},
		{"oci:dir:", "no image"},
		{"localhost:5000/App:1", "invalid"},
		{"localhost:5000/app:-bad", "invalid reference format"},
		{"localhost:5000/app@sha256:abc", "invalid reference format"},
		{"nginx@sha256:abc", "invalid reference format"},
		{"localhost:5000/" + strings.Repeat("a", 256), "255 characters"},
		{"localhost:5000/app@md5:d41d8cd98f00b204e9800998ecf8427e", "digest"},
		{"oci:dir:app@sha256:" + strings.Repeat("a", 63), "digest"},
		{"oci:dir:../../etc/passwd:x", "invalid"},
		{"oci:dir:app:tag:extra", "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseImageRef(tc.in)
			if err == nil {
				t.Fatalf("ParseImageRef(%q) succeeded", tc.in)
			}
			if !errors.Is(err, cas.ErrInvalid) && !errors.Is(err, cas.ErrUnsupported) {
				t.Errorf("error %v does not wrap ErrInvalid or ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestParseRegistryRef(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.25", "docker.io/library/nginx:1.25"},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"docker.io/nginx:1", "docker.io/library/nginx:1"},
		{"index.docker.io/library/nginx:1", "docker.io/library/nginx:1"},
		{"docker://quay.io/a/b:c", "quay.io/a/b:c"},
		{"localhost/app:1", "localhost/app:1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"registry.example.com/team/app@" + d256, "registry.example.com/team/app@" + d256},
		{"nginx:1.25@" + d256, "docker.io/library/nginx:1.25@" + d256},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRegistryRef(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Fatalf("ParseRegistryRef(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "Nginx", "nginx:-x", "a b", "nginx@sha256:abc", "oci:dir:app:1", "nginx@md5:d41d8cd98f00b204e9800998ecf8427e"} {
		if _, err := ParseRegistryRef(bad); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("ParseRegistryRef(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRegistryEndpoint(t *testing.T) {
	for host, want := range map[string]string{
		"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io",
		"registry-1.docker.io": "registry-1.docker.io", "quay.io": "quay.io",
		"127.0.0.1:5000": "127.0.0.1:5000", "localhost": "localhost",
	} {
		if got := RegistryEndpoint(host); got != want {
			t.Errorf("RegistryEndpoint(%q) = %q, want %q", host, got, want)
		}
	}
	// What copy, check, fleet and bundle create contact for a short name.
	ref, err := ParseImageRef("busybox:1.36")
	if err != nil {
		t.Fatal(err)
	}
	if got := RegistryEndpoint(ref.Registry); got != "registry-1.docker.io" {
		t.Fatalf("busybox:1.36 is fetched from %q, want registry-1.docker.io", got)
	}
}

func TestValidateRepository(t *testing.T) {
	good := []string{"a", "library/alpine", "a-b/c_d/e.f", "a__b", "x/y/z/w"}
	bad := []string{"", "A", "a/", "/a", "a//b", "..", "a/../b", "a/.b", "-a", "a b", strings.Repeat("a", 256)}
	for _, n := range good {
		if err := ValidateRepository(n); err != nil {
			t.Errorf("ValidateRepository(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateRepository(n); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("ValidateRepository(%q) = %v, want ErrInvalid", n, err)
		}
	}
}

func TestPlatform(t *testing.T) {
	p, err := ParsePlatform("linux/arm64/v8")
	if err != nil || FormatPlatform(&p) != "linux/arm64/v8" {
		t.Fatalf("ParsePlatform = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) succeeded", bad)
		}
	}
	amd, _ := ParsePlatform("linux/amd64")
	arm, _ := ParsePlatform("linux/arm64/v8")
	if !MatchPlatform(amd, &amd) || MatchPlatform(amd, &arm) || MatchPlatform(amd, nil) {
		t.Error("MatchPlatform on amd64 wrong")
	}
	plainArm, _ := ParsePlatform("linux/arm64")
	if !MatchPlatform(arm, &plainArm) || !MatchPlatform(plainArm, &arm) {
		t.Error("arm64 v8 should match arm64 without variant")
	}
}

func TestSiteRepository(t *testing.T) {
	tests := []struct{ in, drop, keep string }{
		{"registry.local:5000/apps/api", "apps/api", "registry.local_5000/apps/api"},
		{"127.0.0.1:5000/apps/api", "apps/api", "127.0.0.1_5000/apps/api"},
		{"registry.example.com/team/app", "team/app", "registry.example.com/team/app"},
		{"Registry.Example.com:443/team/app", "team/app", "registry.example.com_443/team/app"},
		{"docker.io/library/nginx", "library/nginx", "docker.io/library/nginx"},
		{"localhost/app", "app", "localhost/app"},
		{"localhost:5000/app", "app", "localhost_5000/app"},
		{"[::1]:5000/app", "app", "0000-0000-0000-0000-0000-0000-0000-0001_5000/app"},
		{"[2001:db8::1]/a/b", "a/b", "2001-0db8-0000-0000-0000-0000-0000-0001/a/b"},
		{"team/app", "team/app", "team/app"},
		{"app", "app", "app"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			for keep, want := range map[bool]string{false: tc.drop, true: tc.keep} {
				got, err := SiteRepository(tc.in, keep)
				if err != nil || got != want {
					t.Errorf("SiteRepository(%q, %v) = %q, %v; want %q", tc.in, keep, got, err, want)
				}
				// Stores (gantry's own, a served bundle) take it as it is.
				if err := ValidateLayoutRepository(got); err != nil {
					t.Errorf("site repository %q refused by a layout: %v", got, err)
				}
			}
		})
	}
	// Hosts that differ stay apart with keepHost, ports included.
	seen := map[string]string{}
	for _, h := range []string{"registry.local", "registry.local:5000", "registry.local-5000", "registry.local:5001", "[::1]:5000", "127.0.0.1:5000"} {
		got, err := SiteRepository(h+"/apps/api", true)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("%s and %s both map to %s", prev, h, got)
		}
		seen[got] = h
	}
	for _, bad := range []string{"", "a.io/", "a.io/App", "[zz]:5000/app", "a.io/" + strings.Repeat("a", 255)} {
		if got, err := SiteRepository(bad, true); !errors.Is(err, cas.ErrInvalid) {
			t.Errorf("SiteRepository(%q, true) = %q, %v; want ErrInvalid", bad, got, err)
		}
	}
}
