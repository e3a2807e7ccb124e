#!/usr/bin/env bash
# P2P distribution on a simulated cluster (issue 11): N nodes pull one blob
# at the same moment, three ways side by side in the same run:
#
#   gantry  every node asks its own `gantry agent` (127.0.0.1:5050 in the
#           node), the agents form one swarm through `gantry tracker`, and
#           the origin `gantry serve` is their upstream;
#   direct  every node GETs the blob from the origin `gantry serve`;
#   bt      a BitTorrent swarm of the same blob: aria2c on every node, an
#           aria2c seeding the file in the origin's namespace, opentracker
#           (its whitelist holds the blob's info hash) as the tracker.
#
# The cluster: one network namespace per node, one for the origin and one
# for the tracker, each joined by a veth pair to a bridge of its own. Every
# node and the origin are limited to RATE_MBIT in both directions by HTB
# (over a FIFO of QUEUE_KB) on both ends of their veth: the end inside the
# namespace shapes what the node sends, the end on the bridge what it
# receives. The tracker's link is not limited (its traffic is small and it
# is not a node). Loopback inside a node (the pull to its agent) is not
# limited.
#
# Each run starts every pull at the same instant T0 (one second after the
# launch of the last one): a GET of /v2/REPO/blobs/DIGEST inside every
# node by bench/p2p/pullat, started before T0 and sleeping until then (for
# bt: aria2c, as BT_START says, whose --on-bt-download-complete hook
# stamps the time). As containerd does, each pull of gantry and direct
# first GETs the manifest naming the blob (a tag of REPO), before T0 and
# untimed: an agent serves a blob to a client whose manifest it fetched
# without asking the origin again, and a blob GET without one waits on a
# HEAD at the origin first. A node's completion time is its end minus T0.
# Fresh agents, a fresh tracker and empty data directories for every
# gantry run; fresh download directories and a fresh opentracker for every
# bt run.
#
# Reported per (mode, N, S), the median over RUNS runs of each figure:
#   makespan/(S/B)  the last node's completion over the optimum S/B
#   p50, p99        node completion over S/B (nearest rank: p99 is the
#                   slowest node for N < 100)
#   egress/S        the origin's egress over S: "payload" is the origin's
#                   gantry_http_response_bytes_total{route="blob_get"}
#                   (gantry and direct), "veth" the bytes the origin's veth
#                   sent (TCP/IP headers included, once per GSO segment, so
#                   under 1% more); for bt only the veth figure exists
#   GETs/digest     blob GETs the origin answered (any status), from its
#                   gantry_http_requests_total
#   CPU s/GB        CPU seconds (utime+stime from /proc) per GB delivered to
#                   the nodes (N*S): gantry: agents + tracker + origin;
#                   direct: origin; bt: every aria2c + opentracker
#   CPU wait/run    the time those processes' threads waited for a CPU on
#                   a run queue over the time they ran, through the pull
#                   (/proc/PID/task/*/schedstat). Every node's processes
#                   share this machine's cores, where a real node has its
#                   own: the higher the figure, the more the cores rather
#                   than the simulated network set the pace (two cores,
#                   1 MiB, gantry: 1.6 at 4 nodes, about 30 at 32)
#   fallbacks       pulls whose agent went to the origin itself because the
#                   swarm stalled (from the agents' "msg=pull" lines, which
#                   also give the bytes taken from the origin and from
#                   peers: logs/gantry-*/pull-bytes)
#
# Usage (as root): bench/p2p/run.sh
#   NODES="8 16"      node counts (each run uses the first N node namespaces)
#   SIZES_MIB="1 64"  blob sizes in MiB
#   RATE_MBIT=100     B, per node and for the origin, both directions
#   CC=cubic          TCP congestion control on the cluster's routes (ip route
#                     congctl; empty: the host's default). With BBR and the
#                     veths' microsecond base RTT, a node that downloads
#                     while its uplink is busy gets a window of a few dozen
#                     packets: its ACKs wait behind its uploads.
#   QUEUE_KB=         bytes each shaped direction may queue (0: HTB's default
#                     leaf, 1000 packets of any size). Default: 21 ms at
#                     RATE_MBIT, at least 64 KiB (a GSO segment must fit):
#                     256 at 100 Mbit/s, 64 at 10. A queue of fixed bytes
#                     would be ten times as long at 10 Mbit/s as at 100
#                     (256 KiB: 210 ms), and every request and have message
#                     would wait that long behind the data a node sends.
#   SEND_QUEUE=ackfirst  the queue of what each node and the origin send (the
#                     HTB inside its namespace: the host's own qdisc).
#                     ackfirst (the default): packets under 128 bytes (ACKs,
#                     SYNs, most have lines) in a class of their own
#                     that HTB serves first, the rest in a FIFO of QUEUE_KB.
#                     That is how a host's fq_codel or fq, the default qdisc
#                     of Debian and most distributions, serves a sparse flow
#                     (this kernel has neither). fifo: one FIFO of QUEUE_KB,
#                     in which a node's ACKs and requests wait behind the
#                     pieces it uploads, as on a host whose qdisc is a plain
#                     FIFO (pfifo_fast without systemd's default). fq: as
#                     ackfirst, and the rest in FQ_FLOWS=16 FIFOs of
#                     QUEUE_KB, one per low bits of the TCP destination
#                     port, served in turn a packet at a time: closer to
#                     fq_codel, which keeps each flow in a queue of its
#                     own, so a node's requests and short answers wait
#                     behind one packet of each flow it sends, not behind
#                     every byte queued. What a node receives always
#                     waits in a FIFO of QUEUE_KB (a switch's port).
#   RUNS=3            runs of each (mode, N, S); the modes' order rotates
#   MODES="gantry direct bt"
#   DIRECT_MAX_MIB=64 direct pulls only for blobs up to this size (N*S/B
#                     of a large blob takes long and says nothing new)
#   BT_START=exec     how each node's aria2c gets the torrent. exec: aria2c
#                     is exec'd at T0 with it, so its start-up is in the
#                     measured time (at 32 nodes on two cores, most of a
#                     second of CPU; bench/p2p/pullat). rpc: aria2c runs
#                     since before T0, as a node's client would, and at T0
#                     a waiter of bash builtins hands it the torrent through
#                     aria2c's RPC interface on the node's loopback. Neither
#                     is faster everywhere (BENCHMARKS.md).
#   GANTRY=/tmp/gantry-p2p  the binary (default: built from this checkout)
#   OUT=bench/p2p/out       per-run TSV, summary.md, logs of every run
#   SUBNET=10.199     the cluster's /16 (private to the bridge and namespaces)
#   WIRE=0            every WIRE seconds (0: never), also each node's bytes
#                     on the wire, as HTB counts them, in logs/*/wire (see
#                     sample_wire; report: bench/p2p/wire.py)
#   QUEUES=0          every QUEUES seconds (0: never), also the bytes waiting
#                     in each node's downlink FIFO, in logs/*/queues (see
#                     sample_queues)
#   DOWN_PCT=100      each node's downlink, UP_PCT=100 its uplink, as a
#                     per cent of RATE_MBIT (the origin's link stays at
#                     RATE_MBIT; S/B is still S over RATE_MBIT): room on one
#                     side of the nodes' links, to see which side binds
#   SLOW_NODES=       nodes (their numbers, 1 to N: "3 17") whose links, both
#   SLOW_PCT=25       ways, are at SLOW_PCT per cent of the others': a
#                     cluster with a node on a busy or lesser link. Their
#                     completions count in the run's figures like any
#                     other's; the times files (logs/*/times, a line a
#                     node in order) give the rest's without them
#   SLOW_FLAGS=       more flags for the slow nodes' agents (SLOW_NODES), e.g.
#                     --leaf; ALT_SLOW_FLAGS= theirs in mode "gantry-alt"
#   KILL_NODES=       nodes (their numbers, 1 to N, or "fetcher": the one
#                     whose agent took bytes from the origin so far) whose agents are killed
#   KILL_AT=0.3       (SIGKILL) KILL_AT times S/B after T0 in the gantry
#                     modes: peers that die mid-pull, parents in a small
#                     blob's trees among them. Their pulls fail (counted in
#                     "failed pulls"); the run's figures are the others'
#                     (their CPU drops out of CPU s/GB)
#   FREE_TRACKER=     what goes to and from the tracker outside the shaped
#                     links (both, to or from; empty: shaped like the rest),
#                     to see what the tracker's traffic costs a pull
#   AGENT_FLAGS=      more flags for every gantry agent
#   ALT_AGENT_FLAGS=  the agents' flags of mode "gantry-alt", a second gantry
#                     mode to compare flags side by side (MODES="gantry
#                     gantry-alt direct bt" ALT_AGENT_FLAGS="--stall-timeout=60s")
#   ALT_GANTRY=       the binary of mode "gantry-alt" (default: GANTRY), to
#                     compare two builds side by side in the same run
# Needs go (to build bench/p2p/pullat), iproute2 (ip, tc), curl, aria2c,
# opentracker and mktorrent (apt-get install -y aria2 opentracker
# mktorrent). Every process the script starts runs in a namespace it
# created, every wait is bounded, and the namespaces, the bridge and the
# processes go on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES=${NODES:-"8 16"}
SIZES_MIB=${SIZES_MIB:-"1 64"}
RATE_MBIT=${RATE_MBIT:-100}
QUEUE_KB=${QUEUE_KB:-$((RATE_MBIT * 256 / 100 > 64 ? RATE_MBIT * 256 / 100 : 64))}
CC=${CC-cubic}
SEND_QUEUE=${SEND_QUEUE:-ackfirst}
DOWN_PCT=${DOWN_PCT:-100}
UP_PCT=${UP_PCT:-100}
SLOW_NODES=${SLOW_NODES:-}
SLOW_PCT=${SLOW_PCT:-25}
KILL_NODES=${KILL_NODES:-}
KILL_AT=${KILL_AT:-0.3}
FREE_TRACKER=${FREE_TRACKER:-}
FQ_FLOWS=${FQ_FLOWS:-16}
RUNS=${RUNS:-3}
MODES=${MODES:-"gantry direct bt"}
DIRECT_MAX_MIB=${DIRECT_MAX_MIB:-64}
BT_START=${BT_START:-exec}
OUT=${OUT:-bench/p2p/out}
SUBNET=${SUBNET:-10.199}
GANTRY=${GANTRY:-}
AGENT_FLAGS=${AGENT_FLAGS:-}
WIRE=${WIRE:-0}
QUEUES=${QUEUES:-0}
ALT_AGENT_FLAGS=${ALT_AGENT_FLAGS:-}
SLOW_FLAGS=${SLOW_FLAGS:-}
ALT_SLOW_FLAGS=${ALT_SLOW_FLAGS:-}
ALT_GANTRY=${ALT_GANTRY:-}

