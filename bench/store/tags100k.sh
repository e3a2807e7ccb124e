#!/usr/bin/env bash
# 100,000 tags (issue 8), end to end and side by side: `gantry serve` against
# zot (minimal build, filesystem storage, gc and dedupe off), optionally a
# third column, gantry built from an older commit (BASE_REF). Everything
# listens on 127.0.0.1; each server gets its own copy of the seeded stores.
#
# Seed: a small image (config, 1 KiB layer) is pushed once through each
# registry's API, the server is stopped, and index.json is written directly
# with 100,000 tags of that manifest (bench/store/tags100k seed), in two
# shapes:
#   one:  big/app with 100,000 tags (v000000 .. v099999)
#   many: team000/app .. team999/app with 100 tags each
# gantry keeps one OCI layout, each tag an index.json entry "REPO:TAG"; zot
# keeps one layout per repository (ROOT/REPO/index.json, bare tags), so for
# "many" the pushed blobs are copied into each of its 1,000 layouts. One
# untimed start of every server follows (gantry derives its repository
# links on the first open of a foreign index.json; both warm the page cache),
# and the page section checks every answer's length (all 100,000 tags paged).
#
# 1. open:  time from exec until GET /v2/<repo>/tags/list?n=1 answers 200
#           with a tag (polled every 2 ms), then SIGTERM and wait for the
#           exit; RESTARTS (5) starts per server and shape, alternating.
# 2. page:  PAGES (300) sequential GETs of
#           /v2/big/app/tags/list?n=100&last=v050000 (shape one) and of
#           /v2/_catalog?n=100&last=team500/app (shape many), split over
#           ROUNDS rounds that alternate the servers: p50 and p99 of all;
#           and the time to page through all 100,000 tags with n=1000
#           (following last=), median of ROUNDS.
# 3. stall: HEAD /v2/big/app/manifests/<tag> back to back from one client
#           while another PUTs PUTS (2,000) new manifests by new tags into
#           big/app, in bursts of BURST (500) separated by PAUSE (3 s) of
#           quiet: gantry rewrites its 22 MB index.json 2 s after the last
#           tag change (so once per pause), zot rewrites big/app/index.json
#           on every PUT. Writing stops after STALL_TIMEOUT (60 s); reading
#           goes on through one more pause. p50/p99/p99.9/max of the HEADs,
#           PUTs done and their p50/p99, and how many times index.json was
#           replaced (inode changes, polled every 10 ms). ROUNDS rounds,
#           alternating, each on a fresh copy of the seeded "one" store;
#           the medians of the rounds' figures are printed.
#
# Usage: bench/store/tags100k.sh
#   ROUNDS=3 RESTARTS=5 PAGES=300 PUTS=2000 BURST=500 PAUSE=3s STALL_TIMEOUT=60s
#   SECTIONS="open page stall"       run only some sections
#   BASE_REF=e29431f                 add gantry built from this commit (git archive)
#   QUIET_WAIT=120                   before each stall round, wait up to this many
#                                    seconds for the CPUs to be < 25% busy
#   TOOLS=/var/tmp/gantry-bench-tools  where zot is built and kept (ZOT_SRC: its
#                                    source tree, default /var/tmp/zot-src)
#   WORKDIR=/var/tmp                 on a real disk, not tmpfs
# zot is not served by the Go module proxy: put its source in ZOT_SRC first
# (see ../shared/FIELD-NOTES.md); the first run builds it (~6 min).
# Servers run quietly (gantry --log-level warn, zot log level error).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
RESTARTS=${RESTARTS:-5}
PAGES=${PAGES:-300}
PUTS=${PUTS:-2000}
BURST=${BURST:-500}
PAUSE=${PAUSE:-3s}
STALL_TIMEOUT=${STALL_TIMEOUT:-60s}
SECTIONS=${SECTIONS:-open page stall}
QUIET_WAIT=${QUIET_WAIT:-0}
BASE_REF=${BASE_REF:-}
TOOLS=${TOOLS:-/var/tmp/gantry-bench-tools}
ZOT_SRC=${ZOT_SRC:-/var/tmp/zot-src}
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-tags100k.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

