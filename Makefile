# gantry's build and test entry points. `make test` is what CI runs: it
# installs what the tests need, checks formatting and static analysis, and runs
# every test with the race detector.

GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
BIN     := bin/gantry
PKGS    := ./...

.PHONY: all build setup lint test test-short demo fuzz bench bench-p2p clean image-bin image

all: build

# gantry version prints the version and commit stamped here; go install
# builds get them from Go's build information instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/gantry-dev/gantry/internal/cli.Version=$(VERSION) -X github.com/gantry-dev/gantry/internal/cli.Commit=$(COMMIT)

# gzip layers are inflated by Intel's ISA-L (cgo, libisal-dev) where it is
# installed, 2-3x faster than the Go inflaters (internal/inflate); the
# binary then needs libisal2 at run time. GO_TAGS= builds pure Go.
GO_TAGS ?= $(shell pkg-config --exists libisal 2>/dev/null && echo isal)

build:
	$(GO) build -tags "$(GO_TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gantry

# gantry's own container image (Dockerfile): a statically linked binary
# (CGO_ENABLED=0) and this machine's CA certificates in IMAGE_DIR, the build
# context, then a FROM scratch image built by buildah with no daemon and no
# network. IMAGE names it; push it with buildah push to your registry.
# BUILDAH_FLAGS go before buildah's subcommand (the tests give --root and
# --runroot of their own).
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE         ?= localhost/gantry:$(VERSION)
IMAGE_DIR     ?= bin/image
CA_CERTS      ?= /etc/ssl/certs/ca-certificates.crt
BUILDAH_FLAGS ?=

image-bin:
	rm -rf $(IMAGE_DIR) && mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/gantry-dev/gantry/internal/cli.Version=$(VERSION)" -o $(IMAGE_DIR)/gantry ./cmd/gantry
	cp $(CA_CERTS) $(IMAGE_DIR)/ca-certificates.crt

image: image-bin
	buildah $(BUILDAH_FLAGS) --storage-driver vfs bud --isolation chroot -f Dockerfile \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) $(IMAGE_DIR)

setup:
	./scripts/install-test-deps.sh

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags "$(GO_TAGS)" ./internal/inflate/
	$(GOBIN)/staticcheck -tags "$(GO_TAGS)" $(PKGS)

# The test command of the README and of CI. The OCI conformance runs come
# last and verbose, so their summaries (junit rows passed) show in the output.
# GOFLAGS carries the build tags into the e2e tests' own builds of gantry;
# the pure-Go inflater's packages run once more without them.
test: setup lint
	GOFLAGS=-tags=$(GO_TAGS) $(GO) test -race -count=1 -timeout 20m -skip 'OCIConformance' $(PKGS)
	GOFLAGS= $(GO) test -race -count=1 ./internal/inflate/ ./internal/analyze/image/
	GOFLAGS=-tags=$(GO_TAGS) $(GO) test -race -count=1 -timeout 10m -v -run 'OCIConformance' ./test/...

# Fast inner loop: no race detector, no long tests.
test-short:
	$(GO) test -short $(PKGS)

# gantry's main job on its embedded default store: copy a real image into it,
# check it, and read it back with skopeo.
demo: build
	./scripts/demo.sh

# Run each fuzzer of every package for a short while (FUZZTIME=30s by
# default), with the seeds in each package's testdata/fuzz; `go test -fuzz`
# takes one package and one target at a time.
FUZZTIME ?= 30s
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep ^Fuzz); do \
			echo "$$p $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

bench:
	./bench/run.sh

# P2P distribution on a simulated cluster of network namespaces (issue 11):
# gantry agents, direct pulls and a BitTorrent swarm side by side. Needs
# root; minutes; figures go to BENCHMARKS.md by hand.
bench-p2p:
	./bench/p2p/run.sh

clean:
	rm -rf bin