die() { echo "p2p bench: $*" >&2; exit 1; }
case $BT_START in exec | rpc) ;; *) die "BT_START=$BT_START: want exec or rpc" ;; esac
case $FREE_TRACKER in "" | both | to | from) ;; *) die "FREE_TRACKER=$FREE_TRACKER: want both, to or from" ;; esac
for pct in "$DOWN_PCT" "$UP_PCT" "$SLOW_PCT"; do
	[[ $pct =~ ^[1-9][0-9]*$ ]] || die "DOWN_PCT and UP_PCT are whole per cents, not $pct"
done
for i in $KILL_NODES; do
	[[ $i =~ ^[1-9][0-9]*$ || $i == fetcher ]] || die "KILL_NODES: want node numbers from 1, or fetcher, not $i"
done
[[ $KILL_AT =~ ^[0-9]*\.?[0-9]+$ ]] || die "KILL_AT=$KILL_AT: want a multiple of S/B, e.g. 0.3"
[ "$(id -u)" = 0 ] || die "run as root (network namespaces and tc)"
for t in ip tc curl aria2c opentracker mktorrent awk sha256sum; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install -y iproute2 curl aria2 opentracker mktorrent)"
done
if [ -z "$GANTRY" ]; then
	GANTRY=$(mktemp -d)/gantry
	env -u CC go build -o "$GANTRY" ./cmd/gantry # CC is the congestion control here, not cgo's compiler
fi
[ -x "$GANTRY" ] || die "no gantry binary at $GANTRY"
ALT_GANTRY=${ALT_GANTRY:-$GANTRY}
[ -x "$ALT_GANTRY" ] || die "no gantry binary at $ALT_GANTRY (ALT_GANTRY)"

maxn=0
for n in $NODES; do
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || die "NODES: $n is not a count from 1 to 200"
	((n > maxn)) && maxn=$n
done
maxs=0
for s in $SIZES_MIB; do
	[[ $s =~ ^[0-9]+$ ]] && ((s >= 1)) || die "SIZES_MIB: $s is not a size in MiB"
	((s > maxs)) && maxs=$s
done

TAG=$(($$ % 10000))
PFX=gp2p$TAG            # namespaces: gp2p1234-origin, gp2p1234-n7, ...
BR=gpbr$TAG
WORK=$(mktemp -d /var/tmp/gantry-p2p-bench.XXXXXX)
# A run keeps N copies of the blob (the nodes'), and the blob, its torrent
# copy and the origin's: a bench that fills the disk ends every process
# that writes to it mid-run, its own included.
room=$(df -P -m "$WORK" | awk 'NR == 2 { print $4 }')
need=$(((maxn + 4) * maxs + 1024))
((room >= need)) || { rmdir "$WORK"; die "$need MiB free needed in $(dirname "$WORK") for $maxn nodes and a $maxs MiB blob, $room MiB there"; }
PULLAT=$WORK/pullat
env -u CC go build -o "$PULLAT" ./bench/p2p/pullat
mkdir -p "$OUT/logs"
TSV=$OUT/runs.tsv
CLK=$(getconf CLK_TCK)
ORIGIN_IP=$SUBNET.0.2
TRACKER_IP=$SUBNET.0.3
node_ip() { echo "$SUBNET.$((1 + $1 / 250)).$(($1 % 250 + 1))"; }
NAMESPACES=()
PIDS=()
NEIGH_RESTORE=()

