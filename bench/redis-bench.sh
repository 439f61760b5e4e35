#!/usr/bin/env bash
# The peer the issue names, measured like bench/net-bench.sh measures Swarmbus: starts a fresh
# redis-server with the append-only file fsynced before every reply (appendfsync always), runs
# the same workload's untimed warm-up passes (they warm the load generator's JIT) and then the
# measured pass, and deletes its data however the script ends. Needs redis-server
# (apt-get install redis-server) and the built bench jar (./mvnw -DskipTests install).
#
#   bench/redis-bench.sh <w1|w2|w3> [RedisLoad options...]
#
# Environment: WARMUP_PASSES (default 2), REDIS_PORT (default 16379).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
workload="${1:?usage: bench/redis-bench.sh w1|w2|w3 [options]}"
shift
port="${REDIS_PORT:-16379}"
command -v redis-server > /dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 1; }
data="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --appendonly yes --appendfsync always --save '' \
  --daemonize no --logfile "$data/redis.log" &
redis=$!
cleanup() { kill $redis 2>/dev/null || true; wait $redis 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 50); do
  redis-cli -p "$port" ping > /dev/null 2>&1 && break
  sleep 0.1
done

load() {
  "$JAVA_HOME/bin/java" -Xmx4g -XX:+UseZGC -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.RedisLoad \
    "$workload" --port "$port" "$@"
}
echo "redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'), appendfsync always, fresh data directory; ${WARMUP_PASSES:-2} warm-up passes (not measured)..."
for _ in $(seq 1 "${WARMUP_PASSES:-2}"); do
  load "$@" > /dev/null
done
echo "measured pass:"
load "$@"
