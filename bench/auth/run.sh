#!/usr/bin/env bash
# Authenticated pull and push, side by side: `gantry serve --htpasswd`
# against CNCF Distribution 3 with its htpasswd auth (filesystem storage,
# in-memory blob descriptor cache), both with the same bcrypt file (cost
# 10), at once on loopback; rounds alternate the order of the servers.
#
# 1. push:  IMAGES images of a fleet (bench/mkimage fleet: 4 shared base
#           layers of 4 MiB, 2 MiB of each image's own) pushed one after the
#           other by skopeo copy --dest-creds into fresh repositories: seconds.
# 2. pull:  the same images pulled back by skopeo copy --src-creds into a
#           fresh OCI layout on tmpfs: seconds.
# 3. rate:  HEAD of a manifest by tag, N requests with C at once
#           (bench/auth/hammer): with Basic credentials on every request
#           (both; what Distribution's htpasswd auth asks clients for), and
#           for gantry with a Bearer token from its token endpoint (what
#           clients use after its challenge); and gantry without access
#           control, for the cost of it. req/s and p99.
#
# Usage: bench/auth/run.sh   (ROUNDS=3 IMAGES=10 N=500 C=16)
#   DIST=path/to/registry   Distribution's binary (default: $GOPATH/bin/registry,
#                           go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2)
# Needs skopeo and curl. Everything listens on 127.0.0.1 only; both servers
# log warnings/errors only.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-10}
N=${N:-500}
C=${C:-16}
DIST=${DIST:-$(go env GOPATH)/bin/registry}
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-auth.XXXXXX")
SHM=$(mktemp -d /dev/shm/gantry-bench-auth.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root
[[ -x "$DIST" ]] || { echo "no Distribution at $DIST: go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2" >&2; exit 1; }
command -v skopeo >/dev/null || { echo "missing skopeo" >&2; exit 1; }

log "building gantry and the helpers"
go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/mkimage" ./bench/mkimage
go build -o "$WORK/htpasswd" ./bench/auth/htpasswd
go build -o "$WORK/hammer" ./bench/auth/hammer
"$WORK/htpasswd" bench bench-pw >"$WORK/htpasswd.txt"
"$WORK/mkimage" fleet "$IMAGES" "oci:$WORK/src:bench" 4 4 2 >/dev/null

GP=$(freeport); DP=$(freeport); PP=$(freeport)
"$WORK/gantry" serve --addr "127.0.0.1:$GP" --root "$WORK/gantry-root" --htpasswd "$WORK/htpasswd.txt" --log-level warn &
pids+=($!)
"$WORK/gantry" serve --addr "127.0.0.1:$PP" --root "$WORK/plain-root" --log-level warn &
pids+=($!)
cat >"$WORK/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $WORK/dist-root}
  cache: {blobdescriptor: inmemory}
http: {addr: 127.0.0.1:$DP}
auth:
  htpasswd: {realm: bench, path: $WORK/htpasswd.txt}
YAML
"$DIST" serve "$WORK/dist.yml" 2>"$WORK/dist.log" &
pids+=($!)
for p in $GP $DP $PP; do
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/v2/" && break; sleep 0.1; done
done
basic="Authorization: Basic $(printf bench:bench-pw | base64)"

push() { # SERVER PORT ROUND
	local t0 t1
	t0=$(now)
	for i in $(seq 0 $((IMAGES - 1))); do
		skopeo copy -q --dest-tls-verify=false --dest-creds bench:bench-pw \
			"oci:$WORK/src:bench/app$i:1" "docker://127.0.0.1:$2/r$3/app$i:1"
	done
	t1=$(now)
	record "push.$1" "$(calc "$t1 - $t0")"
}
pull() { # SERVER PORT ROUND
	local t0 t1 dst="$SHM/pull-$1-$3"
	t0=$(now)
	for i in $(seq 0 $((IMAGES - 1))); do
		skopeo copy -q --src-tls-verify=false --src-creds bench:bench-pw \
			"docker://127.0.0.1:$2/r$3/app$i:1" "oci:$dst:app$i"
	done
	t1=$(now)
	rm -rf "$dst"
	record "pull.$1" "$(calc "$t1 - $t0")"
}
rate() { # KEY PORT HEADER
	local out
	out=$("$WORK/hammer" -method HEAD -url "http://127.0.0.1:$2/v2/r1/app0/manifests/1" -header "$3" -n "$N" -c "$C")
	record "rate.$1" "$(awk '{print $1}' <<<"$out")"
	record "p99.$1" "$(awk '{print $7}' <<<"$out")"
}

for r in $(seq 1 "$ROUNDS"); do
	order=(gantry dist)
	((r % 2 == 0)) && order=(dist gantry)
	log "round $r: ${order[*]}"
	for s in "${order[@]}"; do
		port=$GP; [[ $s == dist ]] && port=$DP
		push "$s" "$port" "$r"
		pull "$s" "$port" "$r"
	done
	if ((r == 1)); then # the plain server gets the images once, for rate
		for i in 0; do skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:bench/app$i:1" "docker://127.0.0.1:$PP/r1/app$i:1"; done
	fi
	token=$(curl -s -u bench:bench-pw "http://127.0.0.1:$GP/token?service=gantry&scope=repository:r1/app0:pull" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
	for s in "${order[@]}"; do
		port=$GP; [[ $s == dist ]] && port=$DP
		rate "$s.basic" "$port" "$basic"
	done
	rate gantry.bearer "$GP" "Authorization: Bearer $token"
	rate gantry.none "$PP" "X-None: 1"
done

echo
echo "| measure | gantry --htpasswd | Distribution 3 htpasswd | ratio |"
echo "|---|---|---|---|"
echo "| push $IMAGES images (skopeo, one after the other) | $(med push.gantry) s | $(med push.dist) s | $(calc "$(med push.dist) / $(med push.gantry)" 2)x faster |"
echo "| pull $IMAGES images (skopeo) | $(med pull.gantry) s | $(med pull.dist) s | $(calc "$(med pull.dist) / $(med pull.gantry)" 2)x faster |"
echo "| manifest HEAD, Basic on every request, $C at once | $(med rate.gantry.basic) req/s, p99 $(med p99.gantry.basic) ms | $(med rate.dist.basic) req/s, p99 $(med p99.dist.basic) ms | $(calc "$(med rate.gantry.basic) / $(med rate.dist.basic)" 1)x |"
echo "| manifest HEAD, Bearer token, $C at once | $(med rate.gantry.bearer) req/s, p99 $(med p99.gantry.bearer) ms | (no tokens with htpasswd) | |"
echo "| manifest HEAD, gantry without --htpasswd | $(med rate.gantry.none) req/s, p99 $(med p99.gantry.none) ms | | |"
