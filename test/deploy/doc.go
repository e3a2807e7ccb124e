// Package deploy tests what gantry ships for deployment: the Helm chart in
// deploy/helm/gantry, linted and rendered by the real helm binary, its
// agent pod run on the test machine (the init script under busybox, the
// tracker and the agent with the rendered arguments); and gantry's own
// image, whose Dockerfile must pass gantry lint, which buildah builds and
// inspects and containerd runs. Under CI=true a missing tool fails the
// test; scripts/install-test-deps.sh installs them.
package deploy
