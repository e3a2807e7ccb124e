#!/usr/bin/env bash
# Image analysis on the ~1 GB image of the bench fleet (bench/images/build.sh:
# bench/bloated:1, JDK + chromium, a 96 MiB file deleted in a later layer,
# apt lists and .debs left behind), served by CNCF Distribution on loopback:
#
#  - `gantry check` reading the registry, vs dive's pipeline (`skopeo copy`
#    to a docker-archive tar, then `dive --ci --source docker-archive`: the
#    export counts in dive's time, since dive needs it), vs dockle reading
#    the registry; wall time and peak RSS from /usr/bin/time -v, rounds
#    alternating the order, medians. The wasted-bytes figures side by side.
#  - `gantry lint` on 500 generated Dockerfiles, wall time.
#
#   bench/analyze/run.sh [ROUNDS]    (default 3)
#   DIVE=path/to/dive DOCKLE=path/to/dockle   (default: built into
#   /var/tmp/gantry-bench-analyze-tools by bench/analyze/peers.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
cache="${GANTRY_BENCH_IMAGES:-/var/tmp/gantry-bench-images}"
bench/images/build.sh >&2
work="$(mktemp -d /var/tmp/gantry-bench-analyze.XXXXXX)"
source bench/images/serve.sh
trap 'fleet_stop; rm -rf "$work"' EXIT

source bench/analyze/peers.sh

# gantry as make build makes it (ISA-L where libisal-dev is installed).
: "${GO_TAGS=$(pkg-config --exists libisal 2>/dev/null && echo isal)}"
go build -tags "$GO_TAGS" -o "$work/gantry" ./cmd/gantry
fleet_serve "$cache"
img="$FLEET_HOST/bench/bloated:1"

show() { printf '$'; printf ' %q' "$@"; printf '\n'; } >&2
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# timed OUT CMD...: runs CMD under /usr/bin/time -v, stdout to OUT.log, stderr
# to OUT.err (with "exit N" appended on failure);
# prints "SECONDS MAXRSS_KB"
timed() {
	local out=$1; shift
	/usr/bin/time -v -o "$out.time" "$@" >"$out.log" 2>"$out.err" || echo "exit $? ($*)" >>"$out.err"
	awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]}
		/Maximum resident set size/ {m = $2} END {printf "%.2f %d\n", s, m}' "$out.time"
}

gantry_cmd=("$work/gantry" check --insecure --format json --failure-threshold none "$img")
export_cmd=(skopeo copy -q --src-tls-verify=false "docker://$img" "docker-archive:$work/bloated.tar:bench/bloated:1")
dive_cmd=("$DIVE" --ci --source docker-archive "$work/bloated.tar")
dockle_cmd=("$DOCKLE" --insecure --nonssl --no-color --timeout 600s --exit-code 0 --cache-dir "$work/dockle-cache" "$img")
echo "## $img: $rounds rounds, order rotating" >&2
show "${gantry_cmd[@]}"; show "${export_cmd[@]}"; show "${dive_cmd[@]}"; show "${dockle_cmd[@]}"

run_gantry() { read -r gt gm < <(timed "$work/gantry.$1" "${gantry_cmd[@]}"); G_T+=("$gt"); G_M+=("$gm"); }
run_dive() {
	rm -f "$work/bloated.tar"
	read -r et em < <(timed "$work/export.$1" "${export_cmd[@]}")
	read -r dt dm < <(timed "$work/dive.$1" "${dive_cmd[@]}")
	E_T+=("$et"); D_T+=("$dt"); P_T+=("$(awk -v a="$et" -v b="$dt" 'BEGIN {printf "%.2f", a + b}')")
	P_M+=("$((em > dm ? em : dm))"); E_M+=("$em"); D_M+=("$dm")
}
run_dockle() {
	rm -rf "$work/dockle-cache"
	read -r kt km < <(timed "$work/dockle.$1" "${dockle_cmd[@]}")
	K_T+=("$kt"); K_M+=("$km")
}
G_T=(); G_M=(); E_T=(); D_T=(); P_T=(); P_M=(); E_M=(); D_M=(); K_T=(); K_M=()
for r in $(seq "$rounds"); do
	case $((r % 3)) in
	1) run_gantry "$r"; run_dive "$r"; run_dockle "$r" ;;
	2) run_dive "$r"; run_dockle "$r"; run_gantry "$r" ;;
	0) run_dockle "$r"; run_gantry "$r"; run_dive "$r" ;;
	esac
	echo "round $r: gantry ${G_T[-1]} s ${G_M[-1]} kB; dive pipeline ${P_T[-1]} s (export ${E_T[-1]} + dive ${D_T[-1]}) ${P_M[-1]} kB (export ${E_M[-1]}, dive ${D_M[-1]}); dockle ${K_T[-1]} s ${K_M[-1]} kB" >&2
