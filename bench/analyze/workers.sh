#!/usr/bin/env bash
# gantry check --inflate-workers 2 against the default (one inflater per
# layer) and dockle, cold (--no-cache), alternating, on bench/bloated:1 and
# on the same image flattened into one layer (crane flatten, pushed as
# bench/bloated-flat:1 to the bench registry). Prints, per run, the wall
# and CPU seconds (user, system) and the peak RSS in KiB.
#
#   bench/analyze/workers.sh [ROUNDS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
images_cache="${GANTRY_BENCH_IMAGES:-/var/tmp/gantry-bench-images}"
bench/images/build.sh >&2
WORK="$(mktemp -d /var/tmp/gantry-bench-workers.XXXXXX)"
source bench/lib.sh
source bench/images/serve.sh
source bench/analyze/peers.sh
trap 'fleet_stop; rm -rf "$WORK"' EXIT
go build -tags "$GO_TAGS" -o "$WORK/gantry" ./cmd/gantry
GOBIN="$WORK" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fleet_serve "$images_cache"
H=$FLEET_HOST
"$WORK/crane" flatten --insecure "$H/bench/bloated:1" -t "$H/bench/bloated-flat:1" >/dev/null
t() {
	/usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { tail -3 "$WORK/err"; exit 1; }
	cat "$WORK/time"
}
G=("$WORK/gantry" check --insecure --format json --failure-threshold none --no-cache)
echo "tool wall_s user_s sys_s maxrss_kib"
for r in $(seq "$rounds"); do
	echo "# round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
	for img in bloated bloated-flat; do
		echo "$img gantry $(t "${G[@]}" "$H/bench/$img:1")"
		echo "$img gantry-w2 $(t "${G[@]}" --inflate-workers 2 "$H/bench/$img:1")"
		rm -rf "$WORK/dc"
		echo "$img dockle $(t "$DOCKLE" --insecure --nonssl --no-color --timeout 600s --exit-code 0 --cache-dir "$WORK/dc" "$H/bench/$img:1")"
	done
done
