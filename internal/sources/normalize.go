package sources

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
)

// DockerHub is the registry host short names are expanded to.
const DockerHub = "docker.io"

// Normalize returns the full reference HOST/REPO:TAG[@DIGEST] (or
// HOST/REPO@DIGEST) for an image name as Kubernetes, compose and docker
// write it: a name without a registry host is a Docker Hub name, so
// "nginx:1.25" becomes "docker.io/library/nginx:1.25"; a name with neither
// tag nor digest gets ":latest", as runtimes pull it. It returns an error
// wrapping cas.ErrInvalid for a name that is not a valid reference.
func Normalize(name string) (string, error) {
	s := strings.TrimSpace(name)
	if s == "" {
		return "", fmt.Errorf("empty image name: %w", cas.ErrInvalid)
	}
	s = strings.TrimPrefix(s, "docker://")
	first, rest, hasSlash := strings.Cut(s, "/")
	switch {
	case hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost"):
		if first == "index.docker.io" || first == "registry-1.docker.io" {
			s = DockerHub + "/" + rest
		}
	case hasSlash:
		s = DockerHub + "/" + s
	default:
		s = DockerHub + "/library/" + s
	}
	if strings.HasPrefix(s, DockerHub+"/") && !strings.Contains(strings.TrimPrefix(s, DockerHub+"/"), "/") {
		s = DockerHub + "/library/" + strings.TrimPrefix(s, DockerHub+"/")
	}
	ref, err := oci.ParseImageRef(s)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", name, err)
	}
	if ref.Transport != oci.TransportRegistry {
		return "", fmt.Errorf("image %q: not a registry reference: %w", name, cas.ErrInvalid)
	}
	return ref.String(), nil
}
