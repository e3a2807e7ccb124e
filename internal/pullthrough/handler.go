package pullthrough

import (
	"net/http"
	"strings"
)

// Handler returns h with containerd's mirror requests routed: containerd
// asks a mirror for /v2/NAME/...?ns=REGISTRY, with NAME as the registry
// knows it, so the name is taken as REGISTRY/NAME when an upstream's prefix
// is REGISTRY/ (docker.io/library/nginx for ns=docker.io). Other requests
// pass as they are.
func (s *Store) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns := r.URL.Query().Get("ns")
		if ns == "" || !strings.HasPrefix(r.URL.Path, "/v2/") {
			h.ServeHTTP(w, r)
			return
		}
		rest := r.URL.Path[len("/v2/"):]
		if s.hasPrefix(ns+"/") && !strings.HasPrefix(rest, ns+"/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/v2/" + ns + "/" + rest
			r2.URL.RawPath = ""
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// hasPrefix reports whether an upstream serves the names under prefix.
func (s *Store) hasPrefix(prefix string) bool {
	for _, rt := range s.routes {
		if rt.Prefix == prefix {
			return true
		}
	}
	return false
}
