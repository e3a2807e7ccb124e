package oci

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/opencontainers/go-digest"
)

// Transports gantry reads and writes, named as skopeo names them.
const (
	// TransportRegistry is a registry speaking the distribution API:
	// "docker://HOST[:PORT]/REPO:TAG", or the same without the prefix,
	// where a name without a host is a Docker Hub name (ParseRegistryRef).
	TransportRegistry = "docker"
	// TransportLayout is an OCI image layout directory, gantry's own store
	// included: "oci:DIR:REPO:TAG" or "oci:DIR:REPO@DIGEST".
	TransportLayout = "oci"
)

// Name grammars of distribution-spec v1.1 ("Pulling manifests").
var (
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
)

// MaxRepositoryLength bounds a repository name, as registries commonly do.
const MaxRepositoryLength = 255

// ValidateRepository checks a repository name against the distribution-spec
// grammar (lower-case components separated by "/", no "..", no leading "/").
func ValidateRepository(name string) error {
	if len(name) > MaxRepositoryLength || !repositoryRE.MatchString(name) {
		return fmt.Errorf("repository name %q is invalid (want lower-case components like library/alpine, at most %d characters): %w", name, MaxRepositoryLength, cas.ErrInvalid)
	}
	return nil
}

// ValidateTag checks a tag against the distribution-spec grammar,
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. It is a byte loop rather than the
// regular expression: opening a store checks every tag of index.json.
func ValidateTag(tag string) error {
	if !validTag(tag) {
		return fmt.Errorf("tag %q is invalid (want [A-Za-z0-9_][A-Za-z0-9._-]{0,127}): %w", tag, cas.ErrInvalid)
	}
	return nil
}

