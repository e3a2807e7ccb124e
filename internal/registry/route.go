package registry

import (
	"net/http"
	"strings"
)

// Route names, the labels of Route and of the serve command's metrics.
const (
	routePing           = "ping"
	routeCatalog        = "catalog"
	routeTagsList       = "tags_list"
	routeManifestGet    = "manifest_get"
	routeManifestHead   = "manifest_head"
	routeManifestPut    = "manifest_put"
	routeManifestDelete = "manifest_delete"
	routeBlobGet        = "blob_get"
	routeBlobHead       = "blob_head"
	routeBlobDelete     = "blob_delete"
	routeUploadPost     = "upload_post"
	routeUploadGet      = "upload_get"
	routeUploadPatch    = "upload_patch"
	routeUploadPut      = "upload_put"
	routeUploadDelete   = "upload_delete"
	routeReferrers      = "referrers"
	routeUnknown        = "unknown"
)

// target is what a request path names.
type target struct {
	// resource is one of "ping", "catalog", "tags", "manifests", "blobs",
	// "uploads" (a session or, with ref "", the collection), "referrers",
	// or "" for no endpoint.
	resource string
	repo     string // the repository name, not yet validated
	ref      string // tag, digest or session id
}

// parsePath splits an API path. Repository names contain slashes and may
// contain components called "manifests" or "blobs", so the path is read from
// its end: the last segment is the reference (tags, digests and session ids
// never contain "/"), the markers before it name the resource, and all that
// comes before is the repository.
func parsePath(path string) target {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return target{resource: "ping"}
		}
		return target{}
	}
	if rest == "" {
		return target{resource: "ping"}
	}
	if rest == "_catalog" {
		return target{resource: "catalog"}
	}
	// The upload collection: /v2/<name>/blobs/uploads[/]
	for _, suffix := range []string{"/blobs/uploads/", "/blobs/uploads"} {
		if repo, ok := strings.CutSuffix(rest, suffix); ok && repo != "" {
			return target{resource: "uploads", repo: repo}
		}
	}
	if repo, ok := strings.CutSuffix(rest, "/tags/list"); ok && repo != "" {
		return target{resource: "tags", repo: repo}
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return target{}
	}
	ref := rest[i+1:]
	head := rest[:i]
	if ref == "" {
		return target{}
	}
	if repo, ok := strings.CutSuffix(head, "/blobs/uploads"); ok && repo != "" {
		return target{resource: "uploads", repo: repo, ref: ref}
	}
	j := strings.LastIndexByte(head, '/')
	if j <= 0 {
		return target{}
	}
	marker, repo := head[j+1:], head[:j]
	switch marker {
	case "manifests", "blobs", "referrers":
		return target{resource: marker, repo: repo, ref: ref}
	}
	return target{}
}

// routeName returns the route of a method on a parsed path, or
// routeUnknown.
func routeName(method string, t target) string {
	switch t.resource {
	case "ping":
		if method == http.MethodGet || method == http.MethodHead {
			return routePing
		}
	case "catalog":
		if method == http.MethodGet {
			return routeCatalog
		}
	case "tags":
		if method == http.MethodGet {
			return routeTagsList
		}
	case "referrers":
		if method == http.MethodGet {
			return routeReferrers
		}
	case "manifests":
		switch method {
		case http.MethodGet:
			return routeManifestGet
		case http.MethodHead:
			return routeManifestHead
		case http.MethodPut:
			return routeManifestPut
		case http.MethodDelete:
			return routeManifestDelete
		}
	case "blobs":
		switch method {
		case http.MethodGet:
			return routeBlobGet
		case http.MethodHead:
			return routeBlobHead
		case http.MethodDelete:
			return routeBlobDelete
		}
	case "uploads":
		if t.ref == "" {
			if method == http.MethodPost {
				return routeUploadPost
			}
			break
		}
		switch method {
		case http.MethodGet:
			return routeUploadGet
		case http.MethodPatch:
			return routeUploadPatch
		case http.MethodPut:
			return routeUploadPut
		case http.MethodDelete:
			return routeUploadDelete
		}
	}
	return routeUnknown
}

// Route returns the name of the endpoint a request matches ("manifest_get",
// "blob_head", "upload_patch", "tags_list", "catalog", "referrers",
// "ping", ..., or "unknown"), so that the serve command's metrics have a
// label of bounded cardinality without parsing paths twice differently. It
// does not validate repository names or references, and never panics.
func Route(method, path string) string {
	return routeName(method, parsePath(path))
}
