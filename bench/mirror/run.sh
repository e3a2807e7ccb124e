#!/usr/bin/env bash
# Pull-through mirrors, side by side: `gantry serve --mirror` against CNCF
# Distribution 3 in proxy mode (proxy.remoteurl), both in front of one
# upstream (a `gantry serve` that logs every request, so its blob GETs are
# counted per digest).
#
# A fleet of FLEET (10) images over 3 shared base layers (bench/mkimage fleet
# FLEET .. 3 BASE_MIB APP_MIB) is pushed to the upstream. Each round starts
# each mirror on an empty store, then:
#   cold: CLIENTS (8) clients at once, each pulling the whole fleet with
#         `gantry copy` into its own OCI layout (tmpfs): wall time, and the
#         upstream's blob GETs (per distinct blob: total / blobs, and the
#         most any one blob was fetched);
#   warm: the same again, the mirror now holding the fleet.
# Rounds alternate which mirror goes first; medians are printed at the end.
#
# Usage: bench/mirror/run.sh
#   ROUNDS=3 CLIENTS=8 FLEET=10 BASE_MIB=32 APP_MIB=8
#   TOOLS=/var/tmp/gantry-bench-tools    where Distribution is installed
#   WORKDIR=/var/tmp                     on a real disk, not tmpfs
# Needs curl, python3 and the Go module proxy for Distribution. Everything
# listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
FLEET=${FLEET:-10}
BASES=3
BASE_MIB=${BASE_MIB:-32}
APP_MIB=${APP_MIB:-8}
TOOLS=${TOOLS:-/var/tmp/gantry-bench-tools}
DIST_VERSION=v3.1.2
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-mirror.XXXXXX")
SHM=$(mktemp -d /dev/shm/gantry-bench-mirror.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root

if [[ ! -x "$TOOLS/registry" ]]; then
	log "installing CNCF Distribution $DIST_VERSION into $TOOLS"
	mkdir -p "$TOOLS"
	(cd "$WORK" && GOBIN="$TOOLS" go install "github.com/distribution/distribution/v3/cmd/registry@$DIST_VERSION")
fi
go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/mkimage" ./bench/mkimage
log "$("$TOOLS/registry" --version); work: $WORK on $(df --output=source,fstype "$WORK" | tail -1)"
log "$ROUNDS rounds, $CLIENTS clients, $FLEET images over $BASES bases of $BASE_MIB MiB, $APP_MIB MiB of app layer each"

# The upstream, logging one line per request.
uport=$(freeport)
"$WORK/gantry" serve --addr "127.0.0.1:$uport" --root "$WORK/upstream" >"$WORK/upstream.log" 2>&1 &
pids+=($!)
waiturl "http://127.0.0.1:$uport/v2/"
"$WORK/mkimage" fleet "$FLEET" "oci:$WORK/fleet:bench" "$BASES" "$BASE_MIB" "$APP_MIB"
for i in $(seq 0 $((FLEET - 1))); do
	"$WORK/gantry" copy --quiet "oci:$WORK/fleet:bench/app$i:1" "127.0.0.1:$uport/bench/app$i:1" >/dev/null
done
BLOBS=$((BASES + 2 * FLEET)) # bases, and each image's app layer and config

# upstream_gets FROM_LINE: "total max" blob GETs answered 200 after line FROM_LINE.
upstream_gets() {
	tail -n +"$(($1 + 1))" "$WORK/upstream.log" | grep 'route=blob_get' | grep 'status=200' |
		sed -n 's/.*path=\([^ ]*\).*/\1/p' | sed 's|.*/blobs/||' | sort | uniq -c |
		awk '{t += $1; if ($1 > m) m = $1} END {print t + 0, m + 0}'
}

start_mirror() { # start_mirror NAME PORT: starts it on an empty store; sets MPID
	local root=$WORK/mirror-$1
	rm -rf "$root"
	case $1 in
	gantry)
		"$WORK/gantry" serve --addr "127.0.0.1:$2" --root "$root" --mirror "http://127.0.0.1:$uport" --log-level warn >"$WORK/$1.log" 2>&1 &
		;;
	dist)
		cat >"$WORK/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $root}
  cache: {blobdescriptor: inmemory}
http: {addr: 127.0.0.1:$2}
proxy: {remoteurl: http://127.0.0.1:$uport}
YML
		"$TOOLS/registry" serve "$WORK/dist.yml" >"$WORK/$1.log" 2>&1 &
		;;
	esac
	MPID=$!
	pids+=("$MPID")
	waiturl "http://127.0.0.1:$2/v2/"
}

pull_fleet() { # pull_fleet PORT: seconds for CLIENTS clients pulling the fleet at once
	local t0 t1 c cp=() fail=0
	rm -rf "${SHM:?}"/*
	t0=$(now)
	for c in $(seq "$CLIENTS"); do
		(for i in $(seq 0 $((FLEET - 1))); do
			"$WORK/gantry" copy --quiet "127.0.0.1:$1/bench/app$i:1" "oci:$SHM/c$c:bench/app$i:1" >/dev/null
		done) &
		cp+=($!)
	done
	for c in "${cp[@]}"; do wait "$c" || fail=1; done
	t1=$(now)
	[[ $fail == 0 ]] || { echo "a client failed" >&2; exit 1; }
	calc "$t1 - $t0"
}

for r in $(seq "$ROUNDS"); do
	order="gantry dist"
	((r % 2 == 0)) && order="dist gantry"
	for s in $order; do
		port=$(freeport)
		start_mirror "$s" "$port"
		for phase in cold warm; do
			from=$(wc -l <"$WORK/upstream.log")
			secs=$(pull_fleet "$port")
			sleep 0.5 # the upstream's last log lines
			read -r total most < <(upstream_gets "$from")
			record "$phase.secs.$s" "$secs"
			record "$phase.perblob.$s" "$(calc "$total / $BLOBS" 2)"
			record "$phase.max.$s" "$most"
			printf '  round %d %-6s %s: %6s s, upstream blob GETs %d for %d blobs (at most %d for one)\n' "$r" "$s" "$phase" "$secs" "$total" "$BLOBS" "$most" >&2
		done
		kill "$MPID"
		wait "$MPID" 2>/dev/null || true
	done
done

echo
echo "| $FLEET images, $CLIENTS clients, medians of $ROUNDS rounds | gantry serve --mirror | Distribution $DIST_VERSION proxy |"
echo "|---|---|---|"
for phase in cold warm; do
	echo "| $phase pull, wall (s) | $(med "$phase.secs.gantry") | $(med "$phase.secs.dist") |"
	echo "| $phase pull, upstream blob GETs per blob | $(med "$phase.perblob.gantry") | $(med "$phase.perblob.dist") |"
	echo "| $phase pull, most upstream GETs of one blob | $(med "$phase.max.gantry") | $(med "$phase.max.dist") |"
done
