package lint

import (
	"strconv"
	"strings"
)

// imageRef is an image reference split into its parts, without validation:
// a Dockerfile may hold references gantry's strict parser would reject and
// the rules should still say something useful.
type imageRef struct {
	registry string // "docker.io" for Docker Hub
	repo     string // with "library/" for official images
	tag      string
	digest   string
}

func parseImageRef(s string) imageRef {
	var r imageRef
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s, r.digest = s[:i], s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "/") {
		s, r.tag = s[:i], s[i+1:]
	}
	first, rest, ok := strings.Cut(s, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.registry, r.repo = first, rest
	} else {
		r.registry, r.repo = "docker.io", s
	}
	if r.registry == "index.docker.io" || r.registry == "registry-1.docker.io" {
		r.registry = "docker.io"
	}
	if r.registry == "docker.io" && !strings.Contains(r.repo, "/") {
		r.repo = "library/" + r.repo
	}
	return r
}

// allowed reports whether ref is under one of the allowed registries or
// repository prefixes.
func allowed(ref imageRef, list []string) bool {
	full := ref.registry + "/" + ref.repo
	for _, a := range list {
		a = strings.TrimSuffix(strings.ToLower(a), "/")
		a = strings.TrimPrefix(a, "index.")
		if a == ref.registry || strings.HasPrefix(full, a+"/") || full == a {
			return true
		}
		if a == "docker.io/library" && ref.registry == "docker.io" && strings.HasPrefix(ref.repo, "library/") {
			return true
		}
	}
	return false
}

func unresolved(s string) bool { return strings.Contains(s, "$") }

func checkBase(d *dockerfile, opts *Options) {
	policy := opts.Config.Digests
	for _, s := range d.stages {
		if s.baseStage != nil || strings.EqualFold(s.base, "scratch") || s.base == "" {
			continue
		}
		in := s.from
		if unresolved(s.base) {
			continue // an ARG with no default: the reference is unknown here
		}
		ref := parseImageRef(s.base)
		switch {
		case ref.tag == "" && ref.digest == "":
			d.add("GL101", in, "pin %s to a version tag and digest (%s:<version>@sha256:...)", s.base, s.base)
		case ref.tag == "latest" && ref.digest == "":
			d.add("GL102", in, "replace %s with a version tag and digest", s.base)
		}
		if ref.digest == "" && policy != "ignore" {
			d.add("GL103", in, "pin %s by digest (@sha256:...) so rebuilds get the same base", s.base)
		}
		if len(opts.Config.AllowedRegistries) > 0 && !allowed(ref, opts.Config.AllowedRegistries) {
			d.add("GL104", in, "pull %s from an allowed registry (%s)", s.base, strings.Join(opts.Config.AllowedRegistries, ", "))
		}
		if s.platform != "" && !unresolved(s.platform) && !s.fromDollar {
			d.add("GL106", in, "drop --platform=%s or use $BUILDPLATFORM/$TARGETPLATFORM", s.platform)
		}
		if s.n == 0 && !s.final && s.copiedFrom && !s.usedAsBase {
			name := s.name
			if name == "" {
				name = "stage " + strconv.Itoa(s.index)
			}
			d.add("GL105", in, "write COPY --from=%s instead of copying from %s, which only names the image", s.base, name)
		}
	}
	// Images named by COPY --from and RUN --mount from= are pulled too
	// (a bare word is more likely a misspelt stage: GL612 reports it).
	if len(opts.Config.AllowedRegistries) == 0 {
		return
	}
	for _, in := range d.refs {
		for _, ref := range in.fromRefs(d) {
			if d.stageRef(ref) != nil || unresolved(ref) || isIndex(ref) || !strings.ContainsAny(ref, ":/.@") {
				continue
			}
			if r := parseImageRef(ref); !allowed(r, opts.Config.AllowedRegistries) {
				d.add("GL104", in, "copy from an image in an allowed registry (%s), not %s", strings.Join(opts.Config.AllowedRegistries, ", "), ref)
			}
		}
	}
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
