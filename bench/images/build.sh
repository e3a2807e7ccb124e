#!/usr/bin/env bash
# A realistic fleet for the bundle and analysis benchmarks, built once and
# cached: two Debian bookworm bases made with debootstrap (minbase, apt
# caches removed, the docker-clean apt hook of official Debian images
# installed), and app images built FROM them with buildah (vfs, chroot
# isolation, --layers, so identical instructions on the same parent share a
# layer as they do in real CI):
#
#   bench/debian:bookworm        minbase
#   bench/debian:bookworm-curl   minbase + ca-certificates, curl
#   bench/python-app:1           python3 + a small script          (plain)
#   bench/java-app:1             default-jre-headless + a jar      (plain)
#   bench/java-worker:1          same JRE layer, another jar       (plain)
#   bench/node-app:1             nodejs + a script                 (curl)
#   bench/go-static:1            a static Go binary built here     (curl)
#   bench/nginx-web:1            nginx-light + static pages        (curl)
#   bench/bloated:1              ~1 GB: JDK + chromium, a 96 MiB file deleted
#                                in a later layer, apt lists and downloaded
#                                .debs left behind                  (curl)
#   bench/shop:1, bench/shop:2   python3 + vendor layer + app layer; v2
#                                changes only the app layer         (plain)
#
# The images are pushed to a CNCF Distribution registry (Debian's
# docker-registry) whose storage is kept in the cache, so every benchmark
# serves the same bytes to every tool: bench/images/serve.sh starts it.
#
#   bench/images/build.sh          build what is missing, print the fleet
#   GANTRY_BENCH_IMAGES=DIR        cache directory (default /var/tmp/gantry-bench-images)
#   KEEP_BUILD_STORAGE=1           keep buildah's vfs storage (several GB) afterwards
set -euo pipefail
cd "$(dirname "$0")/../.."
repo_root=$PWD
cache="${GANTRY_BENCH_IMAGES:-/var/tmp/gantry-bench-images}"
mkdir -p "$cache"
log() { echo "# $(date +%T) $*" >&2; }

images=(debian:bookworm debian:bookworm-curl python-app:1 java-app:1 java-worker:1
	node-app:1 go-static:1 nginx-web:1 bloated:1 shop:1 shop:2)

# --- the registry holding the fleet ------------------------------------------
# shellcheck source=bench/images/serve.sh
source "$repo_root/bench/images/serve.sh"
fleet_serve "$cache"
trap 'fleet_stop' EXIT

