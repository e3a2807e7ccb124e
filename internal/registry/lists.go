package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
)

// page reads the n and last parameters of a listing: n < 0 when absent
// (everything after last).
func page(q url.Values) (n int, last string, err error) {
	n = -1
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", newError(CodePaginationInvalid, "n=%q: want a non-negative integer", s)
		}
		n = v
	}
	return n, q.Get("last"), nil
}

// collect runs a lister and keeps up to n names (all when n < 0), and
// reports whether there were more.
func collect(ctx context.Context, n int, last string, list func(ctx context.Context, last string, fn func([]string) error) error) ([]string, bool, error) {
	names := []string{}
	more := false
	if n == 0 {
		return names, false, nil
	}
	err := list(ctx, last, func(p []string) error {
		for _, s := range p {
			if n >= 0 && len(names) == n {
				more = true
				return errStop
			}
			names = append(names, s)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, false, err
	}
	return names, more, nil
}

// writeList answers a listing: JSON, and a Link header (RFC 8288, the form
// of distribution-spec v1.1.1) to the next page when there is one.
func writeList(w http.ResponseWriter, path string, n int, names []string, more bool, v any) {
	if more && len(names) > 0 {
		q := url.Values{"n": {strconv.Itoa(n)}, "last": {names[len(names)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
	}
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// tagsList answers GET /v2/<name>/tags/list[?n=N&last=T]. A repository
// without tags lists none (200) rather than NAME_UNKNOWN: gantry's stores
// cannot tell an empty repository from an absent one.
func (rq *request) tagsList() {
	tl, ok := rq.repo.(cas.TagLister)
	if !ok {
		rq.fail(newError(CodeUnsupported, "this store cannot list tags"), kindRegistry)
		return
	}
	n, last, err := page(rq.r.URL.Query())
	if err != nil {
		rq.fail(err, kindRegistry)
		return
	}
	tags, more, err := collect(rq.r.Context(), n, last, tl.Tags)
	if err != nil {
		rq.fail(err, kindRegistry)
		return
	}
	writeList(rq.w, "/v2/"+rq.name+"/tags/list", n, tags, more, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rq.name, tags})
}

// servedNames keeps, of a store's repositories, the names the registry
// serves and the caller may see: a store may hold others (an OCI layout in which skopeo or ctr
// wrote "HOST:PORT/REPO"), which a client could not ask for, and a catalog
// that lists them breaks every client that walks it.
func servedNames(list func(ctx context.Context, last string, fn func([]string) error) error, caller Caller) func(ctx context.Context, last string, fn func([]string) error) error {
	return func(ctx context.Context, last string, fn func([]string) error) error {
		return list(ctx, last, func(page []string) error {
			served := page[:0:0]
			for _, name := range page {
				if oci.ValidateRepository(name) == nil && caller.Lists(name) {
					served = append(served, name)
				}
			}
			return fn(served)
		})
	}
}

// catalog answers GET /v2/_catalog[?n=N&last=R], with the repositories
// the caller may pull.
func (reg *Registry) catalog(w http.ResponseWriter, r *http.Request, caller Caller) {
	rl, ok := reg.store.(cas.RepositoryLister)
	if !ok {
		reg.writeError(w, r, newError(CodeUnsupported, "this store cannot list repositories"), kindRegistry)
		return
	}
	n, last, err := page(r.URL.Query())
	if err != nil {
		reg.writeError(w, r, err, kindRegistry)
		return
	}
	repos, more, err := collect(r.Context(), n, last, servedNames(rl.Repositories, caller))
	if err != nil {
		reg.writeError(w, r, err, kindRegistry)
		return
	}
	writeList(w, "/v2/_catalog", n, repos, more, struct {
		Repositories []string `json:"repositories"`
	}{repos})
}
