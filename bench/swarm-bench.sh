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
source "$root/bench/fresh-server.sh"
echo "server: $gc_flag, fresh data directory"
"$JAVA_HOME/bin/java" -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.SwarmLoad \
  --server "http://127.0.0.1:$port" "$@"
