#!/usr/bin/env bash
# Swarm and network operations through the HTTP API (issue 6's latency targets), reproducibly:
# starts a fresh server (built jars required: ./mvnw -DskipTests install) and runs SwarmLoad, whose
# last round is the measured one (the rounds before it warm the JIT).
#
#   bench/swarm-bench.sh [SwarmLoad options...]     e.g. --concurrency 1 --rounds 3
#
# Environment: SERVER_GC (G1 or ZGC, default G1), SERVER_OPTS (extra server JVM flags), PORT
# (default 18111). The data directory is a new temporary one, deleted afterwards.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
port="${PORT:-18111}"
data="$(mktemp -d)"
gc_flag="-XX:+UseG1GC"
[ "${SERVER_GC:-G1}" = "ZGC" ] && gc_flag="-XX:+UseZGC"

RATE_LIMIT_PER_MINUTE=100000000 "$JAVA_HOME/bin/java" -Xmx8g "$gc_flag" ${SERVER_OPTS:-} -jar "$root/server/target/swarmbus.jar" \
  serve --dev --port "$port" --data-dir "$data" > "$data.server.log" 2>&1 &
server=$!
cleanup() { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data" "$data.server.log"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.5
done
echo "server: $gc_flag, fresh data directory"
"$JAVA_HOME/bin/java" -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.SwarmLoad \
  --server "http://127.0.0.1:$port" "$@"
