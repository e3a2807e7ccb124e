#!/usr/bin/env bash
# gantry's main job on its embedded default store: build a small, real,
# runnable image (static busybox) as an OCI layout, copy it into the default
# store with `gantry copy`, check the store with `gantry fsck`, and read the
# image back with skopeo while gantry is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh >/dev/null
go build -o bin/gantry ./cmd/gantry
go build -o bin/mkimage ./bench/mkimage

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The embedded default store: /var/lib/gantry for root, else
# ${XDG_DATA_HOME:-~/.local/share}/gantry (see `gantry fsck --help`).
if [ "$(id -u)" = 0 ]; then root=/var/lib/gantry; else root="${XDG_DATA_HOME:-$HOME/.local/share}/gantry"; fi

echo "== building a busybox image into oci:$work/src:demo/busybox:1.0"
bin/mkimage busybox "oci:$work/src:demo/busybox:1.0"

echo "== gantry copy into the embedded store at $root"
bin/gantry copy "oci:$work/src:demo/busybox:1.0" "oci:$root:demo/busybox:1.0"

echo "== gantry fsck (the default store)"
bin/gantry fsck

echo "== skopeo inspect oci:$root:demo/busybox:1.0 (gantry stopped: the store is an OCI layout)"
skopeo inspect "oci:$root:demo/busybox:1.0" | head -12

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== gantry serve on 127.0.0.1:$port over the same store"
bin/gantry serve --addr "127.0.0.1:$port" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "== skopeo copy docker://127.0.0.1:$port/demo/busybox:1.0 (pulled through the registry)"
skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/demo/busybox:1.0" "oci:$work/pulled:demo"
skopeo inspect --tls-verify=false --format 'digest {{.Digest}}, {{len .Layers}} layer(s)' "docker://127.0.0.1:$port/demo/busybox:1.0"
kill -TERM "$serve_pid"
wait "$serve_pid"
echo "== gantry serve stopped cleanly"