has() { [[ " $SECTIONS " == *" $1 "* ]]; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "-"}'; }
# quantile Q: nearest-rank quantile of the numbers on stdin (as the Go client)
quantile() { sort -g | awk -v q="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit} i=int(q*NR)+1; if (i>NR) i=NR; print a[i]}'; }
cpustat() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
load() {
	local b0 t0 b1 t1
	read -r b0 t0 < <(cpustat); sleep 1; read -r b1 t1 < <(cpustat)
	busy=$(calc "100 * ($b1 - $b0) / ($t1 - $t0)" 0)
	log "load average $(cut -d' ' -f1-3 /proc/loadavg); CPU busy while the benchmark idles: $busy%"
}
# quiet: on a shared machine, wait up to QUIET_WAIT seconds for the CPUs
# to be less than 25% busy before a timed round (then go on regardless).
quiet() {
	local t0=$SECONDS
	load
	while ((busy >= 25 && SECONDS - t0 < QUIET_WAIT)); do sleep 4; load; done
}
# rotate R NAME...: the names, rotated by R, so every server takes every
# place in the order over the rounds.
rotate() { local r=$1; shift; local a=("$@") n=$#; for i in $(seq 0 $((n - 1))); do echo "${a[$(((i + r) % n))]}"; done; }

# Tools.
for t in curl python3 go; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
if [[ ! -x "$TOOLS/zot" ]]; then
	[[ -f "$ZOT_SRC/cmd/zot/main.go" ]] || { echo "no zot source in $ZOT_SRC (see ../shared/FIELD-NOTES.md)" >&2; exit 1; }
	log "building zot from $ZOT_SRC into $TOOLS (about 6 minutes)"
	mkdir -p "$TOOLS"
	(cd "$ZOT_SRC" && go build -o "$TOOLS/zot" ./cmd/zot)
fi
go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/t" ./bench/store/tags100k
SERVERS=(gantry zot)
if [[ -n $BASE_REF ]]; then
	mkdir "$WORK/base-src"
	git archive "$BASE_REF" | tar -x -C "$WORK/base-src"
	(cd "$WORK/base-src" && go build -o "$WORK/gantry-base" ./cmd/gantry)
	SERVERS+=(base)
fi
log "gantry $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal cmd || echo +changes), zot $(cat "$TOOLS/zot.version" 2>/dev/null || echo "(version unknown: write it to $TOOLS/zot.version)")${BASE_REF:+, base gantry $BASE_REF}"
log "work: $WORK on $(df --output=source,fstype "$WORK" | tail -1); ROUNDS=$ROUNDS RESTARTS=$RESTARTS PAGES=$PAGES PUTS=$PUTS BURST=$BURST PAUSE=$PAUSE STALL_TIMEOUT=$STALL_TIMEOUT"

declare -A PORT
for s in "${SERVERS[@]}"; do PORT[$s]=$(freeport); done
url() { echo "http://127.0.0.1:${PORT[$1]}"; }
# root SERVER SHAPE: the store directory
root() { echo "$WORK/$1-$2"; }
# cmdline SERVER SHAPE: the command that serves that store
cmdline() {
	local s=$1 dir
	dir=$(root "$1" "$2")
	case $s in
	gantry) echo "$WORK/gantry serve --root $dir --addr 127.0.0.1:${PORT[$s]} --log-level warn" ;;
	base) echo "$WORK/gantry-base serve --root $dir --addr 127.0.0.1:${PORT[$s]} --log-level warn" ;;
	zot)
		cat >"$dir.json" <<JSON
{"storage":{"rootDirectory":"$dir","gc":false,"dedupe":false},"http":{"address":"127.0.0.1","port":"${PORT[$s]}"},"log":{"level":"error"}}
JSON
		echo "$TOOLS/zot serve $dir.json" ;;
	esac
}
# start SERVER SHAPE: start it in the background, wait for /v2/, set $spid
start() {
	local s=$1
	# shellcheck disable=SC2046 # the command line is split on purpose
	$(cmdline "$s" "$2") >>"$WORK/$s.log" 2>&1 &
	spid=$!; pids+=("$spid")
	for _ in $(seq 300); do curl -s -o /dev/null "$(url "$s")/v2/" && return; sleep 0.05; done
	echo "$s did not start" >&2; cat "$WORK/$s.log" >&2; exit 1
}
# stop PID: SIGTERM, then wait for the exit (at most 60 s, then SIGKILL)
stop() {
	kill "$1"
	for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$1" 2>/dev/null && { log "pid $1 still running 60 s after SIGTERM: killing"; kill -9 "$1"; }
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
}
repo_of() { [[ $1 == one ]] && echo big/app || echo team500/app; }
# open SERVER SHAPE: seconds from exec until the first tag list
open_once() {
	"$WORK/t" open -log "$WORK/$1.log" "$(url "$1")/v2/$(repo_of "$2")/tags/list?n=1" -- $(cmdline "$1" "$2")
}

