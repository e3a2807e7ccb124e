#!/usr/bin/env bash
# Bundles on a real fleet (bench/images/build.sh: 8 app images built with
# buildah on two debootstrap bases, served by CNCF Distribution on loopback):
#
#  1. size: `gantry bundle create` of the release vs the sum of one
#     `skopeo copy docker-archive:` tarball per image (what sites get today)
#     and vs one `skopeo copy` OCI layout per image; the target is the sum
#     of the unique blobs plus under 1% overhead.
#  2. delta: a site holding release 1 (gantry's store) writes `gantry
#     inventory`; `bundle create --have` of release 2 (shop:1 -> shop:2,
#     one layer changed) vs the bytes that really changed.
#  3. throughput, rounds alternating: create (registry -> bundle file) vs
#     skopeo copy of each image to a docker-archive tarball and to one
#     shared OCI layout; push (bundle -> fresh registry) vs skopeo copy of
#     each image from that OCI layout to a fresh registry.
#
#   bench/bundle/run.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
cache="${GANTRY_BENCH_IMAGES:-/var/tmp/gantry-bench-images}"
bench/images/build.sh >&2
work="$(mktemp -d /var/tmp/gantry-bench-bundle.XXXXXX)"
source bench/images/serve.sh
cleanup() { fleet_stop; target_stop; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/gantry" ./cmd/gantry
fleet_serve "$cache"
src=$FLEET_HOST
apps=(python-app:1 java-app:1 java-worker:1 node-app:1 go-static:1 nginx-web:1 bloated:1)
rel1=("${apps[@]}" shop:1)
rel2=("${apps[@]}" shop:2)
refs() { local i; for i in "$@"; do echo "$src/bench/$i"; done; }
mapfile -t rel1_refs < <(refs "${rel1[@]}")
mapfile -t rel2_refs < <(refs "${rel2[@]}")

show() { printf '$'; printf ' %q' "$@"; printf '\n'; } >&2
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.3f\n", a - b}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mb() { awk -v a="$1" 'BEGIN {printf "%.1f MB", a / 1e6}'; }
fsize() { stat -c %s "$1"; }

# Blob sets straight from the registry: manifest, config and layers of each image.
blobs() { # OUT IMAGE... -> lines "digest size kind image"
	local out=$1; shift
	python3 - "$src" "$@" >"$out" <<'PY'
import json, sys, urllib.request
host, imgs = sys.argv[1], sys.argv[2:]
acc = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
for img in imgs:
    repo, tag = img.rsplit(":", 1)
    r = urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/bench/{repo}/manifests/{tag}", headers={"Accept": acc}))
    body = r.read()
    print(r.headers["Docker-Content-Digest"], len(body), "manifest", img)
    m = json.loads(body)
    print(m["config"]["digest"], m["config"]["size"], "config", img)
    for l in m["layers"]:
        print(l["digest"], l["size"], "layer", img)
PY
}
uniq_bytes() { awk '!seen[$1]++ {s += $2} END {print s}' "$@"; }
blobs "$work/rel1.blobs" "${rel1[@]}"
blobs "$work/rel2.blobs" "${rel2[@]}"

# --- 1. size ------------------------------------------------------------------
echo "## size: release 1, ${#rel1[@]} images" >&2
cmd=("$work/gantry" bundle create --insecure -q -o "$work/rel1.tar" "${rel1_refs[@]}")
show "${cmd[@]}"; "${cmd[@]}" >/dev/null
bundle=$(fsize "$work/rel1.tar")
unique=$(uniq_bytes "$work/rel1.blobs")
per_image=$(awk '{s += $2} END {print s}' "$work/rel1.blobs")
archives=0; layouts=0
for i in "${rel1[@]}"; do
	skopeo copy -q --src-tls-verify=false "docker://$src/bench/$i" "docker-archive:$work/arch.tar:bench/$i"
	archives=$((archives + $(fsize "$work/arch.tar"))); rm -f "$work/arch.tar"
	skopeo copy -q --src-tls-verify=false "docker://$src/bench/$i" "oci:$work/lay:bench/$i"
	layouts=$((layouts + $(du -sb "$work/lay" | cut -f1))); rm -rf "$work/lay"
done
echo "\$ skopeo copy --src-tls-verify=false docker://$src/bench/IMAGE docker-archive:FILE:bench/IMAGE   (and oci:DIR:bench/IMAGE), one per image" >&2
overhead=$(awk -v b="$bundle" -v u="$unique" 'BEGIN {printf "%.3f", (b - u) * 100 / u}')
echo "bundle size: $(mb "$bundle"); unique blobs $(mb "$unique") -> overhead $((bundle - unique)) bytes = ${overhead}% (target < 1%)"
echo "  vs per-image docker-archive tarballs: $(mb "$archives") ($(ratio "$archives" "$bundle")x the bundle)"
echo "  vs per-image OCI layouts:             $(mb "$layouts") ($(ratio "$layouts" "$bundle")x the bundle; blobs counted per image: $(mb "$per_image"))"

# --- 2. delta -----------------------------------------------------------------
echo "## delta: site has release 1, bundle release 2 (shop:1 -> shop:2)" >&2
for r in "${rel1_refs[@]}"; do
	"$work/gantry" copy --insecure -q "$r" "oci:$work/site:${r#*/}" >/dev/null
done
cmd=("$work/gantry" inventory "oci:$work/site" -o "$work/have.json")
show "${cmd[@]}"; "${cmd[@]}" >/dev/null
cmd=("$work/gantry" bundle create --insecure -q --have "$work/have.json" -o "$work/delta.tar" "${rel2_refs[@]}")
show "${cmd[@]}"; "${cmd[@]}" >/dev/null
delta=$(fsize "$work/delta.tar")
# what release 2 has that release 1 lacks, by kind
awk 'NR == FNR {have[$1] = 1; next} !($1 in have) && !seen[$1]++ {s[$3] += $2; n[$3]++} END {for (k in s) print k, n[k], s[k]}' \
	"$work/rel1.blobs" "$work/rel2.blobs" >"$work/new.txt"
new_layers=$(awk '$1 == "layer" {print $3}' "$work/new.txt"); new_layers=${new_layers:-0}
new_all=$(awk '{s += $3} END {print s}' "$work/new.txt")
mc_all=$(awk '$3 != "layer" && !seen[$1]++ {s += $2} END {print s}' "$work/rel2.blobs")
echo "delta size: $(mb "$delta") ($delta bytes); changed layers: $(awk '$1 == "layer" {print $2}' "$work/new.txt") = $(mb "$new_layers"); new blobs (layer + config + manifest): $(mb "$new_all"); all release-2 manifests and configs: $mc_all bytes"
echo "  delta / changed layers = $(ratio "$delta" "$new_layers")x; full release-2 bundle would be $(mb "$(uniq_bytes "$work/rel2.blobs")")"
"$work/gantry" bundle inspect "$work/delta.tar" >&2 || true

# --- 3. throughput ------------------------------------------------------------
target_start() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	dst="127.0.0.1:$port"
	rm -rf "$work/dst"
	cat >"$work/dst.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/dst}}
http: {addr: $dst}
YML
	docker-registry serve "$work/dst.yml" >"$work/dst.log" 2>&1 &
	dst_pid=$!
	local i
	for i in $(seq 100); do curl -fs "http://$dst/v2/" >/dev/null && return 0; sleep 0.1; done
	echo "target registry did not start" >&2; return 1
}
target_stop() { if [[ -n "${dst_pid:-}" ]]; then kill "$dst_pid" 2>/dev/null || true; wait "$dst_pid" 2>/dev/null || true; dst_pid=; fi; }

