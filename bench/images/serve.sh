# Sourced by the fleet benchmarks: serves the cached fleet (see build.sh) with
# CNCF Distribution (Debian's docker-registry) on a free loopback port.
#
#   source bench/images/serve.sh
#   fleet_serve CACHE_DIR      sets FLEET_HOST (127.0.0.1:PORT) and FLEET_PID
#   fleet_stop
fleet_serve() {
	local cache=$1 port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	FLEET_HOST="127.0.0.1:$port"
	mkdir -p "$cache/registry"
	cat >"$cache/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $cache/registry}, delete: {enabled: true}}
http: {addr: $FLEET_HOST}
YML
	docker-registry serve "$cache/registry.yml" >"$cache/registry.log" 2>&1 &
	FLEET_PID=$!
	local i
	for i in $(seq 100); do curl -fs "http://$FLEET_HOST/v2/" >/dev/null && return 0; sleep 0.1; done
	echo "docker-registry did not start: $(tail -5 "$cache/registry.log")" >&2
	return 1
}
fleet_stop() {
	if [[ -n "${FLEET_PID:-}" ]]; then kill "$FLEET_PID" 2>/dev/null || true; wait "$FLEET_PID" 2>/dev/null || true; FLEET_PID=; fi
}
