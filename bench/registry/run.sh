#!/usr/bin/env bash
# The registry, side by side: `gantry serve` against CNCF Distribution 3
# (filesystem storage, in-memory blob descriptor cache as its sample config
# ships) and, for blob GETs, nginx serving the same blob as a static file
# with sendfile. All three run at once on loopback; rounds alternate the
# order of the servers; medians and ratios are printed at the end.
#
# 1. get:   GET of a 1 GiB blob in the page cache, by 1 curl and by CLIENTS
#           (8) curls at once: MiB/s, and the server's CPU seconds
#           (utime+stime from /proc/PID/stat, nginx's master and workers
#           summed) per GiB sent.
# 2. push:  1 GiB pushes, a fresh blob each time (a blob already present
#           would skip work): monolithic (curl POST, then PUT -T FILE) and
#           chunked (bench/registry/client push: 16 MiB PATCHes), seconds,
#           and the server's CPU seconds.
# 3. wrk:   manifest GET by tag, `wrk -t2 -c64 -d$DURATION --latency`, and
#           blob HEAD, `ab -k -i -c64 -t $DURATION` (wrk cannot do HEAD):
#           requests/s and p99.
# 4. fleet: 50 small images sharing 4 base layers (bench/mkimage fleet 50 ..
#           4 16 2), pulled by CLIENTS `gantry copy` loops at once, each
#           client pulling all 50 into its own OCI layout on tmpfs: wall time.
# 5. tags:  TAGS (20,000) manifest PUTs, tagged round-robin over 200
#           repositories, one client: median and p99 of the first and the
#           last 1,000 PUTs (once per server: the growth is the measurement).
#
# Usage: bench/registry/run.sh
#   ROUNDS=3 DURATION=20s TAGS=20000 CLIENTS=8 BLOB_MIB=1024
#   SECTIONS="get push wrk fleet tags"   run only some sections
#   TOOLS=/var/tmp/gantry-bench-tools    where Distribution is installed
#   WORKDIR=/var/tmp                     on a real disk, not tmpfs
# Needs nginx, wrk, ab and curl (apt-get install -y nginx wrk apache2-utils curl) and the Go
# module proxy for Distribution. Everything listens on 127.0.0.1 only.
# Both registries run quietly (gantry: --log-level warn, so no request log
# line; Distribution: level error, access log off); gantry's Prometheus
# metrics stay on, as they always are.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20s}
TAGS=${TAGS:-20000}
CLIENTS=${CLIENTS:-8}
BLOB_MIB=${BLOB_MIB:-1024}
FLEET=50
SECTIONS=${SECTIONS:-get push wrk fleet tags}
TOOLS=${TOOLS:-/var/tmp/gantry-bench-tools}
DIST_VERSION=v3.1.2
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-registry.XXXXXX")
SHM=$(mktemp -d /dev/shm/gantry-bench-registry.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT

has() { [[ " $SECTIONS " == *" $1 "* ]]; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root
# load: the load average, and how busy the CPUs are over one second while
# this benchmark is idle (other work on the machine skews every figure).
cpustat() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
load() {
	local b0 t0 b1 t1
	read -r b0 t0 < <(cpustat); sleep 1; read -r b1 t1 < <(cpustat)
	log "load average $(cut -d' ' -f1-3 /proc/loadavg); CPU busy while the benchmark idles: $(calc "100 * ($b1 - $b0) / ($t1 - $t0)" 0)%"
}

# Tools.
for t in nginx wrk ab curl python3; do
	command -v "$t" >/dev/null || { echo "missing $t: apt-get install -y nginx wrk apache2-utils curl" >&2; exit 1; }
done
if [[ ! -x "$TOOLS/registry" ]]; then
	log "installing CNCF Distribution $DIST_VERSION into $TOOLS"
	mkdir -p "$TOOLS"
	(cd "$WORK" && GOBIN="$TOOLS" go install "github.com/distribution/distribution/v3/cmd/registry@$DIST_VERSION")
fi
go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/mkimage" ./bench/mkimage
go build -o "$WORK/client" ./bench/registry/client
log "$("$TOOLS/registry" --version), $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(curl --version | head -1 | cut -d' ' -f1-2)"
log "work: $WORK on $(df --output=source,fstype "$WORK" | tail -1); $ROUNDS rounds, DURATION=$DURATION, TAGS=$TAGS, CLIENTS=$CLIENTS"

# Servers.
gport=$(freeport); dport=$(freeport); nport=$(freeport)
G=http://127.0.0.1:$gport D=http://127.0.0.1:$dport N=http://127.0.0.1:$nport
"$WORK/gantry" serve --addr "127.0.0.1:$gport" --root "$WORK/gantry-store" --log-level warn >"$WORK/gantry.log" 2>&1 &
gpid=$!; pids+=("$gpid")
cat >"$WORK/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $WORK/dist-store}
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$dport}
YML
"$TOOLS/registry" serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
dpid=$!; pids+=("$dpid")
mkdir -p "$WORK/nginx" "$WORK/www"
cat >"$WORK/nginx/nginx.conf" <<CONF
user root;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server { listen 127.0.0.1:$nport; root $WORK/www; }
}
CONF
nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
npid=$!; pids+=("$npid")
for u in "$G/v2/" "$D/v2/" "$N/"; do
	for _ in $(seq 100); do curl -s -o /dev/null "$u" && break; sleep 0.1; done
	curl -s -o /dev/null "$u" || { echo "server at $u did not start" >&2; cat "$WORK"/*.log "$WORK/nginx/error.log" >&2; exit 1; }
done
declare -A URL=([gantry]=$G [dist]=$D [nginx]=$N)

# cpu PID...: utime+stime in seconds of the processes and their children
# threads (nginx: the master's worker processes too).
cpu() {
	local all=("$@") p
	for p in "$@"; do all+=($(pgrep -P "$p" || true)); done
	for p in "${all[@]}"; do sed 's/^.*) //' "/proc/$p/stat"; done |
		awk -v hz="$(getconf CLK_TCK)" '{t += $12 + $13} END {printf "%.2f", t / hz}'
}
declare -A PID=([gantry]=$gpid [dist]=$dpid [nginx]=$npid)

# Blobs: a fresh pseudo-random file for the GETs and one per push.
log "generating $((1 + 2 * ROUNDS)) blobs of $BLOB_MIB MiB"
declare -A DIG
gen() { DIG[$1]=$("$WORK/client" gen "$2" "$BLOB_MIB" "$WORK/$1"); }
gen blob 1
if has push; then
	for r in $(seq "$ROUNDS"); do gen "mono$r" $((100 + r)); gen "chunk$r" $((200 + r)); done
fi

# rotate R NAME...: the names, rotated by R, so every server takes every
# place in the order over the rounds.
rotate() { local r=$1; shift; local a=("$@") n=$#; for i in $(seq 0 $((n - 1))); do echo "${a[$(((i + r) % n))]}"; done; }

# 1. Blob GET.
if has get; then
	log "get: pushing the blob"
	for s in gantry dist; do "$WORK/client" push "${URL[$s]}" bench/blob "$WORK/blob" "${DIG[blob]}" >/dev/null; done
	ln "$WORK/blob" "$WORK/www/blob"
	declare -A GETURL=([gantry]="$G/v2/bench/blob/blobs/${DIG[blob]}" [dist]="$D/v2/bench/blob/blobs/${DIG[blob]}" [nginx]="$N/blob")
	# The stores' copies, to warm the page cache (curl -L follows nothing here).
	declare -A FILE=([gantry]="$WORK/gantry-store/blobs/sha256/${DIG[blob]#sha256:}"
		[dist]="$WORK/dist-store/docker/registry/v2/blobs/sha256/$(cut -c8-9 <<<"${DIG[blob]}")/${DIG[blob]#sha256:}/data"
		[nginx]="$WORK/blob")
	load
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist nginx); do
			cat "${FILE[$s]}" >/dev/null
			c0=$(cpu "${PID[$s]}")
			one=$(curl -sf -o /dev/null -w '%{speed_download}' "${GETURL[$s]}")
			t0=$(now)
			cp=()
			for c in $(seq "$CLIENTS"); do
				curl -sf -o /dev/null "${GETURL[$s]}" &
				cp+=($!)
			done
			for p in "${cp[@]}"; do wait "$p"; done
			t1=$(now)
			c1=$(cpu "${PID[$s]}")
			one=$(calc "$one / 1048576" 0)
			many=$(calc "$CLIENTS * $BLOB_MIB / ($t1 - $t0)" 0)
			perg=$(calc "($c1 - $c0) * 1024 / ((1 + $CLIENTS) * $BLOB_MIB)")
			record "get1.$s" "$one"; record "get8.$s" "$many"; record "getcpu.$s" "$perg"
			printf '  round %d %-6s GET 1 client %5s MiB/s, %d clients %5s MiB/s, server CPU %s s/GiB\n' "$r" "$s" "$one" "$CLIENTS" "$many" "$perg" >&2
		done
	done
	rm -f "$WORK/www/blob"
fi

# 2. Push.
push_mono() { # push_mono SERVER FILE: POST, then PUT -T with the whole body
	local base=${URL[$1]} loc
	loc=$(curl -sf -X POST -o /dev/null -w '%header{location}' "$base/v2/bench/push/blobs/uploads/")
	[[ $loc == /* ]] && loc=$base$loc
	[[ $loc == *\?* ]] && loc="$loc&digest=${DIG[$2]}" || loc="$loc?digest=${DIG[$2]}"
	curl -sf -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$WORK/$2" "$loc"
}
if has push; then
	load
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist); do
			for kind in mono chunk; do
				f=$kind$r
				sync
				cat "$WORK/$f" >/dev/null
				c0=$(cpu "${PID[$s]}")
				t0=$(now)
				if [[ $kind == mono ]]; then
					push_mono "$s" "$f"
				else
					"$WORK/client" push -chunk 16 "${URL[$s]}" bench/push "$WORK/$f" "${DIG[$f]}" >/dev/null
				fi
				t1=$(now)
				c1=$(cpu "${PID[$s]}")
				secs=$(calc "$t1 - $t0")
				record "$kind.$s" "$secs"; record "${kind}cpu.$s" "$(calc "$c1 - $c0" 2)"
				printf '  round %d %-6s push %-5s %6s s (%4.0f MiB/s), server CPU %s s\n' "$r" "$s" "$kind" "$secs" "$(calc "$BLOB_MIB / $secs" 1)" "$(calc "$c1 - $c0" 2)" >&2
			done
		done
	done
fi

# Fleet images, for wrk (a manifest and a blob) and the fleet pull.
if has wrk || has fleet; then
	log "fleet: $FLEET images over 4 bases of 16 MiB, 2 MiB of app layer each"
	"$WORK/mkimage" fleet "$FLEET" "oci:$WORK/fleet:bench" 4 16 2
	for s in gantry dist; do
		host=${URL[$s]#http://}
		for i in $(seq 0 $((FLEET - 1))); do
			"$WORK/gantry" copy --quiet "oci:$WORK/fleet:bench/app$i:1" "$host/bench/app$i:1" >/dev/null
		done
	done
fi

# 3. Manifest GET and blob HEAD under wrk.
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'
wrk_run() { # wrk_run OUTKEY SERVER URL [wrk args]: records req/s and p99 (ms)
	local key=$1 s=$2 u=$3 out rps p99; shift 3
	out=$(wrk -t2 -c64 -d"$DURATION" --latency "$@" "$u")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms$/,"",v); else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then echo "$out" >&2; fi
	record "$key.$s" "$rps"; record "${key}p99.$s" "$p99"
	printf '  round %d %-6s %-8s %9.0f req/s, p99 %6.2f ms\n' "$r" "$s" "$key" "$rps" "$p99" >&2
}
# ab_head SERVER URL: blob HEADs by ab, 64 connections with keep-alive, for
# DURATION (and at most 10 million requests). wrk 4.1.0 (Debian 12) cannot
# do HEAD: it waits for the body that Content-Length announces and counts 0
# requests.
ab_head() {
	local s=$1 u=$2 out rps p99
	out=$(ab -q -k -i -c 64 -t "${DURATION%s}" -n 10000000 -e "$WORK/ab.csv" "$u" 2>&1)
	rps=$(awk '/^Requests per second:/ {print $4}' <<<"$out")
	p99=$(awk -F, '$1 == 99 {print $2}' "$WORK/ab.csv")
	if ! grep -q '^Failed requests: *0$' <<<"$out" || grep -q '^Non-2xx' <<<"$out"; then echo "$out" >&2; fi
	record "head.$s" "$rps"; record "headp99.$s" "$p99"
	printf '  round %d %-6s %-8s %9.0f req/s, p99 %6.2f ms (ab)\n' "$r" "$s" head "$rps" "$p99" >&2
}
if has wrk; then
	cfg=$(curl -sf -H "$ACCEPT" "$G/v2/bench/app0/manifests/1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
	for s in gantry dist; do
		curl -sf -o /dev/null -H "$ACCEPT" "${URL[$s]}/v2/bench/app0/manifests/1"
		curl -sf -o /dev/null -I "${URL[$s]}/v2/bench/app0/blobs/$cfg"
	done
	load
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist); do
			wrk_run manifest "$s" "${URL[$s]}/v2/bench/app0/manifests/1" -H "$ACCEPT"
			ab_head "$s" "${URL[$s]}/v2/bench/app0/blobs/$cfg"
		done
	done
fi

# 4. Fleet pull by CLIENTS clients at once.
fleet_pull() { # fleet_pull SERVER: seconds for CLIENTS loops of FLEET copies
	local host=${URL[$1]#http://} t0 t1 c i cp=()
	rm -rf "${SHM:?}"/*
	t0=$(now)
	for c in $(seq "$CLIENTS"); do
		(for i in $(seq 0 $((FLEET - 1))); do
			"$WORK/gantry" copy --quiet "$host/bench/app$i:1" "oci:$SHM/c$c:bench/app$i:1" >/dev/null
		done) &
		cp+=($!)
	done
	for c in "${cp[@]}"; do wait "$c"; done
	t1=$(now)
	calc "$t1 - $t0"
}
if has fleet; then
	load
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist); do
			c0=$(cpu "${PID[$s]}")
			secs=$(fleet_pull "$s")
			c1=$(cpu "${PID[$s]}")
			record "fleet.$s" "$secs"; record "fleetcpu.$s" "$(calc "$c1 - $c0" 2)"
			printf '  round %d %-6s fleet pull %6s s, server CPU %s s\n' "$r" "$s" "$secs" "$(calc "$c1 - $c0" 2)" >&2
		done
	done
	rm -rf "${SHM:?}"/*
fi

# 5. Tag writes as the store grows.
if has tags; then
	load
	for s in gantry dist; do
		log "tags: $s"
		out=$("$WORK/client" tags -n "$TAGS" -repos 200 -window 1000 "${URL[$s]}")
		echo "  $s $out" >&2
		for kv in $out; do record "tag_${kv%%=*}.$s" "${kv#*=}"; done
	done
fi
load

# Summary.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'; }
row() { # row LABEL KEY [nginx]: medians and ratios
	local g d n
	g=$(med "$2.gantry"); d=$(med "$2.dist"); n=$(med "$2.nginx")
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$g" "$d" "$n" "$(ratio "$g" "$d")" "$(ratio "$g" "$n")"
}
echo
echo "bench/registry/run.sh: ROUNDS=$ROUNDS DURATION=$DURATION TAGS=$TAGS CLIENTS=$CLIENTS BLOB_MIB=$BLOB_MIB (medians of $ROUNDS rounds)"
echo
echo "| measure | gantry | Distribution | nginx | gantry/Distribution | gantry/nginx |"
echo "|---|---|---|---|---|---|"
if has get; then
	row "blob GET, 1 client (MiB/s)" get1
	row "blob GET, $CLIENTS clients (MiB/s)" get8
	row "blob GET, server CPU (s/GiB)" getcpu
fi
if has push; then
	row "push ${BLOB_MIB} MiB monolithic (s)" mono
	row "push ${BLOB_MIB} MiB chunked 16 MiB (s)" chunk
	row "push monolithic, server CPU (s)" monocpu
	row "push chunked, server CPU (s)" chunkcpu
fi
if has wrk; then
	row "manifest GET (req/s)" manifest
	row "manifest GET p99 (ms)" manifestp99
	row "blob HEAD (req/s)" head
	row "blob HEAD p99 (ms)" headp99
fi
if has fleet; then
	row "fleet pull, $FLEET images x $CLIENTS clients (s)" fleet
	row "fleet pull, server CPU (s)" fleetcpu
fi
if has tags; then
	row "tag PUT p50, first 1,000 (ms)" tag_first_p50_ms
	row "tag PUT p50, last 1,000 (ms)" tag_last_p50_ms
	row "tag PUT p99, first 1,000 (ms)" tag_first_p99_ms
	row "tag PUT p99, last 1,000 (ms)" tag_last_p99_ms
	row "tag PUTs, total (s)" tag_total_s
fi
