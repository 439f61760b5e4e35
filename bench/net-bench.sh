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
# With SERVER_THREADS=1, each of the server's thread groups' CPU time and context switches over the
# measured pass, the ten busiest (threads grouped by name without a trailing number; names are cut
# at 15 characters).
thread_counters() {
  local task
  for task in /proc/$server/task/*; do
    awk -v id="${task##*/}" -v name="$(tr ' ' _ < "$task/comm")" '
      FNR == 1 && FILENAME ~ /stat$/ { sub(/.*\) /, ""); user = $12; sys = $13 }
      /^voluntary_ctxt_switches/ { voluntary = $2 } /^nonvoluntary_ctxt_switches/ { involuntary = $2 }
      END { print id, name, user, sys, voluntary, involuntary }' "$task/stat" "$task/status" 2>/dev/null
  done | sort
}
if [[ "${SERVER_THREADS:-0}" == 1 ]]; then thread_counters > "$data.threads.before"; fi
echo "measured pass:"
read -r user_before system_before <<< "$(cpu_seconds)"
started=$(date +%s.%N)
load "$@"
read -r user_after system_after <<< "$(cpu_seconds)"
awk -v u0="$user_before" -v s0="$system_before" -v u1="$user_after" -v s1="$system_after" \
    -v t0="$started" -v t1="$(date +%s.%N)" 'BEGIN {
  printf "server CPU over the measured pass: user %.2f s, system %.2f s in %.1f s (%.0f%% of a core)\n",
    u1 - u0, s1 - s0, t1 - t0, 100 * (u1 - u0 + s1 - s0) / (t1 - t0) }'
if [[ "${SERVER_THREADS:-0}" == 1 ]]; then
  thread_counters > "$data.threads.after"
  ticks="$(getconf CLK_TCK)"
  join "$data.threads.before" "$data.threads.after" | awk -v t="$ticks" '{
      name = $2; sub(/-?[0-9]+$/, "", name)
      threads[name]++; user[name] += $8 - $3; sys[name] += $9 - $4
      voluntary[name] += $10 - $5; involuntary[name] += $11 - $6 }
    END { for (n in threads) if (user[n] + sys[n] + voluntary[n] > 0)
      printf "  %-16s %3d threads  cpu %6.2f s (user %6.2f, system %6.2f)  switches %8d voluntary %7d involuntary\n",
        n, threads[n], (user[n] + sys[n]) / t, user[n] / t, sys[n] / t, voluntary[n], involuntary[n] }' | sort -k5 -nr | head -10
  rm -f "$data.threads.before" "$data.threads.after"
fi
