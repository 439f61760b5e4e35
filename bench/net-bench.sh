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
  "$JAVA_HOME/bin/java" -Xmx4g -XX:+UseZGC ${LOAD_OPTS:-} -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.NetLoad \
    "$workload" --server "http://127.0.0.1:$port" "$@"
}
echo "server: $gc_flag, fresh data directory; ${WARMUP_PASSES:-2} warm-up passes (not measured)..."
for _ in $(seq 1 "${WARMUP_PASSES:-2}"); do
  load "$@" > /dev/null
done
# The server's CPU time over the measured pass, from /proc: steadier from run to run than a tail
# latency, and on two cores what the server does not use is left to the load generator.
cpu_seconds() {
  local ticks
  ticks="$(getconf CLK_TCK)"
  awk -v t="$ticks" '{ sub(/.*\) /, ""); printf "%.2f %.2f", $12 / t, $13 / t }' "/proc/$server/stat"
}
echo "measured pass:"
read -r user_before system_before <<< "$(cpu_seconds)"
started=$(date +%s.%N)
load "$@"
read -r user_after system_after <<< "$(cpu_seconds)"
awk -v u0="$user_before" -v s0="$system_before" -v u1="$user_after" -v s1="$system_after" \
    -v t0="$started" -v t1="$(date +%s.%N)" 'BEGIN {
  printf "server CPU over the measured pass: user %.2f s, system %.2f s in %.1f s (%.0f%% of a core)\n",
    u1 - u0, s1 - s0, t1 - t0, 100 * (u1 - u0 + s1 - s0) / (t1 - t0) }'
