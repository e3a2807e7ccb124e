package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPaths feeds the view's own parsers (image references in page paths,
// manifest paths the push observer reads, Accept headers) with anything:
// they must never panic, and what they accept must be well formed. Seeds
// are in testdata/fuzz/FuzzPaths.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{"team/app:v1", "a@sha256:abc", "/v2/a/b/manifests/v1", "text/html, application/json;q=0.9", ":", "@", "x/y:z/w"} {
		f.Add(s)
	}
	u := New(nil, Options{})
	f.Fuzz(func(t *testing.T, s string) {
		if name, ref, ok := splitRef(s); ok {
			if name == "" || ref == "" || name+s[len(name):len(name)+1]+ref != s {
				t.Errorf("splitRef(%q) = %q, %q", s, name, ref)
			}
		}
		if name, ref, ok := manifestPath(s); ok && (name == "" || ref == "" || strings.Contains(ref, "/")) {
			t.Errorf("manifestPath(%q) = %q, %q", s, name, ref)
		}
		r := httptest.NewRequest("GET", "/ui/", nil)
		r.Header.Set("Accept", s)
		_ = wantsJSON(r)
		// A malformed image reference in a page path is refused before
		// anything reads the store (nil here).
		req, err := http.NewRequest("GET", "/ui/image/"+s, nil)
		if err != nil {
			return // not a URL: no request carries it
		}
		if _, _, ok := splitRef(strings.TrimPrefix(req.URL.Path, "/ui/image/")); !ok {
			w := httptest.NewRecorder()
			u.ServeHTTP(w, req)
			if w.Code != http.StatusBadRequest && w.Code != http.StatusNotFound && (w.Code < 300 || w.Code > 399) {
				t.Errorf("/ui/image/%s: %d", s, w.Code)
			}
		}
	})
}
