package copy

import (
	"strings"

	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Error is the error of a failed copy: where in the graph it failed, which
// side failed, and why. Every error Copy and CopyGraph return is an *Error;
// callers that explain a failure (bundle create names the images
// concerned, a command suggests what to do) take it apart with errors.As
// instead of parsing its text. errors.Is sees through it to the cause's
// cas sentinel.
type Error struct {
	// Ref is the reference Copy resolved, when it was given one that is
	// not a digest: it starts the path as the name the user typed.
	Ref string
	// Path leads from the root to the node that failed, root first. It is
	// empty when nothing of the graph was reached (the reference did not
	// resolve) or the failure concerns the whole copy (the final tag).
	Path []Step
	// Side says which store failed.
	Side Side
	// Err is the cause. It wraps the cas sentinel that applies
	// (cas.ErrNotFound, cas.ErrDigestMismatch, ...).
	Err error
}

// Step is one node of an Error's path.
type Step struct {
	// Kind is what the node is to its parent: "index", "manifest",
	// "config" or "layer" (a root whose media type is not known yet is a
	// "manifest").
	Kind string
	// Desc describes the node, with the platform of an index entry.
	Desc ocispec.Descriptor
}

// Side is the store to blame for an Error.
type Side int

// The sides of a copy.
const (
	// SideUnknown: neither store in particular, such as a copy cancelled
	// by its caller.
	SideUnknown Side = iota
	// SideSource: the source failed to serve the content, or served
	// content that is wrong (bytes that do not match their descriptor, a
	// manifest that does not parse, a child it does not have).
	SideSource
	// SideDestination: the destination failed to say what it holds, to
	// store the content or to tag the root.
	SideDestination
)

// String returns the side's name, for logs.
func (s Side) String() string {
	switch s {
	case SideSource:
		return "source"
	case SideDestination:
		return "destination"
	}
	return "unknown"
}

// Error returns one line: the path from the image to the failing node,
// then the cause ("img:v1 > index sha256:… > manifest sha256:… (linux/amd64)
// > layer sha256:…: not found"). The parents' digests are shortened, the
// failing node's kept whole, so the line stays readable and still names
// exactly what failed; the digest that stores put at the start of their
// messages is dropped when the path already ends with it, so the line names
// each thing once.
func (e *Error) Error() string {
	msg := e.Err.Error()
	if len(e.Path) > 0 {
		if d := e.Path[len(e.Path)-1].Desc.Digest.String(); d != "" {
			msg = strings.TrimPrefix(msg, d+": ")
			msg = strings.TrimPrefix(msg, "manifest "+d+": ")
			msg = strings.TrimPrefix(msg, "index "+d+": ")
		}
	}
	path := formatPath(e.Ref, e.Path)
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func formatPath(ref string, path []Step) string {
	var b strings.Builder
	if len(path) > 0 && ref != "" && ref != path[0].Desc.Digest.String() { // a digest is in the path already
		b.WriteString(ref)
	}
	for i, s := range path {
		if b.Len() > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(s.Kind)
		if s.Desc.Digest == "" {
			continue
		}
		d := s.Desc.Digest.String()
		if i < len(path)-1 && len(d) > 19 {
			d = d[:19] // algorithm and 12 hex digits, as docker prints
		}
		b.WriteString(" " + d)
		if s.Desc.Platform != nil {
			b.WriteString(" (" + oci.FormatPlatform(s.Desc.Platform) + ")")
		}
	}
	return b.String()
}

// path locates a node while the copy walks: the steps from the root.
type path []Step

func (p path) with(kind string, d ocispec.Descriptor) path {
	return append(p[:len(p):len(p)], Step{Kind: kind, Desc: d})
}
