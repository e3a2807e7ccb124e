// Package auth is the access control of gantry serve: who a request comes
// from (htpasswd users with bcrypt passwords, Basic credentials or signed
// tokens) and what it may do (grants of pull, push and delete per
// repository pattern).
//
// It speaks the token protocol registry clients expect
// (https://distribution.github.io/distribution/spec/auth/token/): a request
// without acceptable credentials gets 401 with
//
//	WWW-Authenticate: Bearer realm="http://HOST/token",service="gantry",scope="repository:NAME:pull,push"
//
// the client asks the realm (served by Authority itself) for a token,
// with Basic credentials or none, by GET (scope parameters, possibly
// repeated) or by the OAuth2 POST form (grant_type=password or
// refresh_token), and sends it back as "Authorization: Bearer TOKEN".
// Tokens are JWTs signed with Ed25519 (a key generated at start, or read
// from a file so that replicas accept each other's tokens) and expire.
// Basic credentials are accepted on every request as well, for clients
// that send them first.
//
// Authority implements the registry's Authorizer: the handler asks it once
// per request who the caller is, then asks the Caller whether it may pull,
// push or delete in the repositories the request touches. Errors carry
// their HTTP status, OCI error code and challenge header, so the handler
// answers them like any other error:
//
//   - no or wrong credentials: 401 UNAUTHORIZED with the challenge;
//   - an expired or badly signed token: 401 UNAUTHORIZED, error="invalid_token";
//   - a token without the scope the request needs, which the caller's
//     grants allow: 401 UNAUTHORIZED with that scope, error="insufficient_scope"
//     (the client fetches a token for it and retries);
//   - a known caller without the grant: 403 DENIED;
//   - too many failed logins from one client address: 429 TOOMANYREQUESTS
//     with Retry-After.
//
// The package has no CLI code and no metrics of its own: Options.OnFailure
// hears every failure by reason.
package auth