have_image() { curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$FLEET_HOST/v2/bench/${1%%:*}/manifests/${1#*:}" >/dev/null; }
missing=()
for img in "${images[@]}"; do have_image "$img" || missing+=("$img"); done

if ((${#missing[@]})); then
	log "building: ${missing[*]}"
	ba=(buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver vfs)
	work="$cache/work"
	mkdir -p "$work"

	# --- bases: debootstrap, cleaned, imported ------------------------------
	make_rootfs() { # NAME [--include=...]
		local name=$1; shift
		local dir="$work/rootfs-$name"
		[[ -f "$work/$name.tar" ]] && return 0
		rm -rf "$dir"
		debootstrap --variant=minbase "$@" bookworm "$dir" http://deb.debian.org/debian \
			>"$work/debootstrap-$name.log" 2>&1
		rm -f "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin
		rm -rf "$dir"/var/lib/apt/lists/*
		mkdir -p "$dir/var/lib/apt/lists/partial"
		# What official Debian images ship: no .deb or .bin cache survives an apt run.
		cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
		echo 'APT::Install-Recommends "false";' >"$dir/etc/apt/apt.conf.d/docker-no-recommends"
		tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
			-C "$dir" -cf "$work/$name.tar.tmp" .
		mv "$work/$name.tar.tmp" "$work/$name.tar"
		rm -rf "$dir"
	}
	log "debootstrap (two bases, in parallel)"
	make_rootfs plain & p1=$!
	make_rootfs curl --include=ca-certificates,curl & p2=$!
	wait "$p1"; wait "$p2"
	ls -l "$work"/*.tar >&2

	ctx="$work/ctx"
	rm -rf "$ctx"; mkdir -p "$ctx"
	bud() { # TAG CONTEXT_DIR [extra bud args]
		local tag=$1 dir=$2; shift 2
		log "buildah bud $tag"
		"${ba[@]}" bud --isolation chroot --layers --pull=false -q -t "localhost/bench/$tag" "$@" "$dir" \
			>"$work/bud-${tag//[:\/]/-}.log" 2>&1 || { tail -30 "$work/bud-${tag//[:\/]/-}.log" >&2; return 1; }
	}
	for b in plain curl; do
		mkdir -p "$ctx/base-$b"
		ln -f "$work/$b.tar" "$ctx/base-$b/rootfs.tar"
		cat >"$ctx/base-$b/Dockerfile" <<'DF'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
DF
	done
	bud debian:bookworm "$ctx/base-plain"
	bud debian:bookworm-curl "$ctx/base-curl"

	# --- apps ---------------------------------------------------------------
	plain=localhost/bench/debian:bookworm
	curlb=localhost/bench/debian:bookworm-curl

	mkdir -p "$ctx/python-app"
	cat >"$ctx/python-app/app.py" <<'PY'
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True, "pid": os.getpid()}).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("", 8080), H).serve_forever()
PY
	cat >"$ctx/python-app/Dockerfile" <<DF
FROM $plain
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY app.py /app/
USER 65534
CMD ["python3", "/app/app.py"]
DF
	bud python-app:1 "$ctx/python-app"

	# a jar is a zip: enough for the image's shape (not run)
	for a in java-app java-worker; do
		mkdir -p "$ctx/$a"
		python3 - "$ctx/$a/app.jar" "$a" <<'PY'
import sys, zipfile, random
r = random.Random(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: app.Main\n")
    for i in range(400):
        z.writestr(f"app/C{i}.class", bytes(r.getrandbits(8) for _ in range(r.randint(2000, 12000))))
PY
		cat >"$ctx/$a/Dockerfile" <<DF
FROM $plain
RUN apt-get update && apt-get install -y --no-install-recommends default-jre-headless && rm -rf /var/lib/apt/lists/*
COPY app.jar /opt/$a/app.jar
USER 65534
ENTRYPOINT ["java", "-jar", "/opt/$a/app.jar"]
DF
		bud "$a:1" "$ctx/$a"
	done

	mkdir -p "$ctx/node-app"
	cat >"$ctx/node-app/server.js" <<'JS'
const http = require('http');
http.createServer((req, res) => res.end(JSON.stringify({ok: true, url: req.url}))).listen(8080);
JS
	cat >"$ctx/node-app/Dockerfile" <<DF
FROM $curlb
RUN apt-get update && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
COPY server.js /srv/
USER 65534
CMD ["node", "/srv/server.js"]
DF
	bud node-app:1 "$ctx/node-app"

	mkdir -p "$ctx/go-static/src"
	cat >"$ctx/go-static/src/go.mod" <<'MOD'
module example.com/hello

go 1.22
MOD
	cat >"$ctx/go-static/src/main.go" <<'GO'
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		fmt.Fprintf(w, "hello from %s: %s\n", host, r.URL.Path)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
GO
	(cd "$ctx/go-static/src" && CGO_ENABLED=0 GOFLAGS=-trimpath go build -ldflags=-s -o ../hello .)
	cat >"$ctx/go-static/Dockerfile" <<DF
FROM $curlb
COPY hello /usr/local/bin/hello
USER 65534
ENTRYPOINT ["/usr/local/bin/hello"]
DF
	bud go-static:1 "$ctx/go-static"

	mkdir -p "$ctx/nginx-web/site"
	for i in $(seq 1 40); do
		python3 -c "import random,sys; r=random.Random($i); print('<html><body>'+' '.join(str(r.random()) for _ in range(3000))+'</body></html>')" \
			>"$ctx/nginx-web/site/page$i.html"
	done
	cat >"$ctx/nginx-web/Dockerfile" <<DF
FROM $curlb
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/*
COPY site/ /var/www/html/
CMD ["nginx", "-g", "daemon off;"]
DF
	bud nginx-web:1 "$ctx/nginx-web"

	# ~1 GB, with the mistakes gantry check prices: a file deleted in a later
	# layer, apt lists and downloaded .debs left behind, a JDK and chromium.
	mkdir -p "$ctx/bloated"
	cat >"$ctx/bloated/Dockerfile" <<DF
FROM $curlb
RUN apt-get update && apt-get install -y --no-install-recommends default-jdk-headless
RUN apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core
RUN head -c 100663296 /dev/urandom >/opt/dataset.bin
RUN apt-get install -y --download-only --no-install-recommends gcc g++
COPY report.sh /usr/local/bin/report.sh
RUN rm /opt/dataset.bin && chmod 0755 /usr/local/bin/report.sh
CMD ["/usr/local/bin/report.sh"]
DF
	printf '#!/bin/sh\nexec chromium --headless --no-sandbox --dump-dom "$@"\n' >"$ctx/bloated/report.sh"
	bud bloated:1 "$ctx/bloated"

	# two versions of one app: same base, same python3 layer (shared with
	# python-app), same vendor layer; v2 changes only the app layer.
	mkdir -p "$ctx/shop/vendor"
	python3 - "$ctx/shop/vendor" <<'PY'
import sys, random, os
r = random.Random("vendor")
for i in range(120):
    with open(os.path.join(sys.argv[1], f"lib{i}.py"), "w") as f:
        f.write("\n".join(f"def f{j}(x):\n    return x * {r.random()!r} + {r.randint(0, 10**9)}" for j in range(1500)))
PY
	for v in 1 2; do
		rm -rf "$ctx/shop-$v"; mkdir -p "$ctx/shop-$v/app"
		cp -r "$ctx/shop/vendor" "$ctx/shop-$v/vendor"
		python3 - "$ctx/shop-$v/app" "$v" <<'PY'
import sys, random, os
r = random.Random("shop-" + sys.argv[2])
for i in range(40):
    with open(os.path.join(sys.argv[1], f"views{i}.py"), "w") as f:
        f.write(f"VERSION = {sys.argv[2]}\n" + "\n".join(f"def view{j}(req):\n    return {{'n': {r.randint(0, 10**9)}, 'w': {r.random()!r}}}" for j in range(1500)))
PY
		# same mtimes in both contexts: the vendor layer must be the same layer
		find "$ctx/shop-$v" -exec touch -h -d @1700000000 {} +
		cat >"$ctx/shop-$v/Dockerfile" <<DF
FROM $plain
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY vendor/ /app/vendor/
COPY app/ /app/shop/
LABEL org.opencontainers.image.version=$v
USER 65534
CMD ["python3", "-m", "shop"]
DF
		bud "shop:$v" "$ctx/shop-$v"
	done

	# --- push ---------------------------------------------------------------
	for img in "${images[@]}"; do
		log "push $img"
		"${ba[@]}" push -q --tls-verify=false "localhost/bench/$img" "docker://$FLEET_HOST/bench/$img" >/dev/null
	done
	if [[ "${KEEP_BUILD_STORAGE:-}" != 1 ]]; then
		log "removing buildah's vfs storage (KEEP_BUILD_STORAGE=1 keeps it)"
		"${ba[@]}" rm -a >/dev/null 2>&1 || true
		rm -rf "$cache/storage" "$cache/run" "$ctx"
	fi
fi

# --- what was built ------------------------------------------------------------
python3 - "$FLEET_HOST" "${images[@]}" <<'PY'
import json, sys, urllib.request
host, imgs = sys.argv[1], sys.argv[2:]
acc = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
def get(path):
    req = urllib.request.Request(f"http://{host}{path}", headers={"Accept": acc})
    return json.load(urllib.request.urlopen(req))
seen, total = set(), 0
print(f"{'image':32} {'layers':>6} {'compressed':>12} {'uncompressed':>13}")
for img in imgs:
    repo, tag = img.rsplit(":", 1)
    m = get(f"/v2/bench/{repo}/manifests/{tag}")
    c = get(f"/v2/bench/{repo}/blobs/{m['config']['digest']}")
    size = sum(l["size"] for l in m["layers"]) + m["config"]["size"]
    for d in [m["config"]] + m["layers"]:
        if d["digest"] not in seen:
            seen.add(d["digest"]); total += d["size"]
    # uncompressed: the rootfs diff_ids do not carry sizes; read them from the blobs' gzip trailers
    unc = 0
    for l in m["layers"]:
        req = urllib.request.Request(f"http://{host}/v2/bench/{repo}/blobs/{l['digest']}",
                                     headers={"Range": f"bytes={l['size']-4}-{l['size']-1}"})
        b = urllib.request.urlopen(req).read()[-4:]
        unc += int.from_bytes(b, "little")  # ISIZE, mod 2^32 (layers here are < 4 GiB)
    print(f"bench/{img:26} {len(m['layers']):6} {size/1e6:9.1f} MB {unc/1e6:10.1f} MB")
print(f"{'unique blobs, whole fleet':32} {'':6} {total/1e6:9.1f} MB")
PY
