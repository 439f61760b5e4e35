#!/usr/bin/env bash
# The LLM gateway's routing quality, in one run: `llm-sim` backends with realistic latency (the
# simulator's defaults), a gateway per routing strategy, and LlmRouting against each in turn.
#
#  1. Multi-turn agents: for prefix_affinity, then for round_robin, four freshly started sims with a
#     prefix cache of CACHE_BLOCKS blocks each (default 2048 blocks of 16 words: one sim cannot hold
#     every conversation, four together can) and a gateway; 64 agents in closed loop on growing
#     conversations, streamed.
#  2. One slow backend: four sims, the fourth slowed SLOW_FACTOR times (default 5) in everything,
#     and a gateway each for round_robin, least_outstanding and peak_ewma in front of the same
#     four; open loop at RATE non-streamed calls a second (default 40).
#
# Needs built jars (./mvnw -q -pl server,bench -am package -DskipTests).
#
#   bench/llm-routing.sh [conversations|slow] [--seconds N (measured per strategy, default 15)]
#       [other LlmRouting options]
#
# With no workload named, both run (about three minutes).
#
# Environment: CACHE_BLOCKS, SLOW_FACTOR, RATE, BASE_PORT (default 18400).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
java="$JAVA_HOME/bin/java"
jar="$root/server/target/swarmbus.jar"
bench_jar="$root/bench/target/swarmbus-bench.jar"
base="${BASE_PORT:-18400}"
cache_blocks="${CACHE_BLOCKS:-2048}"
slow_factor="${SLOW_FACTOR:-5}"
rate="${RATE:-40}"
work="$(mktemp -d)"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
parts="conversations slow"
case "${1:-}" in
  conversations | slow) parts="$1"; shift ;;
esac

# sim PORT [llm-sim options]
sim() {
  local port="$1"
  shift
  "$java" -Xmx512m -XX:+UseSerialGC -jar "$jar" llm-sim --port "$port" "$@" > "$work/sim-$port.log" 2>&1 &
  pids+=($!)
}

# gateway PORT STRATEGY SIM_PORT...
gateway() {
  local port="$1" strategy="$2"
  shift 2
  local backends=()
  for sim_port in "$@"; do backends+=(--llm-backend "http://127.0.0.1:$sim_port/v1"); done
  RATE_LIMIT_PER_MINUTE=100000000 "$java" -Xmx1g -XX:+UseG1GC -jar "$jar" serve --dev --port "$port" \
    --data-dir "$work/data-$port-$strategy" --llm-strategy "$strategy" "${backends[@]}" > "$work/server-$port.log" 2>&1 &
  pids+=($!)
}

# target NAME GATEWAY_PORT SIM_PORT...: LlmRouting's --target value
target() {
  local name="$1" port="$2"
  shift 2
  local urls="http://127.0.0.1:$port"
  for sim_port in "$@"; do urls+=",http://127.0.0.1:$sim_port"; done
  echo "$name=$urls"
}

# wait_up PORT...: each answers /health within 60 s
wait_up() {
  for port in "$@"; do
    for attempt in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
      if [ "$attempt" = 120 ]; then
        echo "port $port did not come up; its log:" >&2
        cat "$work"/*-"$port".log >&2
        exit 1
      fi
      sleep 0.5
    done
  done
}

routing() {
  "$java" -Xmx1g -cp "$bench_jar" io.swarmbus.bench.LlmRouting "$@"
}

# 1. Each strategy gets freshly started sims and gateway, one after the other: the same cold caches
# and no other JVMs compiling alongside.
conversations() {
  echo "== 1. multi-turn agents, --cache-blocks $cache_blocks per sim"
  local gw="$base"
  local sims=($((gw + 1)) $((gw + 2)) $((gw + 3)) $((gw + 4)))
  for strategy in prefix_affinity round_robin; do
    for port in "${sims[@]}"; do sim "$port" --cache-blocks "$cache_blocks"; done
    gateway "$gw" "$strategy" "${sims[@]}"
    wait_up "$gw" "${sims[@]}"
    routing conversations --summary "$work/conversations.tsv" \
      --target "$(target "$strategy" "$gw" "${sims[@]}")" "$@"
    stop_all
  done
}

# 2. The same four sims behind a gateway per strategy, measured one after another.
slow() {
  echo "== 2. one slow backend (--slow-rate 1 --slow-factor $slow_factor on the fourth), $rate calls/s"
  local gw=$((base + 50))
  local sims=($((gw + 1)) $((gw + 2)) $((gw + 3)) $((gw + 4)))
  for port in "${sims[@]:0:3}"; do sim "$port"; done
  sim "${sims[3]}" --slow-rate 1 --slow-factor "$slow_factor"
  local targets=() ports=("${sims[@]}") port="$gw"
  for strategy in round_robin least_outstanding peak_ewma; do
    port=$((port + 5))
    gateway "$port" "$strategy" "${sims[@]}"
    targets+=(--target "$(target "$strategy" "$port" "${sims[@]}")")
    ports+=("$port")
  done
  wait_up "${ports[@]}"
  routing slow --rate "$rate" "${targets[@]}" "$@"
  stop_all
}

first=1
for part in $parts; do
  [ "$first" = 1 ] || echo
  first=0
  "$part" "$@"
done