cleanup() {
	set +e
	for kv in "${NEIGH_RESTORE[@]}"; do sysctl -q -w "$kv" >/dev/null; done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${NAMESPACES[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	sleep 0.2
	for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	ip link del "$BR" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# shape DEV PCT [NS]: HTB at PCT per cent of RATE_MBIT on DEV's egress
# (what goes to or from the tracker outside it, if FREE_TRACKER says so),
# over a byte-bounded FIFO of QUEUE_KB (the default leaf, a FIFO of 1000
# packets, holds that many GSO segments of up to 64 KiB: seconds of queue,
# in which a node's ACKs wait behind the data it sends; a real NIC has
# fq_codel or BQL), or in NS (what the host sends) as SEND_QUEUE says.
shape() {
	local dev=$1 kbit=$((RATE_MBIT * 10 * $2)) ns=${3:-}
	local rate=${kbit}kbit
	local tcx=(tc)
	[ -n "$ns" ] && tcx=(ip netns exec "$ns" tc)
	"${tcx[@]}" qdisc add dev "$dev" root handle 1: htb default 10 r2q 100
	"${tcx[@]}" class add dev "$dev" parent 1: classid 1:10 htb rate "$rate" ceil "$rate"
	if [ -n "$FREE_TRACKER" ]; then
		"${tcx[@]}" class add dev "$dev" parent 1: classid 1:20 htb rate 1000mbit ceil 1000mbit
		local way
		for way in src dst; do
			case $FREE_TRACKER/$way in
			both/* | from/src | to/dst) "${tcx[@]}" filter add dev "$dev" parent 1: protocol ip prio 0 u32 match ip "$way" "$TRACKER_IP/32" flowid 1:20 ;;
			esac
		done
	fi
	local queue=fifo
	[ -n "$ns" ] && queue=$SEND_QUEUE
	case $queue in
	fifo) [ "$QUEUE_KB" = 0 ] || "${tcx[@]}" qdisc add dev "$dev" parent 1:10 bfifo limit "${QUEUE_KB}kb" ;;
	ackfirst | fq)
		# IPv4 total length (bytes 2-3) under 128: 1:11, served first.
		"${tcx[@]}" class add dev "$dev" parent 1:10 classid 1:11 htb rate "$((kbit / 10))kbit" ceil "$rate" prio 0
		"${tcx[@]}" qdisc add dev "$dev" parent 1:11 bfifo limit 64kb
		"${tcx[@]}" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match u16 0x0000 0xff80 at 2 flowid 1:11
		if [ "$queue" = ackfirst ]; then
			# The rest: one FIFO, 1:12.
			"${tcx[@]}" class add dev "$dev" parent 1:10 classid 1:12 htb rate "$((kbit * 9 / 10))kbit" ceil "$rate" prio 1
			"${tcx[@]}" qdisc add dev "$dev" parent 1:12 bfifo limit "${QUEUE_KB}kb"
			"${tcx[@]}" filter add dev "$dev" parent 1: protocol all prio 2 u32 match u32 0 0 flowid 1:12
			return
		fi
		# fq: the rest in FQ_FLOWS FIFOs of QUEUE_KB each, by the low bits
		# of the TCP destination port, that HTB serves in turn (a packet
		# each): a stochastic fair queue, as a host's fq_codel keeps a
		# flow per queue, so a request or a refusal waits behind a packet
		# of each other flow, not behind all the bytes of the pieces
		# being sent.
		"${tcx[@]}" filter add dev "$dev" parent 1: prio 2 handle 2: protocol ip u32 divisor "$FQ_FLOWS"
		local k cls
		for ((k = 0; k < FQ_FLOWS; k++)); do
			cls=1:$(printf %x $((0x100 + k)))
			"${tcx[@]}" class add dev "$dev" parent 1:10 classid "$cls" htb rate "$((kbit * 9 / 10 / FQ_FLOWS))kbit" ceil "$rate" prio 1 quantum 1514
			"${tcx[@]}" qdisc add dev "$dev" parent "$cls" bfifo limit "${QUEUE_KB}kb"
			"${tcx[@]}" filter add dev "$dev" parent 1: protocol ip prio 2 u32 ht "2:$(printf %x "$k"):" match u32 0 0 flowid "$cls"
		done
		# TCP over IPv4 without options: the destination port's low bits
		# pick the bucket; anything else goes to the first.
		"${tcx[@]}" filter add dev "$dev" parent 1: protocol ip prio 2 u32 ht 800:: match ip protocol 6 0xff match u8 0x05 0x0f at 0 hashkey mask "$(printf 0x%08x $((FQ_FLOWS - 1)))" at 20 link 2:
		"${tcx[@]}" filter add dev "$dev" parent 1: protocol all prio 3 u32 match u32 0 0 flowid 1:100
		;;
	*) die "SEND_QUEUE=$SEND_QUEUE: want fifo, ackfirst or fq" ;;
	esac
}

# add_host NAME IP SHAPED: a namespace with eth0 on the bridge.
add_host() {
	local name=$1 ipaddr=$2 shaped=$3 ns=$PFX-$1 veth=gpv$TAG${1:0:6}
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	ip link set "$veth" master "$BR" up
	ip -n "$ns" addr add "$ipaddr/16" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	if [ -n "$CC" ]; then
		ip -n "$ns" route replace "$SUBNET.0.0/16" dev eth0 congctl "$CC"
		ip -n "$ns" route replace local 127.0.0.0/8 dev lo table local congctl "$CC"
	fi
	if [ "$shaped" = 1 ]; then
		local down=100 up=100
		[ "$name" = origin ] || down=$DOWN_PCT up=$UP_PCT
		[[ " $SLOW_NODES " == *" ${name#n} "* && $name == n* ]] && down=$((down * SLOW_PCT / 100)) up=$((up * SLOW_PCT / 100))
		shape "$veth" "$down"
		shape eth0 "$up" "$ns"
	fi
}

queues="queues of ${QUEUE_KB} KiB"
[ "$SEND_QUEUE" = ackfirst ] && queues="$queues, small packets sent first"
[ "$SEND_QUEUE" = fifo ] && queues="$queues, FIFO both ways"
[ "$SEND_QUEUE" = fq ] && queues="$queues, small packets first, then $FQ_FLOWS flow queues served in turn"
[ "$DOWN_PCT/$UP_PCT" = 100/100 ] || queues="$queues; the nodes' downlinks at $DOWN_PCT%, uplinks at $UP_PCT%"
[ -z "$SLOW_NODES" ] || queues="$queues; nodes $SLOW_NODES at $SLOW_PCT% of that"
[ -z "$FREE_TRACKER" ] || queues="$queues; the tracker's traffic ($FREE_TRACKER) unshaped"
echo "p2p bench: $maxn nodes at ${RATE_MBIT} Mbit/s ($queues) on bridge $BR, namespaces $PFX-*, work in $WORK" >&2
# The kernel keeps one neighbour (ARP) table for all namespaces, and its
# hard limit (gc_thresh3, 1024 by default) is below what a cluster of 32
# nodes fills: each namespace holds an entry for every peer it talked to,
# up to (N+2)^2 in all, and a run's entries outlive it for a while. Past
# the limit no entry is made, so connections to new peers time out ("dial
# tcp ...: i/o timeout" in the agents' logs for the first seconds of a
# run, "neighbor table overflow" in dmesg) and the swarm stalls. Raised
# for the run (never lowered), restored on exit.
neigh=$((2 * (maxn + 2) * (maxn + 2) + 1024))
for k in gc_thresh3 gc_thresh2; do
	f=/proc/sys/net/ipv4/neigh/default/$k v=$neigh
	[ "$k" = gc_thresh3 ] && v=$((2 * neigh))
	if [ "$(cat "$f")" -lt "$v" ]; then
		NEIGH_RESTORE+=("net.ipv4.neigh.default.$k=$(cat "$f")")
		echo "$v" >"$f"
	fi
done
ip link add "$BR" type bridge
ip link set "$BR" up
add_host origin "$ORIGIN_IP" 1
add_host tracker "$TRACKER_IP" 0
for ((i = 1; i <= maxn; i++)); do add_host "n$i" "$(node_ip "$i")" 1; done
ORIGIN_NS=$PFX-origin
TRACKER_NS=$PFX-tracker
ORIGIN_VETH=gpv${TAG}origin

# wait_http NS URL SECONDS: until URL answers anything at all.
wait_http() {
	local ns=$1 url=$2 secs=$3 k
	for ((k = 0; k < secs * 20; k++)); do
		[ "$(nsx "$ns" curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url")" != 000 ] && return 0
		sleep 0.05
	done
	return 1
}

# start NS LOG CMD...: runs CMD in NS in the background; its pid in $!.
start() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	PIDS+=($!)
}

# stop PID...: SIGTERM, then SIGKILL after 10 s.
stop() {
	local p k
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$@"; do
		for ((k = 0; k < 100; k++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# sched_ns PID...: "RUN WAIT", the ns the threads of the processes ran and
# waited on a run queue so far.
sched_ns() {
	local p
	for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
		awk '{ r += $1; w += $2 } END { printf "%.0f %.0f\n", r, w }'
}

# wait_ratio "RUN0 WAIT0" "RUN1 WAIT1": the run-queue wait between two
# sched_ns over the run time between them.
wait_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); r = y[1] - x[1]
		if (r <= 0) print "-"; else printf "%.1f\n", (y[2] - x[2]) / r }'
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		sum=$((sum + t))
	done
	echo "$sum"
}

# ORIGIN_TX counts the bytes the origin sent (its veth's bridge end receives them).
ORIGIN_TX=/sys/class/net/$ORIGIN_VETH/statistics/rx_bytes
origin_tx() { cat "$ORIGIN_TX"; }

# origin_metric NAME: the sum of the origin's blob_get series of NAME.
origin_metric() {
	nsx "$ORIGIN_NS" curl -s --max-time 5 "http://127.0.0.1:5000/metrics" |
		awk -v m="$1" 'index($0, m "{route=\"blob_get\"") == 1 { s += $NF } END { printf "%.0f\n", s }'
}

# The origin registry, for the whole run.
start "$ORIGIN_NS" "$OUT/logs/origin.log" "$GANTRY" serve --addr 0.0.0.0:5000 --insecure-http --root "$WORK/origin" --log-level warn
ORIGIN_PID=$!
wait_http "$ORIGIN_NS" http://127.0.0.1:5000/v2/ 30 || die "the origin did not start: $(tail -5 "$OUT/logs/origin.log")"

# launch_pulls N TMAX DIR BASE: starts bench/p2p/pullat in every node i,
# which GETs the manifest $BASE/manifests/$IMAGE_TAG at once, sleeps
# until T0 (set here), GETs $BASE/blobs/$DIGEST (bounded by TMAX) and
# writes its line "END_NS START_NS STATUS BYTES" to DIR/node$i. The
# client is running when the pull starts, as a node's containerd is: 32
# curls exec'd at T0 took 0.8 s of the two cores from the agents they
# measured.
launch_pulls() {
	local n=$1 tmax=$2 dir=$3 base=$4 i
	T0=$(($(date +%s%N) + 1000000000 + n * 20000000))
	LAUNCHED=()
	for ((i = 1; i <= n; i++)); do
		ip netns exec "$PFX-n$i" "$PULLAT" -at "$T0" -timeout "${tmax}s" -before "$base/manifests/$IMAGE_TAG" "$base/blobs/$DIGEST" >"$dir/node$i" 2>&1 &
		LAUNCHED+=($!)
	done
}

# kill_at SIZE PID...: kills (SIGKILL), in the background, the agents of
# KILL_NODES (PID... in node order; numbers past them are no node of the
# run) KILL_AT times S/B after T0. KILLER is the background job, which the
# run ends once its pulls are over.
kill_at() {
	local size=$1 at i victims=()
	shift
	local pids=("$@")
	for i in $KILL_NODES; do
		if [ "$i" = fetcher ]; then
			victims+=(fetcher)
		elif ((i <= ${#pids[@]})); then
			victims+=("${pids[$((i - 1))]}")
		fi
	done
	[ ${#victims[@]} -gt 0 ] || return 0
	at=$(awk -v t="$T0" -v s="$size" -v r="$RATE_MBIT" -v k="$KILL_AT" 'BEGIN { printf "%.0f", t + k * s * 8 / (r * 1e6) * 1e9 }')
	(
		sleep "$(awk -v a="$at" -v n="$(date +%s%N)" 'BEGIN { d = (a - n) / 1e9; printf "%.3f", (d > 0 ? d : 0) }')"
		if [[ " ${victims[*]} " == *" fetcher "* ]]; then
			# The node whose agent has taken bytes from the origin so far.
			for ((i = 1; i <= ${#pids[@]}; i++)); do
				if nsx "$PFX-n$i" curl -s --max-time 1 http://127.0.0.1:5050/metrics |
					awk '$1 == "gantry_agent_origin_bytes_total" && $2 > 0 { found = 1 } END { exit !found }'; then
					victims=("${victims[@]/fetcher/${pids[$((i - 1))]}}")
					echo "killing node $i, the fetcher" >&2
					break
				fi
			done
		fi
		kill -KILL "${victims[@]}" 2>/dev/null || true
	) &
	KILLER=$!
}

# record MODE N SIZE RUN DIR PAYLOAD WIRE GETS TICKS [FALLBACKS]: one line of runs.tsv
# from the nodes' result lines in DIR (for bt, DIR/done$i hold end times),
# and WAITS, the run's CPU wait/run (wait_ratio).
record() {
	local mode=$1 n=$2 size=$3 run=$4 dir=$5 payload=$6 wire=$7 gets=$8 ticks=$9 fallbacks=${10:--}
	local i line ok=0 fail=0 times=() late=0
	for ((i = 1; i <= n; i++)); do
		line=$(cat "$dir/node$i" 2>/dev/null || true)
		# line: END START CODE BYTES
		read -r end st code bytes <<<"$line" || true
		if [ "${code:-}" = 200 ] && [ "${bytes:-}" = "$size" ]; then
			ok=$((ok + 1))
			times+=("$(awk -v e="$end" -v t="$T0" 'BEGIN { printf "%.4f", (e - t) / 1e9 }')")
		else
			fail=$((fail + 1))
			echo "  $mode N=$n S=$size run $run: node $i failed: ${line:-no result}" >&2
		fi
		[[ ${st:-} =~ ^[0-9]+$ ]] && ((st - T0 > late)) && late=$((st - T0))
	done
	printf '%s\n' "${times[@]:-}" >"$OUT/logs/$mode-n$n-$((size >> 20))m-$run/times"
	local opt stats
	opt=$(awk -v s="$size" -v b="$RATE_MBIT" 'BEGIN { printf "%.6f", s * 8 / (b * 1e6) }')
	stats=$(printf '%s\n' "${times[@]:-}" | sort -g | awk -v o="$opt" '
		NF { t[++n] = $1 }
		END {
			if (n == 0) { print "- - -"; exit }
			p50 = t[int((n * 50 + 99) / 100)]; p99 = t[int((n * 99 + 99) / 100)]
			printf "%.2f %.2f %.2f\n", t[n] / o, p50 / o, p99 / o
		}')
	local cpugb
	cpugb=$(awk -v t="$ticks" -v c="$CLK" -v n="$ok" -v s="$size" 'BEGIN { if (n == 0) print "-"; else printf "%.2f", t / c / (n * s / 1e9) }')
	local eg_p eg_w
	eg_p=$(awk -v p="$payload" -v s="$size" 'BEGIN { if (p == "-") print "-"; else printf "%.3f", p / s }')
	eg_w=$(awk -v p="$wire" -v s="$size" 'BEGIN { printf "%.3f", p / s }')
	printf '%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.3f\t%s\t%s\n' "$mode" "$n" "$((size >> 20))" "$run" \
		$stats "$eg_p" "$eg_w" "$gets" "$cpugb" "$fallbacks" "$fail" "$(awk -v l="$late" 'BEGIN { print l / 1e9 }')" "$(cut -d' ' -f1 /proc/loadavg)" "$WAITS" >>"$TSV"
	tail -1 "$TSV" >&2
	[ -f "$OUT/logs/$mode-n$n-$((size >> 20))m-$run/pull-bytes" ] && sed 's/^/  /' "$OUT/logs/$mode-n$n-$((size >> 20))m-$run/pull-bytes" >&2
	return 0
}

# sample N FILE TMAX: every half second until killed (at most TMAX*2
# times), the bytes the origin sent and the nodes received and sent so
# far, read from the counters of the veths' bridge ends: "seconds since
# T0, origin tx, nodes' rx summed, then each node's rx and tx". Its pid in
# SAMPLER. It starts no process after the first: with a cat for each
# counter and a date, an awk and a sleep a tick, it took about 15% of the
# two cores through a pull at 32 nodes, from the agents it measured.
sample() {
	local n=$1 file=$2 tmax=$3
	local tick=$WORK/tick
	[ -p "$tick" ] || mkfifo "$tick"
	(
		local k i sum rx tx origin each now sign fd
		exec {fd}<>"$tick" # nobody writes: a read of it waits its timeout
		for ((k = 0; k < tmax * 2; k++)); do
			sum=0 each=
			for ((i = 1; i <= n; i++)); do
				read -r rx <"/sys/class/net/gpv${TAG}n$i/statistics/tx_bytes"
				read -r tx <"/sys/class/net/gpv${TAG}n$i/statistics/rx_bytes"
				sum=$((sum + rx)) each="$each $rx $tx"
			done
			read -r origin <"$ORIGIN_TX"
			now=$(((${EPOCHREALTIME/./} * 1000 - T0) / 100000000)) # tenths of a second
			sign=
			((now < 0)) && sign=- now=$((-now))
			printf '%s%d.%d %s %s%s\n' "$sign" $((now / 10)) $((now % 10)) "$origin" "$sum" "$each"
			read -rt 0.5 -u "$fd" _ || true
		done
	) >"$file" &
	SAMPLER=$!
	PIDS+=("$SAMPLER")
	if [ "$WIRE" != 0 ]; then
		sample_wire "$n" "$(dirname "$file")/wire" "$tmax" &
		SAMPLER="$SAMPLER $!"
		PIDS+=("$!")
	fi
	if [ "$QUEUES" != 0 ]; then
		sample_queues "$(dirname "$file")/queues" "$tmax" &
		SAMPLER="$SAMPLER $!"
		PIDS+=("$!")
	fi
}

# stamp VAR: VAR set to the seconds since T0, to the millisecond.
stamp() {
	local -n stamp_out=$1
	local ms=$(((${EPOCHREALTIME/./} * 1000 - T0) / 1000000)) sign=
	((ms < 0)) && sign=- ms=$((-ms))
	printf -v stamp_out '%s%d.%03d' "$sign" $((ms / 1000)) $((ms % 1000))
}

# sample_wire N FILE TMAX: every WIRE seconds for at most TMAX seconds, the
# bytes each node's HTB classes sent: "seconds since T0, node, down or up,
# bytes", a line each. HTB counts every TCP segment's headers, where the
# veths' counters that sample reads count them once per GSO segment (a few
# percent less than the wire). It runs two tc a node each time (a sweep
# of 32 nodes took 5-15 s under a run's load; each line has its own time),
# so it is off by default.
sample_wire() {
	local n=$1 file=$2 tmax=$3 i dir out now end=$((SECONDS + tmax))
	while ((SECONDS < end)); do
		for ((i = 1; i <= n; i++)); do
			for dir in down up; do
				if [ "$dir" = down ]; then
					out=$(tc -s class show dev "gpv${TAG}n$i" classid 1:10 2>/dev/null) || continue
				else
					out=$(tc -n "$PFX-n$i" -s class show dev eth0 classid 1:10 2>/dev/null) || continue
				fi
				[[ $out =~ Sent\ ([0-9]+)\ bytes ]] || continue
				stamp now
				printf '%s %d %s %s\n' "$now" "$i" "$dir" "${BASH_REMATCH[1]}"
			done
		done
		sleep "$WIRE"
	done >"$file"
}

# sample_queues FILE TMAX: every QUEUES seconds for at most TMAX seconds,
# the bytes waiting in each node's downlink FIFO (the bfifo under HTB at
# its veth's bridge end): "seconds since T0, node, bytes", a line each.
# One tc reads every node's at once, so it can run often: QUEUES=0.02
# took a sample every 0.05-0.1 s at 32 nodes (each line has its time). A
# node's uplink queue is in its namespace, out of this tc's reach.
sample_queues() {
	local file=$1 tmax=$2 now end=$((SECONDS + tmax))
	while ((SECONDS < end)); do
		stamp now
		tc -s qdisc show 2>/dev/null | awk -v t="$now" -v dev="gpv${TAG}n" '
			$1 == "qdisc" { node = ($2 == "bfifo" && index($5, dev) == 1) ? substr($5, length(dev) + 1) : "" }
			$1 == "backlog" && node != "" {
				b = $2; m = 1
				if (b ~ /Kb$/) m = 1024; else if (b ~ /Mb$/) m = 1048576
				sub(/[KM]?b$/, "", b)
				printf "%s %s %d\n", t, node, b * m
			}'
		sleep "$QUEUES"
	done >"$file"
}

# stop_sampler ends sample's loops.
stop_sampler() {
	local p
	for p in $SAMPLER; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
}

# wait_all TMAX PID...: waits for the pulls, bounded by TMAX (each pull
# runs under pullat's -timeout TMAX).
wait_all() {
	local p
	shift
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

run_gantry-alt() { mode=gantry-alt flags=$ALT_AGENT_FLAGS slowflags=$ALT_SLOW_FLAGS bin=$ALT_GANTRY run_gantry "$@"; }

run_gantry() {
	local n=$1 size=$2 run=$3 tmax=$4 dir i mode=${mode:-gantry} flags=${flags-$AGENT_FLAGS} slowflags=${slowflags-$SLOW_FLAGS} bin=${bin:-$GANTRY} more
	dir=$WORK/r; rm -rf "$dir" "$WORK/agents"; mkdir -p "$dir" "$WORK/agents"
	local logs=$OUT/logs/$mode-n$n-$((size >> 20))m-$run; rm -rf "$logs"; mkdir -p "$logs"
	start "$TRACKER_NS" "$logs/tracker.log" "$bin" tracker --listen "$TRACKER_IP:7070"
	local tpid=$! apids=()
	wait_http "$TRACKER_NS" "http://$TRACKER_IP:7070/" 30 || die "the tracker did not start: $(tail -5 "$logs/tracker.log")"
	for ((i = 1; i <= n; i++)); do
		more=
		[[ " $SLOW_NODES " == *" $i "* ]] && more=$slowflags
		start "$PFX-n$i" "$logs/agent$i.log" "$bin" agent --listen 127.0.0.1:5050 --peer-listen "$(node_ip "$i"):5051" \
			--upstream "http://$ORIGIN_IP:5000" --tracker "http://$TRACKER_IP:7070" --data "$WORK/agents/n$i" --id "n$i" $flags $more
		apids+=($!)
	done
	for ((i = 1; i <= n; i++)); do
		wait_http "$PFX-n$i" http://127.0.0.1:5050/v2/ 30 || die "agent $i did not start: $(tail -5 "$logs/agent$i.log")"
	done
	sleep 1 # every agent's tracker stream open
	local p0 w0 g0 c0 s0 measured=("${apids[@]}" "$tpid" "$ORIGIN_PID")
	p0=$(origin_metric gantry_http_response_bytes_total)
	g0=$(origin_metric gantry_http_requests_total)
	w0=$(origin_tx)
	c0=$(cpu_ticks "${measured[@]}")
	s0=$(sched_ns "${measured[@]}")
	launch_pulls "$n" "$tmax" "$dir" http://127.0.0.1:5050/v2/bench/blob
	KILLER=
	[ -z "$KILL_NODES" ] || kill_at "$size" "${apids[@]}"
	sample "$n" "$logs/bytes" "$tmax"
	wait_all "$tmax" "${LAUNCHED[@]}"
	[ -z "$KILLER" ] || { kill "$KILLER" 2>/dev/null; wait "$KILLER" 2>/dev/null; } || true
	stop_sampler
	local p1 w1 g1 c1
	c1=$(cpu_ticks "${measured[@]}")
	WAITS=$(wait_ratio "$s0" "$(sched_ns "${measured[@]}")")
	w1=$(origin_tx)
	p1=$(origin_metric gantry_http_response_bytes_total)
	g1=$(origin_metric gantry_http_requests_total)
	for ((i = 1; i <= n; i++)); do echo "agent$i $(cpu_ticks "${apids[$((i - 1))]}")"; done >"$logs/cpu-ticks"
	echo "tracker $(cpu_ticks "$tpid")" >>"$logs/cpu-ticks"
	stop "${apids[@]}"
	stop "$tpid"
	# The agents' pull records: fallbacks to the origin, and the bytes they
	# took from the origin and from peers against N*S.
	local fallbacks
	fallbacks=$(cat "$logs"/agent*.log | awk -v ns="$((n * size))" '
		/msg=pull/ {
			for (f = 1; f <= NF; f++) {
				split($f, kv, "=")
				if (kv[1] == "origin_bytes") o += kv[2]
				if (kv[1] == "peer_bytes") p += kv[2]
				if ($f == "fallback=true") fb++
			}
		}
		END { printf "%d\n", fb; printf "origin_bytes/(N*S) %.3f peer_bytes/(N*S) %.3f\n", o / ns, p / ns > "/dev/stderr" }' 2>"$logs/pull-bytes")
	record "$mode" "$n" "$size" "$run" "$dir" $((p1 - p0)) $((w1 - w0)) $((g1 - g0)) $((c1 - c0)) "$fallbacks"
	rm -rf "$WORK/agents" # N copies of the blob: the next run needs the room
	local warns
	warns=$(cat "$logs"/*.log | grep -c -E 'level=(WARN|ERROR)' || true)
	((warns == 0)) || echo "  $mode N=$n S=$((size >> 20))MiB run $run: $warns warnings in $logs" >&2
}

run_direct() {
	local n=$1 size=$2 run=$3 tmax=$4 dir
	dir=$WORK/r; rm -rf "$dir"; mkdir -p "$dir"
	local logs=$OUT/logs/direct-n$n-$((size >> 20))m-$run; rm -rf "$logs"; mkdir -p "$logs"
	local p0 w0 g0 c0 s0
	p0=$(origin_metric gantry_http_response_bytes_total)
	g0=$(origin_metric gantry_http_requests_total)
	w0=$(origin_tx)
	c0=$(cpu_ticks "$ORIGIN_PID")
	s0=$(sched_ns "$ORIGIN_PID")
	launch_pulls "$n" "$tmax" "$dir" "http://$ORIGIN_IP:5000/v2/bench/blob"
	sample "$n" "$logs/bytes" "$tmax"
	wait_all "$tmax" "${LAUNCHED[@]}"
	stop_sampler
	local p1 w1 g1 c1
	c1=$(cpu_ticks "$ORIGIN_PID")
	WAITS=$(wait_ratio "$s0" "$(sched_ns "$ORIGIN_PID")")
	w1=$(origin_tx)
	p1=$(origin_metric gantry_http_response_bytes_total)
	g1=$(origin_metric gantry_http_requests_total)
	record direct "$n" "$size" "$run" "$dir" $((p1 - p0)) $((w1 - w0)) $((g1 - g0)) $((c1 - c0))
}

run_bt() {
	local n=$1 size=$2 run=$3 tmax=$4 dir i k
	dir=$WORK/r; rm -rf "$dir" "$WORK/bt"; mkdir -p "$dir" "$WORK/bt/seed"
	local logs=$OUT/logs/bt-n$n-$((size >> 20))m-$run; rm -rf "$logs"; mkdir -p "$logs"
	# opentracker chroots to -d and reads its whitelist there.
	mkdir -p "$WORK/bt/ot"
	echo "$INFOHASH" >"$WORK/bt/ot/whitelist"
	start "$TRACKER_NS" "$logs/opentracker.log" opentracker -i "$TRACKER_IP" -p 6969 -P 6969 -d "$WORK/bt/ot" -w whitelist -u nobody
	local otpid=$! apids=()
	wait_http "$TRACKER_NS" "http://$TRACKER_IP:6969/stats" 30 || die "opentracker did not start: $(tail -5 "$logs/opentracker.log")"
	ln "$BLOB" "$WORK/bt/seed/blob" 2>/dev/null || cp "$BLOB" "$WORK/bt/seed/blob"
	local common=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --disable-ipv6=true
		--seed-ratio=0.0 --seed-time=600 --file-allocation=none --summary-interval=0
		--console-log-level=warn --bt-stop-timeout=0 --listen-port=6881)
	start "$ORIGIN_NS" "$logs/seed.log" env BT_DONE="$dir/seeded" aria2c "${common[@]}" --check-integrity=true \
		--on-bt-download-complete="$WORK/bt-done.sh" --dir="$WORK/bt/seed" "$TORRENT"
	local spid=$!
	for ((k = 0; k < 600; k++)); do [ -s "$dir/seeded" ] && break; sleep 0.1; done
	[ -s "$dir/seeded" ] || die "the aria2c seeder did not start: $(tail -5 "$logs/seed.log")"
	sleep 1 # its announce
	# Every node: an aria2c downloading into its own directory (BT_START),
	# whose hook stamps the time of completion in done$i; the node's result
	# line is written when that file appears (or at TMAX).
	for ((i = 1; i <= n; i++)); do mkdir -p "$WORK/bt/n$i"; done
	if [ "$BT_START" = rpc ]; then
		for ((i = 1; i <= n; i++)); do
			start "$PFX-n$i" "$logs/node$i.log" env BT_DONE="$dir/done$i" aria2c "${common[@]}" \
				--enable-rpc --rpc-listen-port=6800 --rpc-secret=bench --on-bt-download-complete="$WORK/bt-done.sh" --dir="$WORK/bt/n$i"
			apids+=($!)
		done
		for ((i = 1; i <= n; i++)); do
			for ((k = 0; k < 300; k++)); do
				nsx "$PFX-n$i" curl -s -m 1 -d '{"jsonrpc":"2.0","id":"v","method":"aria2.getVersion","params":["token:bench"]}' \
					http://127.0.0.1:6800/jsonrpc >/dev/null && break
				sleep 0.1
			done
			((k < 300)) || die "aria2c on node $i did not start: $(tail -5 "$logs/node$i.log")"
		done
		printf '{"jsonrpc":"2.0","id":"t0","method":"aria2.addTorrent","params":["token:bench","%s"]}' "$(base64 -w0 "$TORRENT")" >"$WORK/bt/add.json"
	fi
	local w0 c0 s0
	w0=$(origin_tx)
	c0=$(cpu_ticks "${apids[@]}" "$spid" "$otpid")
	s0=$(sched_ns "${apids[@]}" "$spid" "$otpid")
	T0=$(($(date +%s%N) + 1000000000 + n * 20000000))
	for ((i = 1; i <= n; i++)); do
		if [ "$BT_START" = exec ]; then
			BT_DONE=$dir/done$i ip netns exec "$PFX-n$i" bash -c '
				t0=$1; shift
				d=$((t0 - ${EPOCHREALTIME/./}000))
				((d > 0)) && sleep "$((d / 1000000000)).$(printf %09d $((d % 1000000000)))"
				echo "${EPOCHREALTIME/./}000" >"$BT_DONE.start"
				exec "$@"' _ "$T0" aria2c "${common[@]}" --on-bt-download-complete="$WORK/bt-done.sh" \
				--dir="$WORK/bt/n$i" "$TORRENT" >"$logs/node$i.log" 2>&1 &
			apids+=($!)
		else
			# Past its one exec (sleep), the waiter posts the torrent with
			# bash builtins alone (/dev/tcp), and logs aria2c's answer.
			BT_DONE=$dir/done$i ip netns exec "$PFX-n$i" bash -c '
				t0=$1 body=$(<"$2")
				d=$((t0 - ${EPOCHREALTIME/./}000))
				((d > 0)) && sleep "$((d / 1000000000)).$(printf %09d $((d % 1000000000)))"
				echo "${EPOCHREALTIME/./}000" >"$BT_DONE.start"
				exec 3<>/dev/tcp/127.0.0.1/6800
				printf "POST /jsonrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" "${#body}" "$body" >&3
				read -r status <&3
				echo "aria2.addTorrent at T0: $status"' _ "$T0" "$WORK/bt/add.json" >>"$logs/node$i.log" 2>&1 &
		fi
		PIDS+=($!)
	done
	sample "$n" "$logs/bytes" "$tmax"
	local deadline=$(($(date +%s) + tmax)) all
	while :; do
		all=1
		for ((i = 1; i <= n; i++)); do [ -s "$dir/done$i" ] || { all=0; break; }; done
		((all == 1 || $(date +%s) >= deadline)) && break
		sleep 0.05
	done
	local w1 c1
	w1=$(origin_tx)
	c1=$(cpu_ticks "${apids[@]}" "$spid" "$otpid")
	WAITS=$(wait_ratio "$s0" "$(sched_ns "${apids[@]}" "$spid" "$otpid")")
	stop_sampler
	# aria2c would announce its stop to the tracker first: no state to keep.
	kill -KILL "${apids[@]}" "$spid" "$otpid" 2>/dev/null || true
	for p in "${apids[@]}" "$spid" "$otpid"; do wait "$p" 2>/dev/null || true; done
	for ((i = 1; i <= n; i++)); do
		local got=0
		[ -f "$WORK/bt/n$i/blob" ] && got=$(stat -c %s "$WORK/bt/n$i/blob")
		if [ -s "$dir/done$i" ]; then
			echo "$(cat "$dir/done$i") $(cat "$dir/done$i.start") 200 $got" >"$dir/node$i"
		else
			echo "- - timeout $got" >"$dir/node$i"
		fi
	done
	record bt "$n" "$size" "$run" "$dir" - $((w1 - w0)) - $((c1 - c0))
	rm -rf "$WORK/bt"
}

printf '#!/bin/bash\necho "${EPOCHREALTIME/./}000" >"$BT_DONE"\n' >"$WORK/bt-done.sh"
chmod +x "$WORK/bt-done.sh"
printf 'mode\tN\tMiB\trun\tmakespan/(S/B)\tp50/(S/B)\tp99/(S/B)\tegress/S payload\tegress/S veth\tGETs\tCPU s/GB\tfallbacks\tfailed\tstart skew s\tload1\tCPU wait/run\n' >"$TSV"

EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a # "{}"
for smib in $SIZES_MIB; do
	size=$((smib << 20))
	BLOB=$WORK/blob-$smib
	head -c "$size" /dev/urandom >"$BLOB"
	DIGEST=sha256:$(sha256sum "$BLOB" | cut -d' ' -f1)
	# An upload session, then one PUT streaming the file (curl -T;
	# --data-binary reads it into memory, which curl refuses for 1 GiB).
	loc=$(nsx "$ORIGIN_NS" curl -s -D - -o /dev/null -X POST "http://127.0.0.1:5000/v2/bench/blob/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	case $loc in http*) ;; *) loc=http://127.0.0.1:5000$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$DIGEST" ;; *) loc="$loc?digest=$DIGEST" ;; esac
	code=$(nsx "$ORIGIN_NS" curl -s -o /dev/null -w '%{http_code}' -T "$BLOB" -H 'Content-Type: application/octet-stream' "$loc")
	[ "$code" = 201 ] || die "push of the $smib MiB blob: HTTP $code"
	# A manifest naming the blob as its one layer, with the empty config
	# of OCI 1.1, the manifest every pull GETs first.
	IMAGE_TAG=s$smib
	code=$(nsx "$ORIGIN_NS" curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{}' \
		"http://127.0.0.1:5000/v2/bench/blob/blobs/uploads/?digest=$EMPTY_DIGEST")
	[ "$code" = 201 ] || die "push of the empty config: HTTP $code"
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
		application/vnd.oci.image.manifest.v1+json "$EMPTY_DIGEST" "$DIGEST" "$size" >"$WORK/manifest-$smib.json"
	code=$(nsx "$ORIGIN_NS" curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$WORK/manifest-$smib.json" "http://127.0.0.1:5000/v2/bench/blob/manifests/$IMAGE_TAG")
	[ "$code" = 201 ] || die "push of the $smib MiB blob's manifest: HTTP $code"
	# The torrent: 256 KiB pieces up to 64 MiB, 1 MiB above (common
	# BitTorrent choices; the agents' own, swarm.PieceSize, are 512 KiB for
	# 64 MiB and 2 MiB for 256 MiB).
	mkdir -p "$WORK/torrent-$smib"
	ln "$BLOB" "$WORK/torrent-$smib/blob"
	TORRENT=$WORK/blob-$smib.torrent
	plen=18
	((smib > 64)) && plen=20
	((smib < 4)) && plen=15
	mktorrent -l "$plen" -a "http://$TRACKER_IP:6969/announce" -o "$TORRENT" "$WORK/torrent-$smib/blob" >/dev/null
	INFOHASH=$(aria2c -S "$TORRENT" | awk '/^Info Hash:/ { print $3 }')
	[ -n "$INFOHASH" ] || die "no info hash in $TORRENT"
	echo "blob $smib MiB: $DIGEST, torrent info hash $INFOHASH" >&2
	for n in $NODES; do
		opt=$(awk -v s="$size" -v b="$RATE_MBIT" 'BEGIN { print s * 8 / (b * 1e6) }')
		# Bounded: direct pulls take N*S/B; anything past 3x that plus a
		# minute has failed.
		tmax=$(awk -v o="$opt" -v n="$n" 'BEGIN { printf "%d", 3 * n * o + 60 }')
		modes=($MODES)
		for ((run = 1; run <= RUNS; run++)); do
			for ((k = 0; k < ${#modes[@]}; k++)); do
				mode=${modes[$(((k + run - 1) % ${#modes[@]}))]}
				[ "$mode" = direct ] && ((smib > DIRECT_MAX_MIB)) && continue
				"run_$mode" "$n" "$size" "$run" "$tmax"
			done
		done
	done
	rm -f "$BLOB" "$WORK/torrent-$smib/blob"
done

# Medians over the runs of every figure, per (mode, N, S).
{
	cc=${CC:-"the host's default"}
	echo "${RATE_MBIT} Mbit/s per node, $queues, congestion control $cc."
	echo
	echo "| N | S | mode | makespan/(S/B) | p50/(S/B) | p99/(S/B) | origin egress/S (payload) | (veth) | origin GETs/digest | CPU s/GB | CPU wait/run | agents' fallbacks | runs | failed pulls |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	tail -n +2 "$TSV" | sort -t$'\t' -k3,3n -k2,2n -k1,1 | awk -F'\t' '
		function med(k, j, m, a, c) {
			c = split(v[k], a, " "); m = 0
			# insertion sort of the few runs
			for (j = 2; j <= c; j++) { x = a[j]; for (m = j - 1; m >= 1 && (a[m] + 0 > x + 0); m--) a[m + 1] = a[m]; a[m + 1] = x }
			if (a[1] == "-") return "-"
			return c % 2 ? a[(c + 1) / 2] : sprintf("%.3g", (a[c / 2] + a[c / 2 + 1]) / 2)
		}
		{
			key = $2 "\t" $3 "\t" $1
			if (!(key in runs)) order[++nk] = key
			runs[key]++; fail[key] += $13
			for (f = 5; f <= 16; f++) if (f <= 12 || f == 16) v[key, f] = v[key, f] (v[key, f] == "" ? "" : " ") $f
		}
		END {
			for (i = 1; i <= nk; i++) {
				k = order[i]; split(k, p, "\t")
				printf "| %s | %s MiB | %s |", p[1], p[2], p[3]
				for (f = 5; f <= 11; f++) printf " %s |", med(k SUBSEP f)
				printf " %s | %s |", med(k SUBSEP 16), med(k SUBSEP 12)
				printf " %d | %d |\n", runs[k], fail[k]
			}
		}'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
