package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"go.yaml.in/yaml/v3"
)

// Location is a place in a file that names an image.
type Location struct {
	File string
	Line int
}

// String returns FILE:LINE.
func (l Location) String() string { return fmt.Sprintf("%s:%d", l.File, l.Line) }

// Ref is an image a deployment uses.
type Ref struct {
	// Image is the full reference, normalised (see Normalize).
	Image string
	// Locations lists every place that names the image, in the order the
	// files were read.
	Locations []Location
}

// podTemplateKinds are the workload kinds whose spec.template is a Pod
// template.
var podTemplateKinds = map[string]bool{
	"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true,
	"ReplicationController": true, "Job": true,
}

// containerLists are the fields of a Pod spec that hold containers.
var containerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// FromFiles returns the images named in the Kubernetes manifests,
// Helm-rendered YAML and compose files at paths; a directory is walked for
// *.yaml and *.yml files, in lexical order. An image named several times is
// returned once, with every location; images are in the order first seen.
// A file that is not valid YAML is an error naming the file and line (a
// Helm chart's templates must be rendered first, with helm template).
func FromFiles(paths []string) ([]Ref, error) {
	var c collector
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
		if !fi.IsDir() {
			if err := c.file(p); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir // .git and the like
				}
				return nil
			}
			if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			return c.file(path)
		})
		if err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
	}
	return c.refs, nil
}

// collector merges the images found into refs.
type collector struct {
	refs  []Ref
	index map[string]int
}

func (c *collector) add(image string, loc Location) {
	if c.index == nil {
		c.index = map[string]int{}
	}
	i, ok := c.index[image]
	if !ok {
		i = len(c.refs)
		c.index[image] = i
		c.refs = append(c.refs, Ref{Image: image})
	}
	if !slices.Contains(c.refs[i].Locations, loc) {
		c.refs[i].Locations = append(c.refs[i].Locations, loc)
	}
}

func (c *collector) file(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sources: %w", err)
	}
	return c.yaml(path, data)
}

// Parse returns the images named in one YAML stream; name is the file name
// reported in locations and errors.
func Parse(name string, data []byte) ([]Ref, error) {
	var c collector
	if err := c.yaml(name, data); err != nil {
		return nil, err
	}
	return c.refs, nil
}

func (c *collector) yaml(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not valid YAML (a Helm template must be rendered first, with helm template): %v: %w", name, err, cas.ErrInvalid)
		}
		if len(doc.Content) == 0 {
			continue // an empty document between two ---
		}
		if err := c.document(name, doc.Content[0], 0); err != nil {
			return err
		}
	}
}

// maxListDepth bounds nested Lists, so a crafted document cannot recurse
// without end (YAML aliases can make a List contain itself).
const maxListDepth = 8

// document handles one top-level object: a Kubernetes object or List, or a
// compose file.
func (c *collector) document(name string, n *yaml.Node, depth int) error {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	kind := scalar(field(n, "kind"))
	switch {
	case kind == "List" || (strings.HasSuffix(kind, "List") && field(n, "items") != nil):
		if depth >= maxListDepth {
			return fmt.Errorf("%s:%d: Lists nested more than %d deep: %w", name, n.Line, maxListDepth, cas.ErrInvalid)
		}
		items := deref(field(n, "items"))
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil
		}
		for _, it := range items.Content {
			if err := c.document(name, it, depth+1); err != nil {
				return err
			}
		}
		return nil
	case kind == "Pod":
		return c.podSpec(name, field(n, "spec"))
	case kind == "CronJob":
		return c.podSpec(name, path(n, "spec", "jobTemplate", "spec", "template", "spec"))
	case podTemplateKinds[kind]:
		return c.podSpec(name, path(n, "spec", "template", "spec"))
	case kind == "PodTemplate":
		return c.podSpec(name, path(n, "template", "spec"))
	case kind == "" && field(n, "services") != nil:
		return c.compose(name, deref(field(n, "services")))
	}
	return nil
}

func (c *collector) podSpec(name string, spec *yaml.Node) error {
	spec = deref(spec)
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil
	}
	for _, list := range containerLists {
		l := deref(field(spec, list))
		if l == nil || l.Kind != yaml.SequenceNode {
			continue
		}
		for _, ctr := range l.Content {
			img := deref(field(deref(ctr), "image"))
			if img == nil || img.Kind != yaml.ScalarNode {
				continue
			}
			if err := c.image(name, img, img.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *collector) compose(name string, services *yaml.Node) error {
	if services == nil || services.Kind != yaml.MappingNode {
		return nil
	}
	for i := 1; i < len(services.Content); i += 2 {
		img := deref(field(deref(services.Content[i]), "image"))
		if img == nil || img.Kind != yaml.ScalarNode {
			continue // a service built from a Dockerfile
		}
		v, err := interpolate(img.Value)
		if err != nil {
			return fmt.Errorf("%s:%d: %v: %w", name, img.Line, err, cas.ErrInvalid)
		}
		if err := c.image(name, img, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *collector) image(name string, n *yaml.Node, value string) error {
	if strings.Contains(value, "{{") {
		return fmt.Errorf("%s:%d: image %q is an unrendered Helm template (render the chart with helm template first): %w", name, n.Line, value, cas.ErrInvalid)
	}
	ref, err := oci.ParseRegistryRef(strings.TrimSpace(value))
	if err != nil {
		return fmt.Errorf("%s:%d: image: %w", name, n.Line, err)
	}
	c.add(ref.String(), Location{File: name, Line: n.Line})
	return nil
}

// interpolate expands compose's ${VAR}, ${VAR:-default}, ${VAR-default},
// $VAR and $$ from the environment. A variable that is unset and has no
// default is an error: a bundle must not hold a guessed image.
func interpolate(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		var name, def string
		hasDef, emptyIsUnset := false, false
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("image %q: unterminated ${", s)
			}
			expr := s[i+2 : i+end]
			i += end
			switch {
			case strings.Contains(expr, ":-"):
				name, def, _ = strings.Cut(expr, ":-")
				hasDef, emptyIsUnset = true, true
			case strings.Contains(expr, "-"):
				name, def, _ = strings.Cut(expr, "-")
				hasDef = true
			default:
				name = expr
			}
		} else {
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
			i = j - 1
		}
		if name == "" {
			return "", fmt.Errorf("image %q: empty variable name", s)
		}
		v, set := os.LookupEnv(name)
		switch {
		case set && !(emptyIsUnset && v == ""):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("image %q: variable %s is not set and has no default (set it, or write ${%s:-DEFAULT})", s, name, name)
		}
	}
	return b.String(), nil
}

// field returns the value of key in a mapping node, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// path follows keys from n through nested mappings.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = field(deref(n), k)
	}
	return deref(n)
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