done
m() { printf '%s\n' "$@" | median; }
gt=$(m "${G_T[@]}"); gm=$(m "${G_M[@]}"); pt=$(m "${P_T[@]}"); pm=$(m "${P_M[@]}")
et=$(m "${E_T[@]}"); dt=$(m "${D_T[@]}"); kt=$(m "${K_T[@]}"); km=$(m "${K_M[@]}")
echo "gantry check:  ${gt} s, peak RSS $((gm / 1024)) MiB"
echo "dive pipeline: ${pt} s (skopeo export ${et} s + dive ${dt} s), peak RSS $((pm / 1024)) MiB -> $(ratio "$pt" "$gt")x gantry's time, $(ratio "$pm" "$gm")x its memory (target >= 3x faster, less memory)"
echo "dockle:        ${kt} s, peak RSS $((km / 1024)) MiB -> $(ratio "$kt" "$gt")x gantry's time, $(ratio "$km" "$gm")x its memory (target >= 2x faster, less memory)"
for f in gantry export dive dockle; do
	if grep -q '^exit ' "$work/$f.1.err"; then echo "$f failed:" >&2; tail -20 "$work/$f.1.err" >&2; fi
done

# --- wasted bytes, side by side ---------------------------------------------
python3 - "$work/gantry.1.log" "$work/dive.1.log" <<'PY'
import json, re, sys
out = json.load(open(sys.argv[1]))
findings = out["findings"] if isinstance(out, dict) and "findings" in out else out
for f in findings:
    if f.get("rule") == "GC004":
        m = re.search(r"layers store (\S+ \S+) of files, the final filesystem shows (\S+ \S+) \(dive would report (\S+ [kMGTPE]?B)", f["message"])
        print(f"gantry, exact (GC004):        {f['bytes']:>13,} bytes  (stored {m.group(1)}, final filesystem {m.group(2)})")
        print(f"gantry, dive's definition:    {m.group(3):>19}")
    if f.get("rule") in ("GC005", "GC051", "GC010", "GC011"):
        print(f"  {f['rule']}: {f['message'][:200]}")
dive = open(sys.argv[2]).read()
w = re.search(r"wastedBytes:\s*(\d+) bytes \(([^)]*)\)", dive)
e = re.search(r"efficiency:\s*([\d.]+) %", dive)
u = re.search(r"userWastedPercent:\s*([\d.]+) %", dive)
print(f"dive --ci wastedBytes:        {int(w.group(1)):>13,} bytes  ({w.group(2)}; efficiency {e.group(1)} %, userWastedPercent {u.group(1)} %)" if w else "dive: no wastedBytes line\n" + dive[-2000:])
PY
echo "dockle findings (round 1):" >&2
grep -E '^(FATAL|WARN|INFO|SKIP|PASS)' "$work/dockle.1.log" | head -20 >&2 || tail -5 "$work/dockle.1.err" >&2

# --- gantry lint on 500 Dockerfiles -------------------------------------------
mkdir -p "$work/df"
python3 - "$work/df" 500 <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
r = random.Random(5)
bases = ["debian:12", "debian:bookworm-slim", "ubuntu:22.04", "ubuntu", "alpine:3.19", "alpine:latest",
         "python:3.12-slim", "node:20", "golang:1.22 AS build", "eclipse-temurin:21-jre",
         "registry.example.com/base/debian@sha256:" + "ab" * 32, "${BASE}", "centos:7", "nginx:1.27"]
pk = {
    "apt": ["RUN apt-get update && apt-get install -y --no-install-recommends {p} && rm -rf /var/lib/apt/lists/*",
            "RUN apt-get update\nRUN apt-get install {p}", "RUN apt install -y {p}",
            "RUN apt-get update && apt-get install -y {p}=1.2.3-1 \\\n    && apt-get clean",
            "RUN --mount=type=cache,target=/var/cache/apt apt-get update && apt-get install -y {p}"],
    "apk": ["RUN apk add --no-cache {p}", "RUN apk update && apk add {p}"],
    "pip": ["RUN pip install {p}", "RUN pip install --no-cache-dir {p}==2.0"],
    "npm": ["RUN npm install {p}", "RUN npm ci && npm cache clean --force"],
    "yum": ["RUN yum install -y {p}", "RUN yum install -y {p} && yum clean all"],
}
pkgs = ["curl", "ca-certificates", "git", "python3", "build-essential", "openjdk-17-jdk", "chromium",
        "libssl-dev", "supervisor", "nginx", "jq", "gcc", "requests", "flask", "express", "typescript"]
