package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
	"golang.org/x/time/rate"
)

var _ registry.Authorizer = (*Authority)(nil)

// Defaults of Options.
const (
	DefaultService    = "gantry"
	DefaultTokenTTL   = 5 * time.Minute
	DefaultRefreshTTL = 24 * time.Hour
	DefaultFailRate   = rate.Limit(1.0 / 6) // one failed login per 6s, sustained
	DefaultFailBurst  = 10
	DefaultMaxClients = 10000
	DefaultTokenPath  = "/token"
)

// maxCachedTokens bounds the verified tokens remembered (a few hundred
// bytes each).
const maxCachedTokens = 10000

// Failure reasons, as Options.OnFailure hears them.
const (
	ReasonBadCredentials = "bad_credentials" // wrong user or password
	ReasonInvalidToken   = "invalid_token"   // badly signed, malformed or for another service
	ReasonExpiredToken   = "expired_token"
	ReasonDenied         = "denied" // a known caller without the grant
	ReasonRateLimited    = "rate_limited"
)

// Options configures an Authority. Users and Key are required; every other
// zero value takes the default its field names.
type Options struct {
	// Users are the accounts.
	Users *Htpasswd
	// Policy says who may do what. Default: the zero Config's (every
	// user pulls and pushes everywhere; anonymous requests nothing).
	Policy *Policy
	// Key signs tokens (LoadKey, GenerateKey).
	Key ed25519.PrivateKey
	// Realm is the token endpoint's URL in challenges. Default: the
	// request's own scheme and Host with TokenPath, right as long as
	// clients reach gantry directly; set it behind a proxy.
	Realm string
	// Service names this registry in challenges and tokens (their
	// audience). Replicas sharing a Key share it. Default DefaultService.
	Service string
	// TokenTTL is how long an access token is good for. Default
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// RefreshTTL is how long a refresh token (asked for with
	// access_type=offline or offline_token=true) is good for. Default
	// DefaultRefreshTTL.
	RefreshTTL time.Duration
	// FailRate and FailBurst bound failed logins per client address:
	// FailBurst at once, then FailRate per second; more get 429 with
	// Retry-After until the allowance refills. Defaults DefaultFailRate
	// and DefaultFailBurst.
	FailRate  rate.Limit
	FailBurst int
	// MaxClients bounds the client addresses whose failures are
	// remembered. Default DefaultMaxClients.
	MaxClients int
	// TokenPath is the path of the token endpoint, for the default
	// Realm. Default DefaultTokenPath.
	TokenPath string
	// OnFailure, when set, is called once per failed authentication or
	// authorization with one of the Reason constants (metrics).
	OnFailure func(reason string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Authority authenticates requests and issues tokens. Its methods are
// safe for concurrent use.
type Authority struct {
	opts   Options
	sign   signer
	limits *failLimiter
	tokens *tokenCache
}

// New returns an Authority.
func New(opts Options) (*Authority, error) {
	if opts.Users == nil {
		return nil, errors.New("auth: no users")
	}
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: no token key")
	}
	if opts.Policy == nil {
		p, err := NewPolicy(Config{})
		if err != nil {
			return nil, err
		}
		opts.Policy = p
	}
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = DefaultRefreshTTL
	}
	if opts.FailRate <= 0 {
		opts.FailRate = DefaultFailRate
	}
	if opts.FailBurst <= 0 {
		opts.FailBurst = DefaultFailBurst
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.TokenPath == "" {
		opts.TokenPath = DefaultTokenPath
	}
	if opts.OnFailure == nil {
		opts.OnFailure = func(string) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authority{
		opts:   opts,
		sign:   signer{key: opts.Key, service: opts.Service},
		limits: newFailLimiter(opts.FailRate, opts.FailBurst, opts.MaxClients),
		tokens: newTokenCache(maxCachedTokens),
	}, nil
}

// TokenPath is the path the token endpoint (ServeHTTP) is to be served at.
func (a *Authority) TokenPath() string { return a.opts.TokenPath }

// authError is a failure on its way to the wire, in the shape the registry
// handler answers (its UpstreamError contract): a status, an OCI error
// code and headers (the challenge, Retry-After).
type authError struct {
	status int
	code   string
	msg    string
	header http.Header
}

func (e *authError) Error() string       { return e.msg }
func (e *authError) Status() int         { return e.status }
func (e *authError) Code() string        { return e.code }
func (e *authError) Header() http.Header { return e.header }

// challenger makes the challenges of one request: the realm depends on
// the request's scheme and host unless Options.Realm is set.
type challenger struct {
	realm, service string
}

func (a *Authority) challenger(r *http.Request) challenger {
	realm := a.opts.Realm
	if realm == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		realm = scheme + "://" + r.Host + a.opts.TokenPath
	}
	return challenger{realm: realm, service: a.opts.Service}
}

// unauthorized is a 401 with a Bearer challenge for scope ("" for none)
// and an RFC 6750 error ("" for none).
func (c challenger) unauthorized(msg, scope, bearerErr string) *authError {
	v := fmt.Sprintf("Bearer realm=%q,service=%q", c.realm, c.service)
	if scope != "" {
		v += fmt.Sprintf(",scope=%q", scope)
	}
	if bearerErr != "" {
		v += fmt.Sprintf(",error=%q", bearerErr)
	}
	return &authError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", msg: msg,
		header: http.Header{"Www-Authenticate": {v}}}
}

