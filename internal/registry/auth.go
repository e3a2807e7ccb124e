package registry

import "net/http"

// Authorizer decides who a request comes from; the handler asks it once
// per request, before anything else, when Options.Authorizer is set.
// internal/auth implements it (htpasswd users, the token protocol, grants
// per repository pattern).
//
// Errors it and Caller return are answered as they say, through the
// contract of UpstreamError (Status, Code, Header): 401 UNAUTHORIZED with
// a WWW-Authenticate challenge, 403 DENIED, 429 TOOMANYREQUESTS with
// Retry-After.
type Authorizer interface {
	// Authenticate returns the caller of r: anonymous when r carries no
	// credentials, an error when its credentials are wrong.
	Authenticate(r *http.Request) (Caller, error)
}

// Caller is the sender of one request and what it may do.
type Caller interface {
	// Name is the user name, "" for an anonymous caller. It goes into the
	// serve command's access log.
	Name() string
	// Authorize returns nil when the caller may do action ("pull",
	// "push", "delete") on repository, or the error to answer with.
	// Action "" on repository "" is the API root (/v2/), "catalog" on ""
	// the repository listing.
	Authorize(repository, action string) error
	// Can reports whether the caller may do action on repository, for
	// decisions that fall back rather than fail: a cross-repository mount
	// takes its source only where the caller may pull.
	Can(repository, action string) bool
	// Lists reports whether the catalog shows repository to the caller.
	Lists(repository string) bool
}

// Actions of Caller.Authorize.
const (
	actionPull    = "pull"
	actionPush    = "push"
	actionDelete  = "delete"
	actionCatalog = "catalog"
)

// routeAction is the action each route needs on its repository (the API
// root and the catalog need none on one).
var routeAction = map[string]string{
	routePing:           "",
	routeCatalog:        actionCatalog,
	routeTagsList:       actionPull,
	routeManifestGet:    actionPull,
	routeManifestHead:   actionPull,
	routeReferrers:      actionPull,
	routeBlobGet:        actionPull,
	routeBlobHead:       actionPull,
	routeManifestPut:    actionPush,
	routeUploadPost:     actionPush,
	routeUploadGet:      actionPush,
	routeUploadPatch:    actionPush,
	routeUploadPut:      actionPush,
	routeUploadDelete:   actionPush,
	routeManifestDelete: actionDelete,
	routeBlobDelete:     actionDelete,
}

// everyone is the Caller of a registry without an Authorizer.
type everyone struct{}

func (everyone) Name() string                   { return "" }
func (everyone) Authorize(string, string) error { return nil }
func (everyone) Can(string, string) bool        { return true }
func (everyone) Lists(string) bool              { return true }

// recordCaller tells the serve command's access log who the caller is,
// when the ResponseWriter (or one it wraps) takes note of it through a
// RecordCaller(string) method.
func recordCaller(w http.ResponseWriter, name string) {
	for {
		if cr, ok := w.(interface{ RecordCaller(string) }); ok {
			cr.RecordCaller(name)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}
