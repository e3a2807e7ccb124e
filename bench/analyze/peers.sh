# Sourced by the analysis benchmarks: sets DIVE and DOCKLE, building each
# once into /var/tmp/gantry-bench-analyze-tools unless given. dive v0.13.1
# (newer pseudo-versions moved the main package) and dockle v0.4.15 built
# from its module with the tags that avoid cgo graph drivers.
tools="/var/tmp/gantry-bench-analyze-tools"
mkdir -p "$tools"
DIVE="${DIVE:-$tools/dive}"
DOCKLE="${DOCKLE:-$tools/dockle}"
if [[ ! -x "$DIVE" ]]; then
	GOBIN="$tools" go install github.com/wagoodman/dive@v0.13.1
fi
if [[ ! -x "$DOCKLE" ]]; then
	d=$(go mod download -json github.com/goodwithtech/dockle@v0.4.15 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	rm -rf "$tools/dockle-src"; cp -r "$d" "$tools/dockle-src"; chmod -R u+w "$tools/dockle-src"
	(cd "$tools/dockle-src" && CGO_ENABLED=0 go build -o "$DOCKLE" \
		-tags 'containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper' ./cmd/dockle)
fi
