#!/usr/bin/env bash
# Registries on S3, side by side: `gantry serve --s3` against CNCF
# Distribution 3 with its s3 storage driver, both on one MinIO (built from
# its Go module, a separate process, data on WORKDIR), each in its own
# bucket. Rounds alternate the order of the servers; medians and ratios are
# printed at the end.
#
# 1. push: BLOB_MIB blobs, a fresh one each time: monolithic (curl POST,
#          then PUT -T FILE) and chunked (bench/registry/client push, 16 MiB
#          PATCHes): seconds, MiB/s, and the registry's CPU seconds.
# 2. get:  GET of a BLOB_MIB blob by 1 curl and by CLIENTS (8) curls at once:
#          MiB/s. Distribution's redirect to presigned URLs is disabled, so
#          both registries stream the bytes themselves (with redirects the
#          client reads from MinIO and the registry does no work).
#
# Usage: bench/s3/run.sh
#   ROUNDS=3 BLOB_MIB=256 CLIENTS=8 SECTIONS="push get"
#   TOOLS=/var/tmp/gantry-bench-tools    where Distribution is installed
#   MINIO=$(go env GOPATH)/bin/minio      (scripts/install-test-deps.sh builds it)
#   WORKDIR=/var/tmp                     the blobs the clients send
#   MINIO_DATA=$WORKDIR/...              MinIO's drive; /dev/shm takes the disk
#                                        out of the figures (it is shared here)
# Needs curl and python3. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
BLOB_MIB=${BLOB_MIB:-256}
CLIENTS=${CLIENTS:-8}
SECTIONS=${SECTIONS:-push get}
TOOLS=${TOOLS:-/var/tmp/gantry-bench-tools}
MINIO=${MINIO:-$(go env GOPATH)/bin/minio}
DIST_VERSION=v3.1.2
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-bench-s3.XXXXXX")
MDATA=$(mktemp -d "${MINIO_DATA:-$WORK}/gantry-bench-minio.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK" "$MDATA"
}
trap cleanup EXIT

