package registry

import (
	"math"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		method, path, want string
		repo, ref          string
	}{
		{"GET", "/v2/", routePing, "", ""},
		{"HEAD", "/v2", routePing, "", ""},
		{"GET", "/v2/_catalog", routeCatalog, "", ""},
		{"GET", "/v2/a/b/c/tags/list", routeTagsList, "a/b/c", ""},
		{"GET", "/v2/a/manifests/latest", routeManifestGet, "a", "latest"},
		{"HEAD", "/v2/a/manifests/sha256:00", routeManifestHead, "a", "sha256:00"},
		{"PUT", "/v2/a/manifests/v1", routeManifestPut, "a", "v1"},
		{"DELETE", "/v2/a/manifests/v1", routeManifestDelete, "a", "v1"},
		// Repository components named like the markers: read from the end.
		{"GET", "/v2/manifests/manifests/manifests", routeManifestGet, "manifests", "manifests"},
		{"GET", "/v2/x/blobs/y/manifests/z", routeManifestGet, "x/blobs/y", "z"},
		{"GET", "/v2/blobs/uploads/blobs/sha256:00", routeBlobGet, "blobs/uploads", "sha256:00"},
		{"GET", "/v2/a/blobs/sha256:00", routeBlobGet, "a", "sha256:00"},
		{"HEAD", "/v2/a/blobs/sha256:00", routeBlobHead, "a", "sha256:00"},
		{"DELETE", "/v2/a/blobs/sha256:00", routeBlobDelete, "a", "sha256:00"},
		{"POST", "/v2/a/b/blobs/uploads/", routeUploadPost, "a/b", ""},
		{"POST", "/v2/a/b/blobs/uploads", routeUploadPost, "a/b", ""},
		{"GET", "/v2/a/blobs/uploads/id", routeUploadGet, "a", "id"},
		{"PATCH", "/v2/a/blobs/uploads/id", routeUploadPatch, "a", "id"},
		{"PUT", "/v2/a/blobs/uploads/id", routeUploadPut, "a", "id"},
		{"DELETE", "/v2/a/blobs/uploads/id", routeUploadDelete, "a", "id"},
		{"GET", "/v2/a/referrers/sha256:00", routeReferrers, "a", "sha256:00"},
		{"POST", "/v2/a/manifests/x", routeUnknown, "a", "x"},
		{"GET", "/v2/a/blobs/uploads/", routeUnknown, "a", ""},
		{"GET", "/v2/a/manifests/", routeUnknown, "", ""},
		{"GET", "/v2/manifests/x", routeUnknown, "", ""},
		{"GET", "/v2/a/other/x", routeUnknown, "", ""},
		{"GET", "/v1/a/manifests/x", routeUnknown, "", ""},
		{"GET", "", routeUnknown, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if got := Route(tc.method, tc.path); got != tc.want {
				t.Errorf("Route = %q, want %q", got, tc.want)
			}
			if tg := parsePath(tc.path); tg.repo != tc.repo || tg.ref != tc.ref {
				t.Errorf("parsePath = %+v, want repo %q ref %q", tg, tc.repo, tc.ref)
			}
		})
	}
}

func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/b/manifests/latest", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/x", "/v2/_catalog", "/v2/a/tags/list", "/v2//", "/v2/a/referrers/sha256:00"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		route := Route(method, path)
		tg := parsePath(path)
		if route == routeUnknown {
			return
		}
		// A matched route names a path that ends with what was parsed
		// out of it, and a reference without "/".
		if strings.Contains(tg.ref, "/") {
			t.Errorf("%q: reference %q contains /", path, tg.ref)
		}
		if tg.repo != "" && !strings.HasPrefix(path, "/v2/"+tg.repo+"/") {
			t.Errorf("%q: repository %q is not the path's start", path, tg.repo)
		}
		if tg.ref != "" && !strings.HasSuffix(path, "/"+tg.ref) {
			t.Errorf("%q: reference %q is not the path's end", path, tg.ref)
		}
	})
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"0-999", 0, 999, true},
		{"bytes 10-20", 10, 20, true},
		{"bytes=10-20", 10, 20, true},
		{"bytes 10-20/100", 10, 20, true},
		{"5-5", 5, 5, true},
		{"20-10", 0, 0, false},
		{"-5", 0, 0, false},
		{"5-", 0, 0, false},
		{"+1-2", 0, 0, false},
		{"a-b", 0, 0, false},
		{"", 0, 0, false},
		{"99999999999999999999-1", 0, 0, false},
		{"1-99999999999999999999", 0, 0, false},
		{"0-9223372036854775806", 0, math.MaxInt64 - 1, true},
	} {
		start, end, ok := parseContentRange(tc.in)
		if ok != tc.ok || start != tc.start || end != tc.end {
			t.Errorf("parseContentRange(%q) = %d, %d, %t; want %d, %d, %t", tc.in, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-999", "bytes 10-20", "bytes=1-2/3", "-5", "5-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, ok := parseContentRange(s)
		if ok && (start < 0 || end < start) {
			t.Errorf("%q: accepted %d-%d", s, start, end)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=500-1499", "bytes=500-", "bytes=-500", "bytes=2000-5000", "bytes=500-0", "bytes=0-1,2-3", "items=1-2"} {
		f.Add(s, int64(2048))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		br := parseRange(h, size)
		if br.partial && br.unsatisfiable {
			t.Fatalf("%q/%d: both partial and unsatisfiable", h, size)
		}
		if br.partial && (br.start < 0 || br.length < 1 || br.start+br.length > size) {
			t.Errorf("%q/%d: range [%d, +%d) outside the blob", h, size, br.start, br.length)
		}
	})
}