func tooMany(wait time.Duration) *authError {
	secs := int((wait + time.Second - 1) / time.Second)
	return &authError{status: http.StatusTooManyRequests, code: "TOOMANYREQUESTS",
		msg:    fmt.Sprintf("too many failed logins from this address; try again in %ds", secs),
		header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

// checkPassword verifies Basic credentials under the failed-login limit.
func (a *Authority) checkPassword(r *http.Request, user, password string) *authError {
	key, now := clientKey(r.RemoteAddr), a.opts.Now()
	if wait := a.limits.blocked(key, now); wait > 0 {
		a.opts.OnFailure(ReasonRateLimited)
		return tooMany(wait)
	}
	if a.opts.Users.Verify(user, password) {
		return nil
	}
	a.limits.fail(key, now)
	a.opts.OnFailure(ReasonBadCredentials)
	return a.challenger(r).unauthorized(fmt.Sprintf("wrong user name or password for %q", user), "", "")
}

// Caller is who sent a request and what it may do: a registry.Caller.
type Caller struct {
	a    *Authority
	ch   challenger
	user string
	// token is the access a Bearer token carries; nil for Basic
	// credentials and anonymous requests, which the policy alone governs.
	token  []Scope
	bearer bool
}

// Name is the user name, "" for an anonymous caller.
func (c *Caller) Name() string { return c.user }

// Authenticate returns the caller of r: anonymous without credentials, the
// user of valid Basic credentials or of a valid Bearer token. Wrong
// credentials and bad tokens are errors (401, or 429 after too many
// failed logins), which carry their status, code and challenge.
func (a *Authority) Authenticate(r *http.Request) (registry.Caller, error) {
	c, err := a.authenticate(r)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (a *Authority) authenticate(r *http.Request) (*Caller, error) {
	c := &Caller{a: a, ch: a.challenger(r)}
	h := r.Header.Get("Authorization")
	if h == "" {
		return c, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		user, password, ok := r.BasicAuth()
		if !ok {
			a.opts.OnFailure(ReasonBadCredentials)
			return nil, c.ch.unauthorized("malformed Basic credentials", "", "")
		}
		if err := a.checkPassword(r, user, password); err != nil {
			return nil, err
		}
		c.user = user
		return c, nil
	case "bearer":
		tok, now := strings.TrimSpace(cred), a.opts.Now()
		claims, ok := a.tokens.get(tok, now)
		var err error
		if !ok {
			if claims, err = a.sign.verify(tok, kindAccess, now); err == nil {
				a.tokens.put(tok, claims, now)
			}
		}
		if err == nil && claims.Subject != "" && !a.opts.Users.Has(claims.Subject) {
			err = fmt.Errorf("%w: user %q is no longer known", errTokenInvalid, claims.Subject)
		}
		if err != nil {
			reason := ReasonInvalidToken
			if errors.Is(err, errTokenExpired) {
				reason = ReasonExpiredToken
			} else {
				a.limits.fail(clientKey(r.RemoteAddr), a.opts.Now())
			}
			a.opts.OnFailure(reason)
			return nil, c.ch.unauthorized(err.Error(), "", "invalid_token")
		}
		c.user, c.token, c.bearer = claims.Subject, claims.Access, true
		return c, nil
	}
	a.opts.OnFailure(ReasonBadCredentials)
	return nil, c.ch.unauthorized(fmt.Sprintf("unsupported Authorization scheme %q: want Basic or Bearer", scheme), "", "")
}

// tokenHas reports whether c's token grants action on the resource.
func (c *Caller) tokenHas(typ, name, action string) bool {
	for _, s := range c.token {
		if s.Type == typ && s.Name == name && slices.Contains(s.Actions, action) {
			return true
		}
	}
	return false
}

// Can reports whether the caller's grants let it do action ("pull",
// "push", "delete") on repository. For a token it is the grants of the
// token's user, not the token's scopes: the handler asks Can about a
// mount's source, which clients (the OCI conformance suite, oras) do not
// always put in the token they ask for the repository they push to.
func (c *Caller) Can(repository, action string) bool {
	return c.a.opts.Policy.Allows(c.user, repository, action)
}

// Lists reports whether the catalog shows repository to the caller: its
// grants let it pull there (a token asked for "registry:catalog:*" lists
// what its user may pull, not only the repositories the token names).
func (c *Caller) Lists(repository string) bool {
	return c.a.opts.Policy.Allows(c.user, repository, ActionPull)
}

// challengeScope is the scope a challenge for action asks for: pushes
// ask for pull too, as clients do themselves.
func challengeScope(repository, action string) string {
	if action == ActionPush {
		return "repository:" + repository + ":pull,push"
	}
	return "repository:" + repository + ":" + action
}

// Authorize returns nil when the caller may do action on repository, or
// the error to answer with. The action "" on repository "" is the API
// root (/v2/): every known caller may ask; "catalog" is the repository
// listing.
func (c *Caller) Authorize(repository, action string) error {
	switch action {
	case "":
		if c.user == "" && !c.bearer {
			return c.ch.unauthorized("authentication required", "", "")
		}
		return nil
	case actionCatalog:
		const scope = "registry:catalog:*"
		switch {
		case c.bearer && !c.tokenHas("registry", actionCatalog, "*"):
			return c.ch.unauthorized("this token does not list repositories", scope, "insufficient_scope")
		case !c.bearer && c.user == "" && len(c.a.opts.Policy.anonymous) == 0:
			return c.ch.unauthorized("authentication required", scope, "")
		}
		return nil
	}
	if c.a.opts.Policy.Allows(c.user, repository, action) {
		if !c.bearer || c.tokenHas("repository", repository, action) {
			return nil
		}
		return c.ch.unauthorized(fmt.Sprintf("this token does not grant %s on %s", action, repository),
			challengeScope(repository, action), "insufficient_scope")
	}
	if c.user == "" {
		return c.ch.unauthorized(fmt.Sprintf("authentication required to %s %s", action, repository),
			challengeScope(repository, action), "")
	}
	c.a.opts.OnFailure(ReasonDenied)
	return &authError{status: http.StatusForbidden, code: "DENIED",
		msg: fmt.Sprintf("user %q may not %s %s", c.user, action, repository)}
}

// grant returns the part of the scopes asked that user may have.
func (a *Authority) grant(user string, asked []Scope) []Scope {
	var out []Scope
	for _, s := range asked {
		switch s.Type {
		case "repository":
			if acts := a.opts.Policy.allowed(user, s.Name, s.Actions); len(acts) > 0 {
				out = append(out, Scope{Type: s.Type, Name: s.Name, Actions: acts})
			}
		case "registry":
			if user != "" || len(a.opts.Policy.anonymous) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// tokenResponse is the token endpoint's answer: "token" for Docker's
// protocol, "access_token" for OAuth2 clients, both the same.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope,omitempty"`
}

// maxTokenForm bounds a token request's form body.
const maxTokenForm = 64 << 10

// ServeHTTP is the token endpoint: GET with optional Basic credentials and
// scope, service, offline_token parameters (Docker's protocol), or POST
// of an OAuth2 form with grant_type password (username, password) or
// refresh_token (refresh_token), and scope, service, access_type=offline.
// It answers with a token granting what was asked of what the caller may
// have: a token never fails for want of access, the registry refuses its
// requests instead.
func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ch := a.challenger(r)
	var (
		user, service string
		scopes        []string
		offline       bool
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		service, scopes, offline = q.Get("service"), q["scope"], q.Get("offline_token") == "true"
		if r.Header.Get("Authorization") != "" {
			u, p, ok := r.BasicAuth()
			if !ok {
				a.opts.OnFailure(ReasonBadCredentials)
				a.tokenError(w, r, ch.unauthorized("the token endpoint takes Basic credentials", "", ""), "invalid_client")
				return
			}
			if err := a.checkPassword(r, u, p); err != nil {
				a.tokenError(w, r, err, "invalid_client")
				return
			}
			user = u
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
		if err := r.ParseForm(); err != nil {
			a.tokenError(w, r, &authError{status: http.StatusBadRequest, code: "UNSUPPORTED", msg: "token request form: " + err.Error()}, "invalid_request")
			return
		}
		f := r.PostForm
		service, scopes, offline = f.Get("service"), f["scope"], f.Get("access_type") == "offline"
		switch f.Get("grant_type") {
		case "password":
			u := f.Get("username")
			if err := a.checkPassword(r, u, f.Get("password")); err != nil {
				a.tokenError(w, r, err, "invalid_grant")
				return
			}
			user = u
		case "refresh_token":
			c, err := a.sign.verify(f.Get("refresh_token"), kindRefresh, a.opts.Now())
			if err == nil && !a.opts.Users.Has(c.Subject) {
				err = fmt.Errorf("%w: user %q is no longer known", errTokenInvalid, c.Subject)
			}
			if err != nil {
				a.limits.fail(clientKey(r.RemoteAddr), a.opts.Now())
				a.opts.OnFailure(ReasonInvalidToken)
				a.tokenError(w, r, ch.unauthorized("refresh token: "+err.Error(), "", "invalid_token"), "invalid_grant")
				return
			}
			user = c.Subject
		default:
			a.tokenError(w, r, &authError{status: http.StatusBadRequest, code: "UNSUPPORTED",
				msg: fmt.Sprintf("grant_type %q: want password or refresh_token", f.Get("grant_type"))}, "unsupported_grant_type")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		a.tokenError(w, r, &authError{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED", msg: "the token endpoint takes GET and POST"}, "invalid_request")
		return
	}
	recordCaller(w, user)
	if service != "" && service != a.opts.Service {
		a.tokenError(w, r, &authError{status: http.StatusBadRequest, code: "UNSUPPORTED",
			msg: fmt.Sprintf("service %q: this registry is %q", service, a.opts.Service)}, "invalid_request")
		return
	}
	asked, err := ParseScopes(scopes)
	if err != nil {
		a.tokenError(w, r, &authError{status: http.StatusBadRequest, code: "UNSUPPORTED", msg: err.Error()}, "invalid_scope")
		return
	}
	granted := a.grant(user, asked)
	now := a.opts.Now()
	tok, err := a.sign.sign(user, kindAccess, granted, now, a.opts.TokenTTL)
	if err != nil {
		a.tokenError(w, r, &authError{status: http.StatusInternalServerError, code: "UNKNOWN", msg: err.Error()}, "server_error")
		return
	}
	resp := tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(a.opts.TokenTTL / time.Second),
		IssuedAt: now.UTC().Format(time.RFC3339)}
	if offline && user != "" {
		if resp.RefreshToken, err = a.sign.sign(user, kindRefresh, nil, now, a.opts.RefreshTTL); err != nil {
			a.tokenError(w, r, &authError{status: http.StatusInternalServerError, code: "UNKNOWN", msg: err.Error()}, "server_error")
			return
		}
	}
	parts := make([]string, len(granted))
	for i, s := range granted {
		parts[i] = s.String()
	}
	resp.Scope = strings.Join(parts, " ")
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// tokenError answers a token request: the registry's error body, with
// OAuth2's error and error_description beside it for OAuth2 clients.
func (a *Authority) tokenError(w http.ResponseWriter, r *http.Request, e *authError, oauth string) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	type apiErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Error       string   `json:"error"`
		Description string   `json:"error_description"`
		Errors      []apiErr `json:"errors"`
	}{oauth, e.msg, []apiErr{{e.code, e.msg}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// recordCaller tells the serve command's access log who the caller is,
// when the ResponseWriter (or one it wraps) takes note of it.
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
