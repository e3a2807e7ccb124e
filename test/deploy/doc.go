// Package deploy tests what gantry ships for deployment: the Helm chart in
// deploy/helm/gantry, linted and rendered by the real helm binary, and
// gantry's own image, whose Dockerfile must pass gantry lint and which
// buildah builds and inspects. Under CI=true a missing helm or buildah
// fails the test; scripts/install-test-deps.sh installs them.
package deploy
