package ui

import (
	"bytes"
	"encoding/json"

	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/fleet"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/registry"
)

// wantsJSON reports whether r asks for JSON first.
func wantsJSON(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "text/html", "application/xhtml+xml":
			return false
		}
	}
	return false
}

// view is what every template gets: the page's data and who is looking.
type view struct {
	Title string
	User  string
	Auth  bool // access control is on: offer to sign in
	Nav   string
	Data  any
	SVG   template.HTML
	Now   time.Time
}

// authenticate returns the caller, or answers r itself: wrong credentials
// get 401 with a Basic challenge, so a browser asks again.
func (u *UI) authenticate(w http.ResponseWriter, r *http.Request) (registry.Caller, bool) {
	c, err := u.caller(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="gantry", charset="UTF-8"`)
		u.fail(w, r, http.StatusUnauthorized, "sign in again: "+oneLine(err))
		return nil, false
	}
	return c, true
}

// render answers with data as JSON or as the page tmpl.
func (u *UI) render(w http.ResponseWriter, r *http.Request, c registry.Caller, tmpl, title, nav string, data any, svg template.HTML) {
	w.Header().Set("Vary", "Accept, Authorization")
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(data) // a failed write is the client gone
		return
	}
	var buf bytes.Buffer
	v := view{Title: title, User: c.Name(), Auth: u.opts.Authorizer != nil, Nav: nav, Data: data, SVG: svg, Now: u.opts.Now()}
	if err := pages.ExecuteTemplate(&buf, tmpl, v); err != nil {
		u.log.Error("web view: rendering", "page", tmpl, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error in the format asked for.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	var buf bytes.Buffer
	_ = pages.ExecuteTemplate(&buf, "error", view{Title: http.StatusText(code), Data: msg, Auth: u.opts.Authorizer != nil})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (u *UI) failErr(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	if code >= 500 {
		u.log.Warn("web view: page failed", "path", r.URL.Path, "err", err)
	}
	u.fail(w, r, code, oneLine(err))
}

func (u *UI) reposPage(w http.ResponseWriter, r *http.Request) {
	c, ok := u.authenticate(w, r)
	if !ok {
		return
	}
	p, err := u.reposData(r.Context(), c, r.URL.Query().Get("q"), r.URL.Query().Get("sort"))
	if err != nil {
		u.failErr(w, r, err)
		return
	}
	u.render(w, r, c, "repos", "Repositories", "repos", p, "")
}

func (u *UI) repoPage(w http.ResponseWriter, r *http.Request) {
	c, ok := u.authenticate(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	p, err := u.repoData(r.Context(), c, name)
	if err != nil {
		u.failErr(w, r, err)
		return
	}
	u.render(w, r, c, "repo", name, "repos", p, "")
}

func (u *UI) imagePage(w http.ResponseWriter, r *http.Request) {
	c, ok := u.authenticate(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	p, err := u.imageData(r.Context(), c, ref)
	if err != nil {
		u.failErr(w, r, err)
		return
	}
	u.render(w, r, c, "image", ref, "repos", p, "")
}

func (u *UI) fleetPage(w http.ResponseWriter, r *http.Request) {
	c, ok := u.authenticate(w, r)
	if !ok {
		return
	}
	rep, err := u.fleetReport(r.Context(), c)
	if err != nil {
		u.failErr(w, r, err)
		return
	}
	p := &FleetPage{Report: rep}
	var svg template.HTML
	if !wantsJSON(r) && rep.Tree != nil {
		svg = fleet.SVG(rep)
	}
	u.render(w, r, c, "fleet", "Fleet", "fleet", p, svg)
}

// login makes a browser ask for credentials: the registry's Authorizer
// accepts Basic credentials on every request, and the browser sends them
// on every page once given.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	c, err := u.caller(r)
	if err != nil || c.Name() == "" {
		if u.opts.Authorizer == nil {
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="gantry", charset="UTF-8"`)
		u.fail(w, r, http.StatusUnauthorized, "sign in with your registry user name and password")
		return
	}
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// Observe wraps the registry's handler and tells the view about every
// manifest pushed or deleted through it, once the registry has answered
// with success. The registry's ResponseWriter contract (Unwrap for
// http.ResponseController) is kept.
func (u *UI) Observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut && r.Method != http.MethodDelete {
			next.ServeHTTP(w, r)
			return
		}
		name, ref, ok := manifestPath(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(ref, "sha256:") || strings.HasPrefix(ref, "sha512:") || r.Method == http.MethodDelete {
			ref = "" // no tag was pushed
		}
		// The view hears of the change before the client does: the
		// manifest is committed when the registry answers success, and a
		// client that then asks the view finds the change queued.
		sw := &statusWriter{ResponseWriter: w, success: func() { u.Pushed(name, ref) }}
		next.ServeHTTP(sw, r)
	})
}

// manifestPath splits /v2/NAME/manifests/REF.
func manifestPath(p string) (name, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len("/manifests/"):]
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	return name, ref, true
}

// statusWriter calls success when the registry answers with a 2xx
// status, before the answer goes out.
type statusWriter struct {
	http.ResponseWriter
	success func()
	done    bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.done {
		s.done = true
		if code >= 200 && code < 300 {
			s.success()
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if !s.done {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the writer underneath.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// pages are the templates, parsed once.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"bytes":   report.Bytes,
	"count":   report.Count[int],
	"age":     age,
	"short":   short,
	"join":    strings.Join,
	"deref":   func(p *int64) int64 { return *p },
	"imgref":  func(repo, ref string) string { return Prefix + "image/" + repo + refSep(ref) + ref },
	"pct":     pct,
	"sevname": func(s report.Severity) string { return s.String() },
}).ParseFS(mustSub(), "*.html"))

func mustSub() fs.FS {
	f, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return f
}

func refSep(ref string) string {
	if strings.Contains(ref, ":") {
		return "@"
	}
	return ":"
}

// age says how long ago t was, coarsely.
func age(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "seconds ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month") + " ago"
	}
	return plural(int(d/(365*24*time.Hour)), "year") + " ago"
}

func plural(n int, unit string) string { return report.Count(n, unit) }

// short shortens a digest for display.
func short(s any) string {
	str := ""
	switch v := s.(type) {
	case string:
		str = v
	case interface{ String() string }:
		str = v.String()
	}
	if _, hex, ok := strings.Cut(str, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return str
}

// pct is part of whole in percent, for bar widths.
func pct(part, whole int64) int64 {
	if whole <= 0 {
		return 0
	}
	return min(100, part*100/whole)
}
