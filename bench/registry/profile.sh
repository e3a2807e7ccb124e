#!/usr/bin/env bash
# CPU profiles of gantry's registry under one load of bench/registry/run.sh:
#
#   perf   the real `gantry serve` binary (request log at warn, metrics on,
#          as run.sh runs it), kernel stacks included:
#          perf record -F 499 -g -p PID, then perf report by symbol;
#   pprof  bench/registry/pprofserve (registry.New over disk.Open in one
#          process with net/http/pprof; no request log, no metrics):
#          go tool pprof -top of /debug/pprof/profile.
#
# The difference between the two is the serve command's middleware.
#
# Usage: bench/registry/profile.sh LOAD     LOAD: get, push or manifest
#   get       8 curls GET a 1 GiB blob, 3 times over
#   push      1 GiB chunked (16 MiB PATCHes) then 1 GiB monolithic, then DELETE
#             both so that the next push is a full one
#   manifest  wrk -t2 -c64 -d10s manifest GET by tag
# Output (reports and raw profiles) goes to OUT (default /var/tmp/gantry-profile).
set -euo pipefail
cd "$(dirname "$0")/../.."
load=${1:?usage: bench/registry/profile.sh get|push|manifest}
OUT=${OUT:-/var/tmp/gantry-profile}
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-profile.XXXXXX")
mkdir -p "$OUT"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/pprofserve" ./bench/registry/pprofserve
go build -o "$WORK/client" ./bench/registry/client
go build -o "$WORK/mkimage" ./bench/mkimage

gport=$(freeport); pport=$(freeport); dport=$(freeport)
"$WORK/gantry" serve --addr "127.0.0.1:$gport" --root "$WORK/g" --log-level warn >"$WORK/gantry.log" 2>&1 &
gpid=$!; pids+=("$gpid")
"$WORK/pprofserve" -root "$WORK/p" -addr "127.0.0.1:$pport" -pprof "127.0.0.1:$dport" >"$WORK/pprofserve.log" 2>&1 &
pids+=($!)
for u in "http://127.0.0.1:$gport/v2/" "http://127.0.0.1:$pport/v2/"; do
	for _ in $(seq 100); do curl -s -o /dev/null "$u" && break; sleep 0.1; done
done

# Content each load needs, in both servers.
case $load in
get)
	d=$("$WORK/client" gen 1 1024 "$WORK/blob")
	for port in "$gport" "$pport"; do "$WORK/client" push "http://127.0.0.1:$port" bench/blob "$WORK/blob" "$d" >/dev/null; done
	;;
push)
	for i in 1 2; do "$WORK/client" gen $((300 + i)) 1024 "$WORK/b$i" >"$WORK/b$i.digest"; done
	;;
manifest)
	"$WORK/mkimage" fleet 1 "oci:$WORK/fleet:bench" 1 1 1
	for port in "$gport" "$pport"; do "$WORK/gantry" copy --quiet "oci:$WORK/fleet:bench/app0:1" "127.0.0.1:$port/bench/app0:1" >/dev/null; done
	;;
*) echo "unknown load $load" >&2; exit 2 ;;
esac

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
run_load() { # run_load PORT: the load, bounded
	local base=http://127.0.0.1:$1 p i loc cp=()
	case $load in
	get)
		for i in 1 2 3; do
			cp=()
			for p in $(seq 8); do curl -sf -o /dev/null "$base/v2/bench/blob/blobs/$d" & cp+=($!); done
			for p in "${cp[@]}"; do wait "$p"; done
		done
		;;
	push)
		"$WORK/client" push "$base" bench/push "$WORK/b1" "$(cat "$WORK/b1.digest")" >/dev/null
		loc=$(curl -sf -X POST -o /dev/null -w '%header{location}' "$base/v2/bench/push/blobs/uploads/")
		curl -sf -o /dev/null -H 'Expect:' -T "$WORK/b2" "$base$loc?digest=$(cat "$WORK/b2.digest")"
		for i in 1 2; do curl -sf -o /dev/null -X DELETE "$base/v2/bench/push/blobs/$(cat "$WORK/b$i.digest")"; done
		;;
	manifest)
		wrk -t2 -c64 -d10s -H "$ACCEPT" "$base/v2/bench/app0/manifests/1" >/dev/null
		;;
	esac
}

echo "# perf: gantry serve (pid $gpid) under $load" >&2
perf record -q -F 499 -g -p "$gpid" -o "$OUT/$load.perf.data" 2>/dev/null &
perfpid=$!
sleep 0.5
run_load "$gport"
kill -INT "$perfpid"; wait "$perfpid" || true
# (|| true: head closing the pipe is no failure)
perf report -i "$OUT/$load.perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -40 >"$OUT/$load.perf.txt" || true
perf report -i "$OUT/$load.perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -60 >"$OUT/$load.perf-children.txt" || true
cat "$OUT/$load.perf.txt"

echo "# pprof: pprofserve under $load (15 s; the load repeats until then, at most 10 times)" >&2
curl -sf -o "$OUT/$load.pprof" "http://127.0.0.1:$dport/debug/pprof/profile?seconds=15" &
prof=$!
for _ in $(seq 10); do
	kill -0 "$prof" 2>/dev/null || break
	run_load "$pport"
done
wait "$prof"
go tool pprof -top -nodecount 35 "$WORK/pprofserve" "$OUT/$load.pprof" 2>/dev/null >"$OUT/$load.pprof-top.txt"
go tool pprof -top -cum -nodecount 45 "$WORK/pprofserve" "$OUT/$load.pprof" 2>/dev/null >"$OUT/$load.pprof-cum.txt"
cat "$OUT/$load.pprof-top.txt"
echo "# reports in $OUT: $load.perf.txt, $load.perf-children.txt, $load.pprof-top.txt, $load.pprof-cum.txt" >&2
