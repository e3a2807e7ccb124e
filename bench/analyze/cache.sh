#!/usr/bin/env bash
# gantry check cold and warm, side by side with dockle and dive in the same
# run, on the bench fleet (bench/images/build.sh) served by CNCF
# Distribution on loopback:
#
#  - the ~1.4 GB bench/bloated:1 (its chromium layer is one 286 MB gzip
#    stream), and
#  - a fleet of 10 images over two shared Debian bases (every image of the
#    bench fleet but bloated), checked in one gantry check; dockle and dive
#    take one image per run, so theirs is the sum of 10 runs.
#
# cold: gantry with an empty --cache-dir; dockle with an empty --cache-dir;
#       dive: skopeo export to a docker-archive tar + dive (dive needs it).
# warm: the same again, gantry's and dockle's cache directories kept; dive
#       on the tars already exported (its export not counted).
# re-check: gantry on the 10 images after a check of 9 of them (shop:2,
#       whose app layer alone is new, is the new image).
# no cache: gantry check --no-cache (what a cold check costs without the
#       cache's writes).
#
# Then the one-core floor of the cold check (bench/analyze/inflate): the
# largest layer of bloated inflated alone, from memory.
#
# Rounds rotate the tools' order; figures are medians of wall time (and of
# user+system CPU for gantry), and the larger peak RSS of a tool's runs of
# one round, from /usr/bin/time -v. The load average is printed with every
# round: the machine is shared.
#
#   bench/analyze/cache.sh [ROUNDS]   (default 3)
#   DIVE=... DOCKLE=...               (default: built by bench/analyze/peers.sh)
#   GO_TAGS=                          build gantry pure Go (default: as make
#                                     build does, ISA-L where installed)
#   BEFORE=path/to/gantry             also time this gantry binary (an older
#                                     build, say main's) on both, no flags added
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
images_cache="${GANTRY_BENCH_IMAGES:-/var/tmp/gantry-bench-images}"
bench/images/build.sh >&2
WORK="$(mktemp -d /var/tmp/gantry-bench-cache.XXXXXX)"
source bench/lib.sh
source bench/images/serve.sh
trap 'fleet_stop; rm -rf "$WORK"' EXIT

source bench/analyze/peers.sh
go build -tags "$GO_TAGS" -o "$WORK/gantry" ./cmd/gantry
go build -tags "$GO_TAGS" -o "$WORK/inflate" ./bench/analyze/inflate
fleet_serve "$images_cache"
H=$FLEET_HOST
bloated="$H/bench/bloated:1"
fleet=()
for i in debian:bookworm debian:bookworm-curl python-app:1 java-app:1 java-worker:1 node-app:1 go-static:1 nginx-web:1 shop:1 shop:2; do
	fleet+=("$H/bench/$i")
done
nine=("${fleet[@]:0:9}")

# timed CMD...: runs CMD under /usr/bin/time -v (stdout to the void, stderr
# kept in $WORK/last.err); prints "WALL_S MAXRSS_KB CPU_S"; a failure stops
# the benchmark.
timed() {
	if ! /usr/bin/time -v -o "$WORK/last.time" "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
		echo "failed: $*" >&2; tail -20 "$WORK/last.err" >&2; tail -5 "$WORK/last.out" >&2; exit 1
	fi
	awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]}
		/User time/ {u = $2} /System time/ {y = $2}
		/Maximum resident set size/ {m = $2} END {printf "%.2f %d %.2f\n", s, m, u + y}' "$WORK/last.time"
}
# many KEY CMD... -- IMG...: runs CMD IMG for each image (CMD may hold
# {} for the image, else the image is appended); records the sum of the
# walls and the largest RSS under KEY.
many() {
	local key=$1; shift
	local cmd=() t=0 m=0 w r c
	while [[ $1 != -- ]]; do cmd+=("$1"); shift; done; shift
	for img in "$@"; do
		read -r w r c < <(timed "${cmd[@]}" "$img")
		[[ -n $w ]] || exit 1
		t=$(calc "$t + $w" 2); ((r > m)) && m=$r
	done
	record "$key.t" "$t"; record "$key.m" "$m"
	echo "$key $t s $((m / 1024)) MiB" >&2
}
one() { # KEY CMD...
	local key=$1 w r c; shift
	read -r w r c < <(timed "$@")
	[[ -n $w ]] || exit 1
	record "$key.t" "$w"; record "$key.m" "$r"; record "$key.c" "$c"
	echo "$key $w s $((r / 1024)) MiB cpu $c s" >&2
}