has() { [[ " $SECTIONS " == *" $1 "* ]]; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script has gone to the checkout's root
rotate() { local r=$1; shift; local a=("$@") n=$#; for i in $(seq 0 $((n - 1))); do echo "${a[$(((i + r) % n))]}"; done; }

[[ -x $MINIO ]] || { echo "no minio at $MINIO: run scripts/install-test-deps.sh" >&2; exit 1; }
if [[ ! -x "$TOOLS/registry" ]]; then
	log "installing CNCF Distribution $DIST_VERSION into $TOOLS"
	mkdir -p "$TOOLS"
	(cd "$WORK" && GOBIN="$TOOLS" go install "github.com/distribution/distribution/v3/cmd/registry@$DIST_VERSION")
fi
go build -o "$WORK/gantry" ./cmd/gantry
go build -o "$WORK/client" ./bench/registry/client
log "$("$TOOLS/registry" --version); minio $("$MINIO" --version 2>&1 | head -1)"
log "work: $WORK on $(df --output=source,fstype "$WORK" | tail -1), minio on $(df --output=source,fstype "$MDATA" | tail -1); $ROUNDS rounds, BLOB_MIB=$BLOB_MIB, CLIENTS=$CLIENTS; load $(cut -d' ' -f1-3 /proc/loadavg)"

# MinIO and the buckets.
export AWS_ACCESS_KEY_ID=benchbench AWS_SECRET_ACCESS_KEY=benchbench-secret
mport=$(freeport)
M=http://127.0.0.1:$mport
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
	"$MINIO" server "$MDATA" --address "127.0.0.1:$mport" --quiet >"$WORK/minio.log" 2>&1 &
mpid=$!; pids+=("$mpid")
for _ in $(seq 200); do curl -sf -o /dev/null "$M/minio/health/live" && break; sleep 0.1; done
# Buckets are directories of a single-drive MinIO made before it starts
# serving them; create them through the API instead (a PUT on the bucket).
for b in gantry dist; do
	python3 - "$M" "$b" <<'PY'
import sys, hashlib, hmac, datetime, os, urllib.request
ep, bucket = sys.argv[1], sys.argv[2]
ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
t = datetime.datetime.now(datetime.UTC); amz = t.strftime("%Y%m%dT%H%M%SZ"); day = t.strftime("%Y%m%d")
host = ep.split("//")[1]; ph = hashlib.sha256(b"").hexdigest()
canon = f"PUT\n/{bucket}\n\nhost:{host}\nx-amz-content-sha256:{ph}\nx-amz-date:{amz}\n\nhost;x-amz-content-sha256;x-amz-date\n{ph}"
scope = f"{day}/us-east-1/s3/aws4_request"
sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(canon.encode()).hexdigest()
k = ("AWS4" + sk).encode()
for m in (day, "us-east-1", "s3", "aws4_request"): k = hmac.new(k, m.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{ep}/{bucket}", method="PUT", headers={"x-amz-date": amz, "x-amz-content-sha256": ph,
	"Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"})
urllib.request.urlopen(req).read()
PY
done

# The registries.
gport=$(freeport); dport=$(freeport)
G=http://127.0.0.1:$gport D=http://127.0.0.1:$dport
"$WORK/gantry" serve --addr "127.0.0.1:$gport" --s3 "s3://gantry/reg?endpoint=$M" --log-level warn >"$WORK/gantry.log" 2>&1 &
gpid=$!; pids+=("$gpid")
cat >"$WORK/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  s3:
    accesskey: $AWS_ACCESS_KEY_ID
    secretkey: $AWS_SECRET_ACCESS_KEY
    region: us-east-1
    regionendpoint: $M
    bucket: dist
    rootdirectory: /reg
    secure: false
    forcepathstyle: true
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
  redirect: {disable: true}
http: {addr: 127.0.0.1:$dport}
YML
"$TOOLS/registry" serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
dpid=$!; pids+=("$dpid")
for u in "$G/v2/" "$D/v2/"; do
	for _ in $(seq 100); do curl -s -o /dev/null "$u" && break; sleep 0.1; done
	curl -sf -o /dev/null "$u" || { echo "server at $u did not start" >&2; cat "$WORK"/*.log >&2; exit 1; }
done
declare -A URL=([gantry]=$G [dist]=$D) PID=([gantry]=$gpid [dist]=$dpid)

log "generating blobs of $BLOB_MIB MiB"
declare -A DIG
gen() { DIG[$1]=$("$WORK/client" gen "$2" "$BLOB_MIB" "$WORK/$1"); }
gen blob 1
if has push; then
	for r in $(seq "$ROUNDS"); do
		for s in gantry dist; do gen "mono$r$s" $((100 + 10 * r)); gen "chunk$r$s" $((200 + 10 * r)); done
	done
fi

push_mono() { # push_mono SERVER FILE
	local base=${URL[$1]} loc
	loc=$(curl -sf -X POST -o /dev/null -w '%header{location}' "$base/v2/bench/push/blobs/uploads/")
	[[ $loc == /* ]] && loc=$base$loc
	[[ $loc == *\?* ]] && loc="$loc&digest=${DIG[$2]}" || loc="$loc?digest=${DIG[$2]}"
	curl -sf -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$WORK/$2" "$loc"
}
if has push; then
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist); do
			for kind in mono chunk; do
				f=$kind$r$s
				cat "$WORK/$f" >/dev/null
				c0=$(cpu "${PID[$s]}"); t0=$(now)
				if [[ $kind == mono ]]; then
					push_mono "$s" "$f"
				else
					"$WORK/client" push -chunk 16 "${URL[$s]}" bench/push "$WORK/$f" "${DIG[$f]}" >/dev/null
				fi
				t1=$(now); c1=$(cpu "${PID[$s]}")
				secs=$(calc "$t1 - $t0")
				record "$kind.$s" "$(calc "$BLOB_MIB / $secs" 1)"; record "${kind}cpu.$s" "$(calc "$c1 - $c0" 2)"
				printf '  round %d %-6s push %-5s %6s s (%5.1f MiB/s), registry CPU %s s\n' "$r" "$s" "$kind" "$secs" "$(calc "$BLOB_MIB / $secs" 1)" "$(calc "$c1 - $c0" 2)" >&2
			done
		done
	done
fi

if has get; then
	for s in gantry dist; do "$WORK/client" push "${URL[$s]}" bench/blob "$WORK/blob" "${DIG[blob]}" >/dev/null; done
	for r in $(seq "$ROUNDS"); do
		for s in $(rotate "$r" gantry dist); do
			u="${URL[$s]}/v2/bench/blob/blobs/${DIG[blob]}"
			c0=$(cpu "${PID[$s]}")
			one=$(curl -sf -o /dev/null -w '%{speed_download}' "$u")
			t0=$(now); cp=()
			for c in $(seq "$CLIENTS"); do curl -sf -o /dev/null "$u" & cp+=($!); done
			for p in "${cp[@]}"; do wait "$p"; done
			t1=$(now); c1=$(cpu "${PID[$s]}")
			one=$(calc "$one / 1048576" 0); many=$(calc "$CLIENTS * $BLOB_MIB / ($t1 - $t0)" 0)
			record "get1.$s" "$one"; record "get8.$s" "$many"
			record "getcpu.$s" "$(calc "($c1 - $c0) * 1024 / ((1 + $CLIENTS) * $BLOB_MIB)")"
			printf '  round %d %-6s GET 1 client %5s MiB/s, %d clients %5s MiB/s, registry CPU %s s/GiB\n' "$r" "$s" "$one" "$CLIENTS" "$many" "$(calc "($c1 - $c0) * 1024 / ((1 + $CLIENTS) * $BLOB_MIB)")" >&2
		done
	done
fi

echo
echo "| measure (median of $ROUNDS) | gantry --s3 | Distribution $DIST_VERSION s3 | ratio |"
echo "|---|---|---|---|"
row() { local g d; g=$(med "$1.gantry"); d=$(med "$1.dist"); echo "| $2 | $g $3 | $d $3 | $( [[ $g != - && $d != - ]] && calc "$g / $d" 2 || echo -)x |"; }
if has push; then
	row mono "push $BLOB_MIB MiB monolithic" "MiB/s"; row chunk "push $BLOB_MIB MiB, 16 MiB chunks" "MiB/s"
	row monocpu "registry CPU, monolithic push" "s"; row chunkcpu "registry CPU, chunked push" "s"
fi
if has get; then
	row get1 "GET $BLOB_MIB MiB, 1 client" "MiB/s"; row get8 "GET $BLOB_MIB MiB, $CLIENTS clients" "MiB/s"; row getcpu "registry CPU per GiB served" "s"
fi
