# shellcheck shell=bash
# Helpers every bench script shares; source it after setting WORK (the
# run's scratch directory, where record keeps its figures).

# GO_TAGS: the build tags of the gantry under test, as make build sets
# them (isal where libisal-dev is installed); GO_TAGS= for pure Go.
: "${GO_TAGS=$(pkg-config --exists libisal 2>/dev/null && echo isal)}"

log() { echo "# $*" >&2; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "nan"}'; }
calc() { awk "BEGIN {printf \"%.${2:-3}f\", $1}"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# record KEY VALUE keeps a figure; med KEY is the median of those kept.
record() { echo "$2" >>"$WORK/res.$1"; }
med() { if [[ -s "$WORK/res.$1" ]]; then median <"$WORK/res.$1"; else echo -; fi; }
waiturl() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }
# cpu PID: the CPU seconds the process has used.
cpu() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}'; }
