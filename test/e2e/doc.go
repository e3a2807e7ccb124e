// Package e2e drives the built gantry binary against real tools: skopeo,
// CNCF Distribution, and (later) crane, containerd and buildah. Under
// CI=true a missing tool fails the test; scripts/install-test-deps.sh
// installs them all.
package e2e
