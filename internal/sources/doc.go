// Package sources finds the images a deployment uses, for `gantry bundle
// create --from` and `-f LIST`.
//
// FromFiles reads Kubernetes manifests (multi-document YAML; List kinds;
// Pods and the Pod templates of Deployments, StatefulSets, DaemonSets,
// ReplicaSets, ReplicationControllers, Jobs and CronJobs, with their
// containers, initContainers and ephemeralContainers), Helm-rendered YAML
// (the output of `helm template`, whose "# Source:" comments are plain YAML
// comments) and compose files (services.*.image, with ${VAR}, ${VAR:-default}
// and ${VAR-default} taken from the environment). Directories are walked for
// *.yaml and *.yml files. Documents of other kinds (Services, ConfigMaps,
// values files) are ignored. Every image is reported once, with each file
// and line that names it.
//
// ParseList reads a list file: one image per line, optionally followed by
// a platform (see ParseList for the syntax).
//
// # Short names
//
// Real manifests name Docker Hub images by short names ("nginx:1.25",
// "bitnami/redis"), which container runtimes expand to docker.io. Every
// image found is read with oci.ParseRegistryRef, the one reference parser
// (github.com/distribution/reference's normalization, as containerd and
// docker use): "nginx:1.25" becomes "docker.io/library/nginx:1.25",
// "bitnami/redis" becomes "docker.io/bitnami/redis:latest", and a first
// component with a "." or ":" in it, or "localhost", is a registry host
// and is kept. Images are reported by their full reference.
package sources
