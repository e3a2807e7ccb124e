# gantry's own image: the statically linked binary, the CA certificates it
# checks upstream registries' TLS against, and nothing else (no shell, no
# package manager). The build context is bin/image, which `make image-bin`
# fills (CGO_ENABLED=0, so the binary needs no libc); `make image` builds
# this file with buildah. Nothing is downloaded during the build.
FROM scratch

ARG VERSION=dev
ARG REVISION=unknown

LABEL org.opencontainers.image.title="gantry" \
      org.opencontainers.image.description="Standardized, immutable delivery of container images: registry, offline bundles, peer-to-peer distribution, image analysis" \
      org.opencontainers.image.source="https://github.com/gantry-dev/gantry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY gantry /gantry

# Kubernetes probes /healthz over HTTP (deploy/helm/gantry); the image has
# no client to do it from inside.
HEALTHCHECK NONE

# 65532: an unprivileged UID with no entry in any passwd file, the
# convention of distroless "nonroot" images.
USER 65532:65532
ENTRYPOINT ["/gantry"]
