package cli

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// authFlags are gantry serve's access-control flags; who may do what
// comes from the config file's serve.auth section (auth.Config).
type authFlags struct {
	htpasswd string
	tokenKey string
	tokenTTL time.Duration
	realm    string
	service  string
}

func addAuthFlags(fl *pflag.FlagSet, f *authFlags) {
	fl.StringVar(&f.htpasswd, "htpasswd", "", "require credentials: the users and bcrypt passwords of this htpasswd file (htpasswd -B); who may do what comes from the config's serve.auth section (default: every user pulls and pushes)")
	fl.StringVar(&f.tokenKey, "token-key", "", "with --htpasswd: sign tokens with this Ed25519 private key (PEM, PKCS #8: openssl genpkey -algorithm ed25519), so that replicas accept each other's tokens (default: a key generated at start)")
	fl.DurationVar(&f.tokenTTL, "token-ttl", auth.DefaultTokenTTL, "with --htpasswd: how long a token is good for")
	fl.StringVar(&f.realm, "auth-realm", "", "with --htpasswd: the token endpoint's URL in challenges (default: the request's scheme and host, path /token); set it behind a proxy")
	fl.StringVar(&f.service, "auth-service", auth.DefaultService, "with --htpasswd: the service name in challenges and tokens")
}

// serveAuth is gantry serve's access control, or nothing when --htpasswd
// is not given.
type serveAuth struct {
	az       *auth.Authority
	failures *prometheus.CounterVec
}

// newServeAuth builds the access control from the flags and the config
// file's serve.auth section.
func newServeAuth(e *env, f authFlags) (*serveAuth, error) {
	raw, err := e.config.section("serve", "auth")
	if err != nil {
		return nil, fmt.Errorf("config file %s: serve.auth: %w", e.configPath, err)
	}
	if f.htpasswd == "" {
		if raw != nil {
			return nil, usageError{fmt.Errorf("config file %s: serve.auth says who may do what, but no --htpasswd says who is who", e.configPath)}
		}
		if f.tokenKey != "" || f.realm != "" {
			return nil, usageError{errors.New("--token-key and --auth-realm go with --htpasswd")}
		}
		return &serveAuth{}, nil
	}
	if f.tokenTTL <= 0 {
		return nil, usageError{fmt.Errorf("--token-ttl %s: want a positive duration", f.tokenTTL)}
	}
	var cfg auth.Config
	if raw != nil {
		if cfg, err = decodeAuthConfig(raw); err != nil {
			return nil, fmt.Errorf("config file %s: %w", e.configPath, err)
		}
	}
	policy, err := auth.NewPolicy(cfg)
	if err != nil {
		return nil, fmt.Errorf("config file %s: serve.auth: %w", e.configPath, err)
	}
	users, err := auth.LoadHtpasswd(f.htpasswd)
	if err != nil {
		return nil, err
	}
	if users.Users() == 0 {
		e.log.Warn("the htpasswd file lists no users: only anonymous grants apply", "htpasswd", f.htpasswd)
	}
	var key []byte
	if f.tokenKey != "" {
		key, err = auth.LoadKey(f.tokenKey)
	} else {
		key, err = auth.GenerateKey()
	}
	if err != nil {
		return nil, err
	}
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_auth_failures_total",
		Help: "Failed authentications and authorizations, by reason: bad_credentials, invalid_token, expired_token, denied, rate_limited.",
	}, []string{"reason"})
	for _, r := range []string{auth.ReasonBadCredentials, auth.ReasonInvalidToken, auth.ReasonExpiredToken, auth.ReasonDenied, auth.ReasonRateLimited} {
		failures.WithLabelValues(r) // present at 0 from the start
	}
	az, err := auth.New(auth.Options{
		Users: users, Policy: policy, Key: key,
		Realm: f.realm, Service: f.service, TokenTTL: f.tokenTTL,
		OnFailure: func(reason string) { failures.WithLabelValues(reason).Inc() },
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("access control", "htpasswd", f.htpasswd, "users", users.Users(), "grants", len(cfg.Grants), "anonymous_grants", len(cfg.Anonymous), "shared_key", f.tokenKey != "")
	return &serveAuth{az: az, failures: failures}, nil
}

// apply sets the registry's Authorizer.
func (s *serveAuth) apply(o *registry.Options) {
	if s.az != nil {
		o.Authorizer = s.az
	}
}

// register adds the failure counter to the metrics.
func (s *serveAuth) register(m *serveMetrics) {
	if s.failures != nil {
		m.reg.MustRegister(s.failures)
	}
}

// wrap serves the token endpoint beside the registry.
func (s *serveAuth) wrap(next http.Handler) http.Handler {
	if s.az == nil {
		return next
	}
	path := s.az.TokenPath()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			s.az.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authKeys are the keys of serve.auth and of its grants.
var (
	authKeys  = []string{"groups", "grants", "anonymous"}
	grantKeys = []string{"repositories", "users", "groups", "actions"}
)

// decodeAuthConfig reads the serve.auth section, refusing keys it does not
// know (with a suggestion, as for flags), and puts the decoder's errors on
// one line.
func decodeAuthConfig(raw []byte) (auth.Config, error) {
	var cfg auth.Config
	var loose map[string]any
	if err := yaml.Unmarshal(raw, &loose); err != nil {
		return cfg, errors.New(oneLine(err))
	}
	if err := knownKeys(loose, authKeys, "serve.auth"); err != nil {
		return cfg, err
	}
	for _, list := range []string{"grants", "anonymous"} {
		items, _ := loose[list].([]any)
		for i, it := range items {
			if m, ok := it.(map[string]any); ok {
				if err := knownKeys(m, grantKeys, fmt.Sprintf("serve.auth.%s[%d]", list, i)); err != nil {
					return cfg, err
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return cfg, errors.New(oneLine(err))
	}
	return cfg, nil
}

func knownKeys(m map[string]any, known []string, where string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(known, k) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q in %s", k, where)
		if near := closest(k, slices.Clone(known)); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		} else {
			msg += "; its keys are " + strings.Join(known, ", ")
		}
		return errors.New(msg)
	}
	return nil
}

// oneLine joins the lines of a multi-line error message.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
