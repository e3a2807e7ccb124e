#!/usr/bin/env bash
# Warm re-copy, side by side (issue 8, item 5): 50 images over 4 shared
# base layers, already at the destination, copied again with `gantry copy`
# (one invocation per image). Since a present manifest no longer vouches
# for its children (a layer may have been deleted or quarantined since),
# the engine checks each child of a present image: one HEAD per config and
# layer against a registry, one stat against the store. This measures what
# that costs, with the client of the base commit (which trusted present
# manifests) and of this tree, into
#   - gantry serve (this tree), over the network (HEAD per child),
#   - zot (an OCI-native registry) the same way,
#   - gantry's own store (oci:DIR), no network.
# Rounds alternate the clients; medians and ratios are printed.
#
#   bench/copy/warm.sh [ROUNDS]      (default 5)
#   BASE=e29431f    the commit whose client trusts present manifests
#   TOOLS=/var/tmp/gantry-bench-tools   where zot is (see FIELD-NOTES: built
#                   from its source with `go build ./cmd/zot`); without it,
#                   the zot column is left out
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
n=50
BASE=${BASE:-e29431f}
TOOLS=${TOOLS:-/var/tmp/gantry-bench-tools}
work="$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-warm.XXXXXX")"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git worktree remove --force "$work/base" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root
wait_up() { for _ in $(seq 200); do curl -fs "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; echo "$1 did not start" >&2; exit 1; }

go build -o "$work/head" ./cmd/gantry
go build -o "$work/mkimage" ./bench/mkimage
git worktree add -q "$work/base" "$BASE"
(cd "$work/base" && go build -o "$work/base-gantry" ./cmd/gantry)

log "fleet: $n images over 4 bases of 16 MiB, 2 MiB of app layer each"
"$work/mkimage" fleet "$n" "oci:$work/fleet:bench" 4 16 2

gport=$(freeport)
"$work/head" serve --root "$work/served" --addr "127.0.0.1:$gport" --log-level warn >"$work/serve.log" 2>&1 &
pids+=($!)
wait_up "127.0.0.1:$gport"
dests=("gantry-serve=127.0.0.1:$gport" "store=oci:$work/store")
if [ -x "$TOOLS/zot" ]; then
	zport=$(freeport)
	mkdir -p "$work/zot"
	cat >"$work/zot.json" <<JSON
{"storage":{"rootDirectory":"$work/zot","gc":false,"dedupe":false},"http":{"address":"127.0.0.1","port":"$zport"},"log":{"level":"error"}}
JSON
	"$TOOLS/zot" serve "$work/zot.json" >"$work/zot.log" 2>&1 &
	pids+=($!)
	wait_up "127.0.0.1:$zport"
	dests+=("zot=127.0.0.1:$zport")
else
	log "no $TOOLS/zot: zot left out"
fi

copy_all() { # copy_all CLIENT DEST: seconds to copy the fleet into DEST
	local t0 t1
	t0=$(now)
	for i in $(seq 0 $((n - 1))); do
		case "$2" in
		oci:*) "$1" copy --quiet "oci:$work/fleet:bench/app$i:1" "$2:bench/app$i:1" >/dev/null ;;
		*) "$1" copy --quiet "oci:$work/fleet:bench/app$i:1" "$2/bench/app$i:1" >/dev/null ;;
		esac
	done
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

for d in "${dests[@]}"; do
	log "cold copy into ${d%%=*}: $(copy_all "$work/head" "${d#*=}") s"
done

declare -A times
for r in $(seq "$rounds"); do
	for d in "${dests[@]}"; do
		order=(base head)
		((r % 2)) || order=(head base)
		for c in "${order[@]}"; do
			bin="$work/head"
			[ "$c" = base ] && bin="$work/base-gantry"
			s=$(copy_all "$bin" "${d#*=}")
			times["${d%%=*}/$c"]+="$s "
			log "round $r ${d%%=*} $c: $s s"
		done
	done
done

printf '\n%-14s %12s %12s %8s\n' "destination" "base (s)" "head (s)" "ratio"
for d in "${dests[@]}"; do
	name=${d%%=*}
	b=$(tr ' ' '\n' <<<"${times[$name/base]}" | grep . | median)
	h=$(tr ' ' '\n' <<<"${times[$name/head]}" | grep . | median)
	printf '%-14s %12.3f %12.3f %8.2f\n' "$name" "$b" "$h" "$(echo "$h / $b" | bc -l)"
done
echo "(warm re-copy of $n images, one gantry copy each; medians of $rounds rounds; base $BASE)"