func validTag(tag string) bool {
	if len(tag) == 0 || len(tag) > 128 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ImageRef names an image in a place: a registry repository or a repository
// of an OCI layout directory, by tag, digest or both.
type ImageRef struct {
	Transport  string        // TransportRegistry or TransportLayout
	Registry   string        // HOST[:PORT], for TransportRegistry
	Dir        string        // the layout directory, for TransportLayout
	Repository string        // e.g. library/alpine
	Tag        string        // may be empty when Digest is set
	Digest     digest.Digest // may be empty when Tag is set
}

// Reference returns what to resolve in the repository: the digest when set
// (it pins the content), else the tag.
func (r ImageRef) Reference() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// Name returns REPO:TAG, REPO@DIGEST or REPO:TAG@DIGEST.
func (r ImageRef) Name() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// String returns the reference in the form ParseImageRef reads.
func (r ImageRef) String() string {
	if r.Transport == TransportLayout {
		return "oci:" + r.Dir + ":" + r.Name()
	}
	return r.Registry + "/" + r.Name()
}

// ParseImageRef parses an image reference: "[docker://]NAME" for a
// registry image, where NAME is read as docker, containerd, skopeo and crane
// read it (see ParseRegistryRef: "busybox:1.36" is
// docker.io/library/busybox:1.36), or "oci:DIR:REPO[:TAG][@DIGEST]" for an
// image of an OCI layout directory. A reference with neither tag nor digest
// gets the tag "latest".
func ParseImageRef(s string) (ImageRef, error) {
	transport, rest, ok := strings.Cut(s, ":")
	switch {
	case ok && transport == TransportLayout:
		return parseLayoutRef(s, rest)
	case ok && transport == TransportRegistry && strings.HasPrefix(rest, "//"):
		return parseRegistryRef(s, rest[2:])
	case ok && strings.HasPrefix(rest, "//"):
		return ImageRef{}, fmt.Errorf("reference %q: unknown transport %q (use docker://HOST/REPO:TAG or oci:DIR:REPO:TAG): %w", s, transport, cas.ErrInvalid)
	case ok && transport == "docker-archive":
		// Read by package archive, as a source only: the commands that
		// take a source (copy, bundle create) parse it before calling here.
		return ImageRef{}, fmt.Errorf("reference %q: a docker-archive tarball is read only as a source (gantry copy SRC, bundle create): %w", s, cas.ErrUnsupported)
	case ok && unsupportedTransports[transport]:
		return ImageRef{}, fmt.Errorf("reference %q: transport %q is not supported yet: gantry reads docker://HOST/REPO:TAG, oci:DIR:REPO:TAG and, as a source, docker-archive:FILE[:IMAGE] (convert first: skopeo copy %s oci:DIR:REPO:TAG): %w", s, transport, s, cas.ErrUnsupported)
	}
	return parseRegistryRef(s, s)
}

// ParseRegistryRef parses a registry image name as Kubernetes manifests,
// compose files, docker, containerd, skopeo and crane write it, with the
// normalization of github.com/distribution/reference: a first component
// that has a "." or ":", is "localhost" or has upper-case letters is the
// registry host; any other name is a Docker Hub name, "nginx:1.25" being
// docker.io/library/nginx:1.25 and "bitnami/redis" docker.io/bitnami/redis.
// index.docker.io and registry-1.docker.io are spelled docker.io (see
// RegistryEndpoint for the host contacted). An optional "docker://" prefix
// is dropped; other transports are refused (use ParseImageRef for those).
// A name with neither tag nor digest gets the tag "latest", as runtimes
// pull it. Errors wrap cas.ErrInvalid.
func ParseRegistryRef(s string) (ImageRef, error) {
	return parseRegistryRef(s, strings.TrimPrefix(s, "docker://"))
}

// DockerHub is Docker Hub's name in references; DockerHubEndpoint is the
// host its registry API answers on (docker.io itself does not serve it).
const (
	DockerHub         = "docker.io"
	DockerHubEndpoint = "registry-1.docker.io"
)

// RegistryEndpoint returns the host to send distribution API requests to
// for a reference's registry host: Docker Hub's names (docker.io,
// index.docker.io) are answered by registry-1.docker.io, as docker,
// skopeo and crane know; any other host is its own endpoint.
func RegistryEndpoint(host string) string {
	switch host {
	case DockerHub, "index.docker.io":
		return DockerHubEndpoint
	}
	return host
}

// UpstreamRepository returns the name under which the registry at host (as
// references name it, or its API endpoint) knows the repository path:
// Docker Hub keeps its official images under library/, so "nginx" there is
// "library/nginx", as docker, skopeo and crane read it. Other hosts keep
// path as it is.
func UpstreamRepository(host, path string) string {
	if RegistryEndpoint(host) == DockerHubEndpoint && !strings.Contains(path, "/") {
		return "library/" + path
	}
	return path
}

// unsupportedTransports are skopeo's transports that gantry does not read
// (docker-archive, which it reads as a source, is not one of them), named
// so that their references get a clear error rather than a bad name. It is
// the one list: every command's reference goes through ParseImageRef.
var unsupportedTransports = map[string]bool{
	"oci-archive": true, "dir": true, "docker-daemon": true,
	"containers-storage": true, "ostree": true, "sif": true, "tarball": true,
}

func parseRegistryRef(orig, s string) (ImageRef, error) {
	if strings.TrimSpace(s) == "" {
		return ImageRef{}, fmt.Errorf("empty image reference: %w", cas.ErrInvalid)
	}
	if host, rest, ok := strings.Cut(s, "/"); ok && host == DockerHubEndpoint {
		s = DockerHub + "/" + rest // the library knows index.docker.io only
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ImageRef{}, fmt.Errorf("reference %q: %v (want [HOST[:PORT]/]REPO[:TAG][@DIGEST], lower-case REPO): %w", orig, err, cas.ErrInvalid)
	}
	ref := ImageRef{Transport: TransportRegistry, Registry: reference.Domain(named), Repository: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		ref.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		// The library accepts any algorithm go-digest knows; gantry's
		// stores hash with the ones cas.ValidateDigest allows.
		if err := cas.ValidateDigest(d.Digest()); err != nil {
			return ImageRef{}, fmt.Errorf("reference %q: %w", orig, err)
		}
		ref.Digest = d.Digest()
	}
	if err := ValidateRepository(ref.Repository); err != nil {
		return ImageRef{}, fmt.Errorf("reference %q: %w", orig, err)
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}

func parseLayoutRef(orig, rest string) (ImageRef, error) {
	dir, name, ok := strings.Cut(rest, ":")
	if dir == "" {
		return ImageRef{}, fmt.Errorf("reference %q: no directory (write oci:DIR:REPO:TAG): %w", orig, cas.ErrInvalid)
	}
	if !ok || name == "" {
		return ImageRef{}, fmt.Errorf("reference %q: no image in the layout (write oci:%s:REPO:TAG or oci:%s:REPO@DIGEST): %w", orig, dir, dir, cas.ErrInvalid)
	}
	ref := ImageRef{Transport: TransportLayout, Dir: dir}
	// The repository ends at the digest, or at the last ":" after the last
	// "/" (a ref.name may start with "HOST:PORT/", as ctr and skopeo write).
	repo, _, _ := strings.Cut(name, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	ref.Repository = repo
	if err := ValidateLayoutRepository(repo); err != nil {
		return ImageRef{}, fmt.Errorf("reference %q: %w", orig, err)
	}
	if err := splitTagDigest(&ref, orig, name[len(repo):]); err != nil {
		return ImageRef{}, err
	}
	return ref, nil
}

// ValidateLayoutRepository checks a repository name of an OCI layout: a
// distribution-spec repository name, optionally after "HOST[:PORT]/", since
// skopeo and ctr write full references into org.opencontainers.image.ref.name.
func ValidateLayoutRepository(repo string) error {
	if len(repo) <= MaxRepositoryLength && repositoryRE.MatchString(repo) {
		// A repository name, whatever its first component looks like
		// ("registry.local_5000/apps/api", SiteRepository's spelling).
		return nil
	}
	host, name := SplitRepositoryHost(repo)
	if host != "" && !hostRE.MatchString(host) {
		return fmt.Errorf("repository %q: bad registry host %q: %w", repo, host, cas.ErrInvalid)
	}
	return ValidateRepository(name)
}

// SplitRepositoryHost splits a repository name into its registry host and
// its path: the first component is a host when it has a "." or ":" or is
// "localhost", as in github.com/distribution/reference (which also takes an
// upper-case first component for a host; a stored name never has one).
// host is "" when the name has none ("team/app", "library/nginx").
func SplitRepositoryHost(repo string) (host, path string) {
	first, rest, ok := strings.Cut(repo, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "", repo
}

var hostRE = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?)(:[0-9]{1,5})?$`)

// splitTagDigest reads the ":TAG", "@DIGEST" or ":TAG@DIGEST" suffix.
func splitTagDigest(ref *ImageRef, orig, suffix string) error {
	tagPart, dgst, hasDigest := strings.Cut(suffix, "@")
	if hasDigest {
		d := digest.Digest(dgst)
		if err := cas.ValidateDigest(d); err != nil {
			return fmt.Errorf("reference %q: %w", orig, err)
		}
		ref.Digest = d
	}
	switch {
	case tagPart == "":
	case tagPart[0] != ':':
		return fmt.Errorf("reference %q: unexpected %q after the repository: %w", orig, tagPart, cas.ErrInvalid)
	default:
		if err := ValidateTag(tagPart[1:]); err != nil {
			return fmt.Errorf("reference %q: %w", orig, err)
		}
		ref.Tag = tagPart[1:]
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return nil
}

// SiteRepository returns the repository an image gets at a site (gantry's
// store after bundle load, a registry after bundle push, gantry serve
// --bundle) from its repository name where it came from: the one rule for
// a source registry's host, so that every name a site holds is a valid
// distribution-spec name, served and listed alike.
//
// By default the source host is dropped, as a registry mirror is asked for
// it: "registry.local:5000/apps/api" and "docker.io/library/nginx" are
// "apps/api" and "library/nginx". With keepHost the host becomes the first
// path component, by HostComponent: "registry.local:5000/apps/api" is
// "registry.local_5000/apps/api". A name without a host ("team/app", as an
// OCI layout may name an image) is kept as it is. The result is checked
// with ValidateRepository; errors wrap cas.ErrInvalid.
func SiteRepository(name string, keepHost bool) (string, error) {
	host, path := SplitRepositoryHost(name)
	site := path
	if keepHost && host != "" {
		c, err := HostComponent(host)
		if err != nil {
			return "", fmt.Errorf("repository %q: %w", name, err)
		}
		site = c + "/" + path
	}
	if err := ValidateRepository(site); err != nil {
		return "", fmt.Errorf("repository %q at the site: %w", name, err)
	}
	return site, nil
}

// HostComponent spells a registry host (HOST[:PORT]) as one repository
// path component: lower case (host names are case-insensitive), the port
// after "_" ("registry.local:5000" is "registry.local_5000"), an IPv6
// address written out in full with "-" for ":" ("[::1]:5000" is
// "0000-0000-0000-0000-0000-0000-0000-0001_5000"). A host name never holds
// "_", so two hosts, or one host on two ports, never share a component;
// only an IPv6 address and a DNS name spelt like its written-out form
// could. Errors wrap cas.ErrInvalid.
func HostComponent(host string) (string, error) {
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		name, port = host[:i], host[i+1:]
	}
	if inner, ok := strings.CutPrefix(name, "["); ok {
		addr, err := netip.ParseAddr(strings.TrimSuffix(inner, "]"))
		if err != nil || !strings.HasSuffix(inner, "]") || !addr.Is6() {
			return "", fmt.Errorf("registry host %q: bad IPv6 address: %w", host, cas.ErrInvalid)
		}
		name = strings.ReplaceAll(addr.StringExpanded(), ":", "-")
	}
	c := strings.ToLower(name)
	if port != "" {
		c += "_" + port
	}
	if !hostRE.MatchString(host) || !componentRE.MatchString(c) {
		return "", fmt.Errorf("registry host %q cannot be a repository component (got %q): %w", host, c, cas.ErrInvalid)
	}
	return c, nil
}

// componentRE is one path component of a repository name
// (distribution-spec v1.1).
var componentRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
