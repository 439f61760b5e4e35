#!/usr/bin/env bash
# Network benchmarks, reproducibly: starts a fresh server (built jars required:
# ./mvnw -DskipTests install), warms it up with one untimed pass of the workload (the JIT compiles
# Jetty's and Swarmbus's hot paths for tens of seconds after start), then runs the measured pass.
#
#   bench/net-bench.sh <workload> [NetLoad options...]
#
# workload: rest | w1 | w2 | w3 | longpoll. Environment: SERVER_GC (G1, ZGC or Shenandoah, default G1),
# SERVER_OPTS (extra server JVM flags, e.g. for a JFR recording), WARMUP_PASSES (default 2), PORT (default 18081), DATA (default a new temp directory, deleted
# afterwards).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
workload="${1:?usage: bench/net-bench.sh rest|w1|w2|w3|longpoll [options]}"
shift
port="${PORT:-18081}"
data="${DATA:-$(mktemp -d)}"
source "$root/bench/fresh-server.sh"

load() {
  "$JAVA_HOME/bin/java" -Xmx4g -XX:+UseZGC -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.NetLoad \
    "$workload" --server "http://127.0.0.1:$port" "$@"
}
echo "server: $gc_flag, fresh data directory; ${WARMUP_PASSES:-2} warm-up passes (not measured)..."
for _ in $(seq 1 "${WARMUP_PASSES:-2}"); do
  load "$@" > /dev/null
done
echo "measured pass:"
load "$@"
