#!/usr/bin/env bash
# Fleet copy, side by side: 20 images with shared base layers, served by CNCF
# Distribution (Debian's docker-registry 2.8) on loopback, copied into one
# OCI layout by `gantry copy` (one invocation per image, into gantry's disk
# store) and by `skopeo copy` (one per image, into one OCI layout). Rounds
# alternate A and B; medians and the ratio are printed.
#
#   bench/copy/run.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
n=20
work="$(mktemp -d /var/tmp/gantry-bench-copy.XXXXXX)"
trap 'kill "${reg_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/gantry" ./cmd/gantry
go build -o "$work/mkimage" ./bench/mkimage

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host="127.0.0.1:$port"
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $host}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done

echo "# fleet: $n images over 4 bases of 64 MiB, 8 MiB of app layer each" >&2
"$work/mkimage" fleet "$n" "oci:$work/fleet:bench"
for i in $(seq 0 $((n - 1))); do
	"$work/gantry" copy --quiet "oci:$work/fleet:bench/app$i:1" "$host/bench/app$i:1" >/dev/null
done
du -sh "$work/registry" >&2

now() { date +%s.%N; }
gantry_round() {
	rm -rf "$work/g"
	local t0; t0=$(now)
	for i in $(seq 0 $((n - 1))); do
		"$work/gantry" copy --quiet "$host/bench/app$i:1" "oci:$work/g:bench/app$i:1" >/dev/null
	done
	sync -f "$work/g/index.json"
	awk -v a="$(now)" -v b="$t0" 'BEGIN {printf "%.3f\n", a - b}'
}
skopeo_round() {
	rm -rf "$work/s"
	local t0; t0=$(now)
	for i in $(seq 0 $((n - 1))); do
		skopeo copy -q --src-tls-verify=false "docker://$host/bench/app$i:1" "oci:$work/s:bench/app$i:1" >/dev/null
	done
	sync -f "$work/s/index.json"
	awk -v a="$(now)" -v b="$t0" 'BEGIN {printf "%.3f\n", a - b}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

g=(); s=()
for r in $(seq "$rounds"); do
	g+=("$(gantry_round)")
	s+=("$(skopeo_round)")
	echo "round $r: gantry ${g[-1]} s, skopeo ${s[-1]} s" >&2
done
gm=$(printf '%s\n' "${g[@]}" | median)
sm=$(printf '%s\n' "${s[@]}" | median)
echo "fleet copy ($n images, registry -> OCI layout), median of $rounds: gantry ${gm} s, skopeo ${sm} s, skopeo/gantry = $(awk -v a="$sm" -v b="$gm" 'BEGIN {printf "%.2f", a / b}')x"
du -sh "$work/g" "$work/s" >&2