gcheck=("$WORK/gantry" check --insecure --format json --failure-threshold none)
dockle=("$DOCKLE" --insecure --nonssl --no-color --timeout 600s --exit-code 0)
tarname() { echo "$WORK/tars/$(echo "$1" | tr '/:' '__').tar"; }
export_one() { skopeo copy -q --src-tls-verify=false "docker://$1" "docker-archive:$(tarname "$1"):${1#*/}"; }
dive_one() { "$DIVE" --ci --lowestEfficiency disabled --highestUserWastedPercent disabled --highestWastedBytes disabled --source docker-archive "$(tarname "$1")"; }
export -f export_one dive_one tarname
export WORK DIVE

run_gantry() {
	rm -rf "$WORK/gc"
	one g.bloated.cold "${gcheck[@]}" --cache-dir "$WORK/gc" "$bloated"
	one g.bloated.warm "${gcheck[@]}" --cache-dir "$WORK/gc" "$bloated"
	one g.bloated.nocache "${gcheck[@]}" --no-cache "$bloated"
	rm -rf "$WORK/gc"
	one g.fleet.cold "${gcheck[@]}" --cache-dir "$WORK/gc" "${fleet[@]}"
	one g.fleet.warm "${gcheck[@]}" --cache-dir "$WORK/gc" "${fleet[@]}"
	one g.fleet.nocache "${gcheck[@]}" --no-cache "${fleet[@]}"
	rm -rf "$WORK/gc"
	timed "${gcheck[@]}" --cache-dir "$WORK/gc" "${nine[@]}" >/dev/null
	one g.fleet.recheck "${gcheck[@]}" --cache-dir "$WORK/gc" "${fleet[@]}"
}
run_before() {
	[[ -n ${BEFORE:-} ]] || return 0
	# An empty cache of its own: a build with the scan cache uses the
	# default one under XDG_CACHE_HOME, one without has none.
	rm -rf "$WORK/bc"
	XDG_CACHE_HOME="$WORK/bc" one b.bloated.cold "$BEFORE" check --insecure --format json --failure-threshold none "$bloated"
	rm -rf "$WORK/bc"
	XDG_CACHE_HOME="$WORK/bc" one b.fleet.cold "$BEFORE" check --insecure --format json --failure-threshold none "${fleet[@]}"
}
run_dockle() {
	rm -rf "$WORK/dc"
	one k.bloated.cold "${dockle[@]}" --cache-dir "$WORK/dc" "$bloated"
	one k.bloated.warm "${dockle[@]}" --cache-dir "$WORK/dc" "$bloated"
	rm -rf "$WORK/dc"
	many k.fleet.cold "${dockle[@]}" --cache-dir "$WORK/dc" -- "${fleet[@]}"
	many k.fleet.warm "${dockle[@]}" --cache-dir "$WORK/dc" -- "${fleet[@]}"
}
run_dive() {
	rm -rf "$WORK/tars"; mkdir -p "$WORK/tars"
	local w1 r1 c1 w2 r2 c2
	read -r w1 r1 c1 < <(timed bash -c 'export_one "$1"' _ "$bloated")
	read -r w2 r2 c2 < <(timed bash -c 'dive_one "$1"' _ "$bloated")
	[[ -n $w1 && -n $w2 ]] || exit 1
	record d.bloated.cold.t "$(calc "$w1 + $w2" 2)"; record d.bloated.cold.m "$((r1 > r2 ? r1 : r2))"
	echo "d.bloated.cold $(calc "$w1 + $w2" 2) s (export $w1 + dive $w2)" >&2
	one d.bloated.warm bash -c 'dive_one "$1"' _ "$bloated"
	local t=0 m=0 img
	for img in "${fleet[@]}"; do
		read -r w1 r1 c1 < <(timed bash -c 'export_one "$1"' _ "$img")
		read -r w2 r2 c2 < <(timed bash -c 'dive_one "$1"' _ "$img")
		[[ -n $w1 && -n $w2 ]] || exit 1
		t=$(calc "$t + $w1 + $w2" 2); ((r1 > m)) && m=$r1; ((r2 > m)) && m=$r2
	done
	record d.fleet.cold.t "$t"; record d.fleet.cold.m "$m"
	echo "d.fleet.cold $t s" >&2
	many d.fleet.warm bash -c 'dive_one "$1"' _ -- "${fleet[@]}"
}

