#!/usr/bin/env bash
# What TLS costs gantry serve and gantry's client, side by side on loopback:
# a one-layer image of BLOB_MIB (256) MiB of random bytes pushed with
# `gantry copy` from an OCI layout into a fresh `gantry serve`, then pulled
# back into a fresh layout, over
#   plain   plain HTTP (loopback)
#   tls-h2  HTTPS (--tls-cert/--tls-key), the client's default: HTTP/2
#   tls-h1  HTTPS, the client held to HTTP/1.1 (GODEBUG=http2client=0)
# Rounds alternate the order of the modes; medians of wall seconds and the
# ratio to plain are printed at the end.
#
# Usage: bench/tls/run.sh        ROUNDS=5 BLOB_MIB=256 WORKDIR=/var/tmp
# Needs openssl and crane (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
BLOB_MIB=${BLOB_MIB:-256}
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/gantry-tls-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
GANTRY=$WORK/gantry
go build -o "$GANTRY" ./cmd/gantry
CRANE=$(command -v crane || echo "$(go env GOPATH)/bin/crane")

# A CA and a certificate for 127.0.0.1.
(
	cd "$WORK"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr -subj /CN=localhost 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
	openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 2 -extfile ext.cnf 2>/dev/null
)

# serve ROOT PORT [FLAGS...]: starts gantry serve and waits for it.
serve() {
	local root=$1 port=$2
	shift 2
	local scheme=http
	[[ " $* " == *" --tls-cert "* ]] && scheme=https
	"$GANTRY" serve --addr "127.0.0.1:$port" --root "$root" --log-level warn "$@" &
	PIDS+=($!)
	for _ in $(seq 100); do
		curl -s --cacert "$WORK/ca.crt" -o /dev/null "$scheme://127.0.0.1:$port/v2/" 2>/dev/null && return
		sleep 0.1
	done
	echo "gantry serve on $port did not start" >&2
	exit 1
}
stop() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }

# The source image, in an OCI layout.
head -c $((BLOB_MIB << 20)) /dev/urandom >"$WORK/layer.bin"
tar -C "$WORK" -cf "$WORK/layer.tar" layer.bin
rm "$WORK/layer.bin"
serve "$WORK/seed" 5690
"$CRANE" append --oci-empty-base -f "$WORK/layer.tar" -t 127.0.0.1:5690/bench/big:1 >/dev/null
"$GANTRY" copy -q 127.0.0.1:5690/bench/big:1 "oci:$WORK/src:bench/big:1" >/dev/null
stop
rm "$WORK/layer.tar"

now() { date +%s.%N; }
declare -A push pull
modes=(plain tls-h2 tls-h1)
for r in $(seq "$ROUNDS"); do
	# Rotate the order each round.
	order=("${modes[@]:$((r % 3))}" "${modes[@]:0:$((r % 3))}")
	for m in "${order[@]}"; do
		rm -rf "$WORK/root" "$WORK/dst"
		env=()
		flags=()
		client=()
		case $m in
		plain) ;;
		tls-h2) flags=(--tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key") client=(--ca-file "$WORK/ca.crt") ;;
		tls-h1) flags=(--tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key") client=(--ca-file "$WORK/ca.crt") env=(GODEBUG=http2client=0) ;;
		esac
		serve "$WORK/root" 5691 "${flags[@]}"
		t0=$(now)
		env "${env[@]}" "$GANTRY" copy -q "${client[@]}" "oci:$WORK/src:bench/big:1" 127.0.0.1:5691/bench/big:1 >/dev/null
		t1=$(now)
		env "${env[@]}" "$GANTRY" copy -q "${client[@]}" 127.0.0.1:5691/bench/big:1 "oci:$WORK/dst:bench/big:1" >/dev/null
		t2=$(now)
		stop
		push[$m]+="$(echo "$t1 - $t0" | bc) "
		pull[$m]+="$(echo "$t2 - $t1" | bc) "
		echo "round $r $m push $(echo "$t1 - $t0" | bc) s, pull $(echo "$t2 - $t1" | bc) s"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "median seconds over $ROUNDS rounds, $BLOB_MIB MiB blob ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-8s %8s %8s %8s %8s\n' mode push ratio pull ratio
pp=$(echo "${push[plain]}" | median)
pl=$(echo "${pull[plain]}" | median)
for m in "${modes[@]}"; do
	a=$(echo "${push[$m]}" | median)
	b=$(echo "${pull[$m]}" | median)
	printf '%-8s %8.2f %8.2f %8.2f %8.2f\n' "$m" "$a" "$(echo "$a / $pp" | bc -l)" "$b" "$(echo "$b / $pl" | bc -l)"
done
