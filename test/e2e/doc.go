// Package e2e drives the built gantry binary against real tools: skopeo,
// CNCF Distribution, crane, buildah, containerd and the OCI conformance
// suite, with `gantry serve` as the registry they talk to, plus load and
// fault tests of the server (64 clients, kill -9, abandoned uploads), and
// `gantry serve --s3` replicas on a MinIO bucket (s3_test.go). Under
// CI=true a missing tool fails the test; scripts/install-test-deps.sh
// installs them all.
package e2e
