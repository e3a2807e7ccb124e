package auth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Grant gives users and groups actions on the repositories matching a
// pattern.
type Grant struct {
	// Repositories is a pattern of repository names: "*" matches any run
	// of characters but "/", "**" any run at all (so "team/**" is every
	// repository under team/, "**" every repository), anything else
	// matches itself.
	Repositories string `yaml:"repositories" json:"repositories"`
	// Users are htpasswd user names; "*" is every authenticated user.
	// Ignored in Config.Anonymous.
	Users []string `yaml:"users,omitempty" json:"users,omitempty"`
	// Groups name entries of Config.Groups.
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Actions are "pull", "push" and "delete", or "*" for the three.
	Actions []string `yaml:"actions" json:"actions"`
}

// Config is who may do what: the auth section of gantry serve's config.
// Its zero value lets every htpasswd user pull and push every repository,
// and nobody else do anything.
type Config struct {
	// Groups are named lists of users, for grants to share.
	Groups map[string][]string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Grants are what authenticated users may do. With none, every user
	// may pull and push everywhere (not delete).
	Grants []Grant `yaml:"grants,omitempty" json:"grants,omitempty"`
	// Anonymous are what requests without credentials may do, such as
	// pull on "public/**". Default: nothing.
	Anonymous []Grant `yaml:"anonymous,omitempty" json:"anonymous,omitempty"`
}

// Policy answers whether a user may do an action on a repository. It is
// built once from a Config and is read-only afterwards.
type Policy struct {
	grants    []rule
	anonymous []rule
}

type rule struct {
	re       *regexp.Regexp
	everyone bool // users: ["*"]
	users    map[string]bool
	actions  []string
}

// NewPolicy checks c and compiles it. Errors name the grant at fault.
func NewPolicy(c Config) (*Policy, error) {
	p := &Policy{}
	grants := c.Grants
	if len(grants) == 0 {
		grants = []Grant{{Repositories: "**", Users: []string{"*"}, Actions: []string{ActionPull, ActionPush}}}
	}
	for i, g := range grants {
		r, err := compileGrant(g, c.Groups, true)
		if err != nil {
			return nil, fmt.Errorf("grants[%d] (%s): %w", i, g.Repositories, err)
		}
		p.grants = append(p.grants, r)
	}
	for i, g := range c.Anonymous {
		r, err := compileGrant(g, nil, false)
		if err != nil {
			return nil, fmt.Errorf("anonymous[%d] (%s): %w", i, g.Repositories, err)
		}
		p.anonymous = append(p.anonymous, r)
	}
	return p, nil
}

func compileGrant(g Grant, groups map[string][]string, named bool) (rule, error) {
	re, err := compilePattern(g.Repositories)
	if err != nil {
		return rule{}, err
	}
	r := rule{re: re, users: map[string]bool{}}
	if len(g.Actions) == 0 {
		return rule{}, errors.New("no actions: want pull, push, delete or *")
	}
	for _, a := range g.Actions {
		switch a {
		case ActionPull, ActionPush, ActionDelete:
			r.actions = appendNew(r.actions, a)
		case "*":
			for _, x := range allActions {
				r.actions = appendNew(r.actions, x)
			}
		default:
			return rule{}, fmt.Errorf("unknown action %q: want pull, push, delete or *", a)
		}
	}
	if !named {
		if len(g.Users) > 0 || len(g.Groups) > 0 {
			return rule{}, errors.New("an anonymous grant names no users or groups")
		}
		return r, nil
	}
	for _, u := range g.Users {
		if u == "*" {
			r.everyone = true
		}
		r.users[u] = true
	}
	for _, name := range g.Groups {
		members, ok := groups[name]
		if !ok {
			return rule{}, fmt.Errorf("unknown group %q", name)
		}
		for _, u := range members {
			r.users[u] = true
		}
	}
	if len(g.Users) == 0 && len(g.Groups) == 0 {
		return rule{}, errors.New("no users or groups: name them, or users: [\"*\"] for every user")
	}
	return r, nil
}

// compilePattern turns a repository pattern into an anchored regexp.
func compilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("empty repositories pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i += 2
		case p[i] == '*':
			b.WriteString("[^/]*")
			i++
		default:
			j := i
			for j < len(p) && p[j] != '*' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(p[i:j]))
			i = j
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Allows reports whether user ("" for an anonymous request) may do action
// on repository.
func (p *Policy) Allows(user, repository, action string) bool {
	// What anonymous requests may do, users may do too.
	for _, r := range p.anonymous {
		if slices.Contains(r.actions, action) && r.re.MatchString(repository) {
			return true
		}
	}
	if user == "" {
		return false
	}
	for _, r := range p.grants {
		if (r.everyone || r.users[user]) && slices.Contains(r.actions, action) && r.re.MatchString(repository) {
			return true
		}
	}
	return false
}

// allowed returns the actions of want that user may do on repository.
func (p *Policy) allowed(user, repository string, want []string) []string {
	var out []string
	for _, a := range want {
		if p.Allows(user, repository, a) {
			out = append(out, a)
		}
	}
	return out
}