tails = [
    'ENTRYPOINT ["/usr/bin/supervisord", "-n"]', 'CMD ["/sbin/init"]', 'CMD /usr/sbin/sshd -D',
    'CMD ["tail", "-f", "/dev/null"]', 'ENTRYPOINT ["tini", "--", "/app/run"]', 'CMD ["python3", "app.py"]',
    'CMD service nginx start && tail -f /var/log/nginx/access.log', 'ENTRYPOINT ["/init"]',
    'CMD ["node", "server.js"]', 'CMD ./run.sh & ./worker.sh & wait',
]
misc = [
    "WORKDIR /app", "WORKDIR app", "COPY . .", "COPY --chown=app:app . /app", "ADD app.tar.gz /opt/",
    "ADD config.json /etc/app/", "ARG TOKEN=abc123", "ENV API_KEY=s3cr3t", "ENV PATH=/app/bin:$PATH",
    "RUN cd /app && make", "RUN curl -fsSL https://example.com/install.sh | sh",
    "RUN set -o pipefail && curl -fsSL https://example.com/x | tar -xz", "RUN chown -R app:app /app",
    "RUN useradd -u 100000 app", "RUN useradd -l -u 10001 app", "USER app", "USER root", "USER 10001",
    "EXPOSE 8080", "EXPOSE 70000", "MAINTAINER someone@example.com", "LABEL org.opencontainers.image.source=x",
    "HEALTHCHECK CMD curl -f http://localhost/ || exit 1", "RUN sudo make install",
    "RUN for f in $FILES; do cp $f /dst; done", "RUN cd /tmp; make",
    "RUN <<EOF\nset -e\napt-get update\napt-get install -y curl\nEOF",
]
for i in range(n):
    lines = []
    if r.random() < 0.2:
        lines.append("# syntax=docker/dockerfile:1.7")
    if r.random() < 0.3:
        lines.append("ARG BASE=debian:12")
    stages = r.choice([1, 1, 1, 2, 2, 3])
    for s in range(stages):
        b = r.choice(bases)
        name = f" AS stage{s}" if s < stages - 1 and " AS " not in b else ""
        lines.append(f"FROM {b}{name}")
        mgr = "apk" if "alpine" in b else ("yum" if "centos" in b else r.choice(["apt", "apt", "pip", "npm"]))
        for _ in range(r.randint(2, 12)):
            if r.random() < 0.4:
                lines.append(r.choice(pk[mgr]).format(p=" ".join(r.sample(pkgs, r.randint(1, 4)))))
            else:
                lines.append(r.choice(misc))
        if s > 0:
            lines.append(f"COPY --from=stage{s-1} /out /opt/out" if r.random() < 0.9 else "COPY --from=nosuch /x /x")
    lines.append(r.choice(tails))
    if r.random() < 0.05:
        lines.insert(0, "RUN echo before-from")
    with open(os.path.join(d, f"Dockerfile.{i:03d}"), "w") as f:
        f.write("\n".join(lines) + "\n")
PY
lint_cmd=("$work/gantry" lint --failure-threshold none --format json)
show "${lint_cmd[@]}" DIR/Dockerfile.000 ... DIR/Dockerfile.499
L=()
for r in $(seq 5); do
	read -r lt lm < <(timed "$work/lint.$r" "${lint_cmd[@]}" "$work"/df/Dockerfile.*)
	L+=("$lt"); LM=$lm
done
lines=$(cat "$work"/df/Dockerfile.* | wc -l)
nf=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); f=o["findings"] if isinstance(o,dict) else o; print(len(f))' "$work/lint.1.log" 2>/dev/null || echo "?")
echo "gantry lint, 500 Dockerfiles ($lines lines, $nf findings): median of 5 $(m "${L[@]}") s (rounds ${L[*]}), peak RSS $((LM / 1024)) MiB (target < 1 s)"
if grep -q '^exit ' "$work/lint.1.err"; then tail -5 "$work/lint.1.err" >&2; fi