# Seed: the "one" stores always, the "many" stores for open and page.
shapes=one
if has open || has page; then shapes="one many"; fi
for shape in $shapes; do
	first=big/app
	[[ $shape == many ]] && first=team000/app
	for s in "${SERVERS[@]}"; do
		start "$s" "$shape"
		read -r dg size < <("$WORK/t" push "$(url "$s")" "$first" seed)
		stop "$spid"
		layout=gantry; [[ $s == zot ]] && layout=zot
		"$WORK/t" seed -layout "$layout" -shape "$shape" -digest "$dg" -size "$size" "$(root "$s" "$shape")" >/dev/null
		if [[ $layout == gantry ]]; then
			# One tag through the API (in a repository of its own, so the
			# counts checked below stay), so the store rewrites index.json
			# in its own form at shutdown, as a store in service has it.
			start "$s" "$shape"
			"$WORK/t" push "$(url "$s")" rewrite/app seed >/dev/null
			stop "$spid"
		fi
		out=$(open_once "$s" "$shape")
		log "seeded $s $shape: $(du -sh "$(root "$s" "$shape")" | cut -f1), first open: $out"
	done
done

# 1. Open.
if has open; then
	load
	for shape in one many; do
		for r in $(seq "$RESTARTS"); do
			for s in $(rotate "$r" "${SERVERS[@]}"); do
				out=$(open_once "$s" "$shape")
				v=${out#open_s=}; v=${v%% *}
				record "open_$shape.$s" "$v"
				printf '  restart %d %-6s %-4s %s\n' "$r" "$s" "$shape" "$out" >&2
			done
		done
	done
fi

# 2. Pages.
if has page; then
	load
	per=$(((PAGES + ROUNDS - 1) / ROUNDS))
	for shape in one many; do
		declare -A SPID=()
		for s in "${SERVERS[@]}"; do start "$s" "$shape"; SPID[$s]=$spid; done
		for s in "${SERVERS[@]}"; do # the seeded data, as each server lists it
			if [[ $shape == one ]]; then
				"$WORK/t" lat -n 1 -want 100 "$(url "$s")/v2/big/app/tags/list?n=100&last=v050000" >/dev/null
			else
				"$WORK/t" lat -n 1 -want 1000 "$(url "$s")/v2/_catalog?n=2000" >/dev/null
				"$WORK/t" lat -n 1 -want 100 "$(url "$s")/v2/team500/app/tags/list?n=1000" >/dev/null
			fi
		done
		for r in $(seq "$ROUNDS"); do
			for s in $(rotate "$r" "${SERVERS[@]}"); do
				if [[ $shape == one ]]; then
					out=$("$WORK/t" lat -n "$per" -want 100 -out "$WORK/raw.tagpage.$s" "$(url "$s")/v2/big/app/tags/list?n=100&last=v050000")
					printf '  round %d %-6s tags page     %s\n' "$r" "$s" "$out" >&2
					out=$("$WORK/t" pageall -n 1000 -want 100000 "$(url "$s")" big/app)
					v=${out##*total_s=}
					record "pageall.$s" "$v"
					printf '  round %d %-6s all tags      %s\n' "$r" "$s" "$out" >&2
				else
					out=$("$WORK/t" lat -n "$per" -want 100 -out "$WORK/raw.catpage.$s" "$(url "$s")/v2/_catalog?n=100&last=team500/app")
					printf '  round %d %-6s catalog page  %s\n' "$r" "$s" "$out" >&2
				fi
			done
		done
		for s in "${SERVERS[@]}"; do stop "${SPID[$s]}"; done
	done
	for s in "${SERVERS[@]}"; do
		for k in tagpage catpage; do
			record "${k}50.$s" "$(quantile 0.5 <"$WORK/raw.$k.$s")"
			record "${k}99.$s" "$(quantile 0.99 <"$WORK/raw.$k.$s")"
		done
	done
fi

# 3. Flush stall, on a fresh copy of the "one" store every round.
if has stall; then
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" "${SERVERS[@]}"); do
			rm -rf "$(root "$s" stall)"
			cp -a "$(root "$s" one)" "$(root "$s" stall)"
			idx=$(root "$s" stall)/index.json
			[[ $s == zot ]] && idx=$(root "$s" stall)/big/app/index.json
			quiet
			start "$s" stall
			out=$("$WORK/t" stall -puts "$PUTS" -burst "$BURST" -pause "$PAUSE" -timeout "$STALL_TIMEOUT" -watch "$idx" "$(url "$s")" big/app)
			stop "$spid"
			printf '  round %d %-6s %s\n' "$r" "$s" "$out" >&2
			for kv in $out; do record "${kv%%=*}.$s" "${kv#*=}"; done
		done
	done
fi
load

# Summary.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3g", a / b}'; }
hdr="| measure | gantry | zot | gantry/zot |"
sep="|---|---|---|---|"
if [[ -n $BASE_REF ]]; then hdr="$hdr gantry $BASE_REF | gantry/$BASE_REF |"; sep="$sep---|---|"; fi
row() { # row LABEL KEY
	local g z line
	g=$(med "$2.gantry"); z=$(med "$2.zot")
	line="| $1 | $g | $z | $(ratio "$g" "$z") |"
	if [[ -n $BASE_REF ]]; then
		b=$(med "$2.base")
		line="$line $b | $(ratio "$g" "$b") |"
	fi
	echo "$line"
}
echo
echo "bench/store/tags100k.sh: ROUNDS=$ROUNDS RESTARTS=$RESTARTS PAGES=$PAGES PUTS=$PUTS BURST=$BURST PAUSE=$PAUSE STALL_TIMEOUT=$STALL_TIMEOUT${BASE_REF:+ BASE_REF=$BASE_REF}"
echo
echo "$hdr"
echo "$sep"
if has open; then
	row "open, 1 repository x 100,000 tags (s, median of $RESTARTS)" open_one
	row "open, 1,000 repositories x 100 tags (s, median of $RESTARTS)" open_many
fi
if has page; then
	row "tags page n=100 last=v050000, p50 (ms)" tagpage50
	row "tags page n=100 last=v050000, p99 (ms)" tagpage99
	row "catalog page n=100 last=team500/app, p50 (ms)" catpage50
	row "catalog page n=100 last=team500/app, p99 (ms)" catpage99
	row "all 100,000 tags, n=1000 (s, median of $ROUNDS)" pageall
fi
if has stall; then
	row "HEAD during tag PUTs, p50 (ms, median of $ROUNDS rounds)" head_p50_ms
	row "HEAD during tag PUTs, p99 (ms, median of $ROUNDS rounds)" head_p99_ms
	row "HEAD during tag PUTs, p99.9 (ms, median of $ROUNDS rounds)" head_p999_ms
	row "HEAD during tag PUTs, max (ms, median of $ROUNDS rounds)" head_max_ms
	row "HEADs done (median of $ROUNDS rounds)" head_n
	row "tag PUTs done of $PUTS (median of $ROUNDS rounds)" put_n
	row "tag PUT p50 (ms, median of $ROUNDS rounds)" put_p50_ms
	row "tag PUT p99 (ms, median of $ROUNDS rounds)" put_p99_ms
	row "index.json replacements seen (median of $ROUNDS rounds)" rewrites
fi