g_create() {
	rm -f "$work/b.tar"
	local t0; t0=$(now)
	"$work/gantry" bundle create --insecure -q -o "$work/b.tar" "${rel1_refs[@]}" >/dev/null
	sync -f "$work/b.tar"; since "$t0"
}
s_archive() {
	rm -rf "$work/sa"; mkdir -p "$work/sa"
	local t0 i; t0=$(now)
	for i in "${rel1[@]}"; do
		skopeo copy -q --src-tls-verify=false "docker://$src/bench/$i" "docker-archive:$work/sa/${i//[:\/]/_}.tar:bench/$i"
	done
	sync -f "$work/sa"; since "$t0"
}
s_layout() {
	rm -rf "$work/so"
	local t0 i; t0=$(now)
	for i in "${rel1[@]}"; do
		skopeo copy -q --src-tls-verify=false "docker://$src/bench/$i" "oci:$work/so:bench/$i"
	done
	sync -f "$work/so/index.json"; since "$t0"
}
g_push() {
	target_start
	local t0; t0=$(now)
	"$work/gantry" bundle push -q --insecure "$work/b.tar" --to "$dst" >/dev/null
	since "$t0"
	target_stop
}
s_push() {
	target_start
	local t0 i; t0=$(now)
	for i in "${rel1[@]}"; do
		skopeo copy -q --dest-tls-verify=false "oci:$work/so:bench/$i" "docker://$dst/bench/$i"
	done
	since "$t0"
	target_stop
}
echo "## throughput, $rounds rounds alternating; $(mb "$unique") of unique blobs" >&2
show "$work/gantry" bundle create --insecure -q -o B.tar "${rel1_refs[@]}"
echo "\$ skopeo copy -q --src-tls-verify=false docker://$src/bench/IMAGE docker-archive:DIR/IMAGE.tar:bench/IMAGE   # per image" >&2
echo "\$ skopeo copy -q --src-tls-verify=false docker://$src/bench/IMAGE oci:LAYOUT:bench/IMAGE                 # per image, one layout" >&2
echo "\$ $work/gantry bundle push -q --insecure B.tar --to FRESH_REGISTRY" >&2
echo "\$ skopeo copy -q --dest-tls-verify=false oci:LAYOUT:bench/IMAGE docker://FRESH_REGISTRY/bench/IMAGE   # per image" >&2
gc=(); sa=(); so=(); gp=(); sp=()
for r in $(seq "$rounds"); do
	if ((r % 2)); then
		gc+=("$(g_create)"); sa+=("$(s_archive)"); so+=("$(s_layout)")
		gp+=("$(g_push)"); sp+=("$(s_push)")
	else
		so+=("$(s_layout)"); sa+=("$(s_archive)"); gc+=("$(g_create)")
		sp+=("$(s_push)"); gp+=("$(g_push)")
	fi
	echo "round $r: create: gantry ${gc[-1]} s, skopeo->docker-archive ${sa[-1]} s, skopeo->oci ${so[-1]} s; push: gantry ${gp[-1]} s, skopeo ${sp[-1]} s" >&2
done
m() { printf '%s\n' "$@" | median; }
gcm=$(m "${gc[@]}"); sam=$(m "${sa[@]}"); som=$(m "${so[@]}"); gpm=$(m "${gp[@]}"); spm=$(m "${sp[@]}")
tput() { awk -v b="$unique" -v t="$1" 'BEGIN {printf "%.0f MB/s", b / t / 1e6}'; }
echo "create (${#rel1[@]} images, registry -> file), median of $rounds: gantry ${gcm} s ($(tput "$gcm")), skopeo->docker-archive ${sam} s ($(ratio "$sam" "$gcm")x gantry's time), skopeo->one OCI layout ${som} s ($(ratio "$som" "$gcm")x)"
echo "push (bundle/layout -> fresh registry), median of $rounds: gantry ${gpm} s ($(tput "$gpm")), skopeo ${spm} s ($(tput "$spm")); skopeo/gantry = $(ratio "$spm" "$gpm")x"
echo "rounds: create gantry ${gc[*]}; skopeo->archive ${sa[*]}; skopeo->oci ${so[*]}; push gantry ${gp[*]}; skopeo ${sp[*]}" >&2
du -sb "$work/b.tar" "$work/sa" "$work/so" >&2
