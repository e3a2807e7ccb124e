package cli

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/ui"
)

// serveUI is gantry serve's web view (internal/ui) and its background
// analysis.
type serveUI struct {
	u    *ui.UI
	stop context.CancelFunc
	done chan struct{}
}

// newServeUI starts the web view of store, which is a cas.Store or a
// cas.ReadOnlyStore (a bundle); nil when --ui=false.
func newServeUI(ctx context.Context, enabled bool, store any, az registry.Authorizer, log *slog.Logger) *serveUI {
	if !enabled {
		return nil
	}
	opts := ui.Options{Authorizer: az, Logger: log}
	var u *ui.UI
	switch s := store.(type) {
	case cas.Store:
		u = ui.New(s, opts)
	case cas.ReadOnlyStore:
		u = ui.NewReadOnly(s, opts)
	default:
		return nil
	}
	rctx, stop := context.WithCancel(ctx)
	w := &serveUI{u: u, stop: stop, done: make(chan struct{})}
	go func() { defer close(w.done); u.Run(rctx) }()
	return w
}

// observe lets the view see pushes and deletes go through reg.
func (w *serveUI) observe(reg http.Handler) http.Handler {
	if w == nil {
		return reg
	}
	return w.u.Observe(reg)
}

// wrap serves /ui/ (and sends a browser at / there) beside next.
func (w *serveUI) wrap(next http.Handler) http.Handler {
	if w == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, ui.Prefix):
			w.u.ServeHTTP(rw, r)
		case r.URL.Path == "/" && r.Method == http.MethodGet:
			http.Redirect(rw, r, ui.Prefix, http.StatusFound)
		case r.URL.Path == "/ui" && r.Method == http.MethodGet:
			http.Redirect(rw, r, ui.Prefix, http.StatusMovedPermanently)
		default:
			next.ServeHTTP(rw, r)
		}
	})
}

// close stops the background analysis and waits for it, before the store
// closes under it.
func (w *serveUI) close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
}
