#!/usr/bin/env bash
# Installs everything gantry's tests need on a fresh Debian 12 machine, and
# nothing when it is all there already. Run as root (CI and the dev machines
# are). Safe to run again.
set -euo pipefail

# Debian packages: the real tools the end-to-end tests drive.
#   skopeo          reads gantry's store as an OCI layout; copies to and from registries
#   docker-registry CNCF Distribution 2.8, a real registry for the remote client
#   busybox-static  a static binary to build a small runnable test image
#   containerd      pulls from gantry serve and runs the image (brings runc)
#   buildah         builds an image and pushes it to gantry serve
#   iproute2        network namespaces, veth pairs and a bridge: the agents' e2e
#                   cluster (util-linux's nsenter enters them)
#   systemd         systemd-analyze verify checks deploy/systemd/gantry.service
#                   (installed, not started)
#   redis-server    the Redis through which tracker replicas share their state
#   debootstrap     the Debian bases of the benchmark fleet (bench/images/build.sh)
#   libisal-dev     Intel's ISA-L: make build inflates gzip layers with it (-tags isal)
#   pkg-config      finds it for cgo
# Versions are Debian 12's (bookworm and its security updates): the distribution
# pins them, and the mirrors keep only the current point release.
apt_pkgs=(skopeo docker-registry busybox-static containerd runc buildah chromium iproute2 util-linux systemd redis-server debootstrap libisal-dev pkg-config)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-test-deps: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go tools, pinned.
gobin="$(go env GOPATH)/bin"
install_go_tool() { # name module@version
	if ! [ -x "$gobin/$1" ]; then
		echo "install-test-deps: go install $2"
		go install "$2"
	fi
}
install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
# crane: push, pull, catalog, ls and manifest against gantry serve.
install_go_tool crane github.com/google/go-containerregistry/cmd/crane@v0.22.1
# The large ones build side by side (their modules overlap, and one build's
# download and link phases leave the cores to the other's compiles):
# cosign signs images in gantry serve and verifies them at the site (bundle
# trust e2e; about 8.5 minutes alone on a 2-core machine); oras attaches an
# SBOM through the referrers API and discovers it; helm lints and renders
# deploy/helm/gantry (test/deploy; a helm already on PATH is kept); minio
# is the S3 server of the S3 store's tests.
pids=()
install_go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5 & pids+=($!)
install_go_tool oras oras.land/oras/cmd/oras@v1.3.6 & pids+=($!)
# minio: the S3 server the S3 store's tests and e2e run (internal/store/s3/s3test);
# a large build, cached in GOPATH/bin like the others.
install_go_tool minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c & pids+=($!)
if ! command -v helm >/dev/null; then
	install_go_tool helm helm.sh/helm/v4/cmd/helm@v4.3.2 & pids+=($!)
fi
for pid in "${pids[@]}"; do wait "$pid"; done
