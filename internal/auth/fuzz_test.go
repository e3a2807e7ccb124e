package auth

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseHtpasswd: any input parses or fails with an error naming a
// line, never panics, and a parsed file only holds bcrypt hashes.
func FuzzParseHtpasswd(f *testing.F) {
	f.Add("alice:$2a$04$ABCDEFGHIJKLMNOPQRSTUOabcdefghijklmnopqrstuvwxyz01234\n")
	f.Add("# c\n\nbob:$apr1$x$y\n")
	f.Add("carol:{SHA}abc\n:x\nno-colon\n")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := ParseHtpasswd(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		for u, hash := range h.users {
			if _, err := checkHash(string(hash)); err != nil || u == "" {
				t.Fatalf("user %q kept with hash %q", u, hash)
			}
		}
	})
}

// FuzzParseScopes: any scope parameter parses or fails, never panics, and
// what parses has known types, a name and known actions, and formats back
// to something that parses to the same.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull,push", "registry:catalog:*", "repository(plugin):h:5000/x:*", "a b c", "repository::", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		scopes, err := ParseScopes([]string{in})
		if err != nil {
			return
		}
		for _, s := range scopes {
			if s.Type != "repository" && s.Type != "registry" || s.Name == "" || len(s.Actions) == 0 {
				t.Fatalf("scope %+v from %q", s, in)
			}
			again, err := ParseScopes([]string{s.String()})
			if err != nil || len(again) != 1 || again[0].String() != s.String() {
				t.Fatalf("%q formats to %q, which parses to %v, %v", in, s.String(), again, err)
			}
		}
	})
}

// FuzzVerifyToken: no byte string but a token the key signed is accepted.
func FuzzVerifyToken(f *testing.F) {
	key, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	s := signer{key: key, service: "gantry"}
	now := time.Unix(1_800_000_000, 0)
	good, err := s.sign("alice", kindAccess, []Scope{{"repository", "a", []string{"pull"}}}, now, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.verify(tok, kindAccess, now)
		if err == nil && tok != good {
			t.Fatalf("accepted %q as %+v", tok, c)
		}
	})
}
