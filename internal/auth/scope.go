package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Actions on a repository, as scopes and grants name them.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
)

// actionCatalog is the one action on the registry itself a token can
// carry ("registry:catalog:*"): listing the repositories.
const actionCatalog = "catalog"

// allActions is what "*" stands for in a scope or a grant.
var allActions = []string{ActionPull, ActionPush, ActionDelete}

// Scope is one resource and the actions asked on it, as in a token
// request's scope parameter or a token's access claim.
type Scope struct {
	// Type is "repository" or "registry".
	Type string `json:"type"`
	// Name is the repository name, or "catalog" for the registry.
	Name string `json:"name"`
	// Actions are "pull", "push", "delete" (or "*" for the registry's
	// catalog), without repeats.
	Actions []string `json:"actions"`
}

// String formats s as a scope parameter: "repository:NAME:pull,push".
func (s Scope) String() string {
	return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// maxScopes bounds the scopes of one token request.
const maxScopes = 64

// ParseScopes reads the scope parameters of a token request. Each value
// may hold several scopes separated by spaces (RFC 6749's form), and each
// scope is TYPE[(CLASS)]:NAME:ACTIONS, the name read between the first
// and the last colon. "*" among a repository's actions stands for pull,
// push and delete. Unknown resource types and actions are kept out, not
// refused: a client asks for what it might use, and gets what it may.
func ParseScopes(values []string) ([]Scope, error) {
	var out []Scope
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			sc, ok, err := parseScope(s)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if len(out) == maxScopes {
				return nil, fmt.Errorf("more than %d scopes in one request", maxScopes)
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

func parseScope(s string) (Scope, bool, error) {
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i < 0 || i == j {
		return Scope{}, false, fmt.Errorf("scope %q: want TYPE:NAME:ACTIONS", s)
	}
	typ, name, acts := s[:i], s[i+1:j], s[j+1:]
	if k := strings.IndexByte(typ, '('); k >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:k] // a resource class, as "repository(plugin)"
	}
	if name == "" {
		return Scope{}, false, fmt.Errorf("scope %q: empty name", s)
	}
	sc := Scope{Type: typ, Name: name}
	switch typ {
	case "repository":
		for a := range strings.SplitSeq(acts, ",") {
			switch a {
			case ActionPull, ActionPush, ActionDelete:
				sc.Actions = appendNew(sc.Actions, a)
			case "*":
				for _, x := range allActions {
					sc.Actions = appendNew(sc.Actions, x)
				}
			}
		}
	case "registry":
		if name != actionCatalog || !slices.Contains(strings.Split(acts, ","), "*") {
			return Scope{}, false, nil
		}
		sc.Actions = []string{"*"}
	default:
		return Scope{}, false, nil
	}
	if len(sc.Actions) == 0 {
		return Scope{}, false, nil
	}
	return sc, true, nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