loads=()
for r in $(seq "$rounds"); do
	l0=$(cut -d' ' -f1-3 /proc/loadavg)
	case $((r % 3)) in
	1) run_gantry; run_before; run_dockle; run_dive ;;
	2) run_dockle; run_dive; run_gantry; run_before ;;
	0) run_before; run_dive; run_gantry; run_dockle ;;
	esac
	l1=$(cut -d' ' -f1-3 /proc/loadavg)
	loads+=("round $r: load average $l0 at the start, $l1 at the end")
	echo "${loads[-1]}" >&2
done

ratio() { if [[ $1 == - || $2 == - ]]; then echo -; else calc "$1 / $2" 2; fi; }
mib() { if [[ $1 == - ]]; then echo -; else echo "$(($(printf '%.0f' "$1") / 1024))"; fi; }
echo "Command: bench/analyze/cache.sh $rounds; $(nproc) CPUs, $(date -u +%Y-%m-%d)."
printf '%s\n' "${loads[@]}"
echo
echo "| | gantry check | dockle | dive | dockle / gantry | dive / gantry |"
echo "|---|---|---|---|---|---|"
for s in bloated fleet; do
	for k in cold warm; do
		gt=$(med "g.$s.$k.t"); kt=$(med "k.$s.$k.t"); dt=$(med "d.$s.$k.t")
		echo "| $s, $k: wall | $gt s | $kt s | $dt s | **$(ratio "$kt" "$gt")x** | **$(ratio "$dt" "$gt")x** |"
		echo "| $s, $k: peak RSS | $(mib "$(med "g.$s.$k.m")") MiB | $(mib "$(med "k.$s.$k.m")") MiB | $(mib "$(med "d.$s.$k.m")") MiB | | |"
	done
done
echo
echo "| gantry check | bloated | fleet of 10 |"
echo "|---|---|---|"
for k in cold warm nocache recheck; do
	bt=$(med "g.bloated.$k.t"); ft=$(med "g.fleet.$k.t")
	echo "| $k: wall / CPU (user+sys) / peak RSS | $bt s / $(med "g.bloated.$k.c") s / $(mib "$(med "g.bloated.$k.m")") MiB | $ft s / $(med "g.fleet.$k.c") s / $(mib "$(med "g.fleet.$k.m")") MiB |"
done
if [[ -n ${BEFORE:-} ]]; then
	echo "| before ($BEFORE), cold: wall / CPU (user+sys) / peak RSS | $(med b.bloated.cold.t) s / $(med b.bloated.cold.c) s / $(mib "$(med b.bloated.cold.m)") MiB | $(med b.fleet.cold.t) s / $(med b.fleet.cold.c) s / $(mib "$(med b.fleet.cold.m)") MiB |"
fi
echo
echo "One-core floor, the largest layer of bench/bloated:1 from memory (bench/analyze/inflate):"
echo '```'
"$WORK/inflate" "$bloated" "$rounds"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo '```'
