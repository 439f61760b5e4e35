#!/usr/bin/env bash
# Two builds of the server side by side, in front of the same four `llm-sim --zero-latency`
# backends, each called on its gateway port (--llm-port): LlmLoad runs rounds against both, and
# each round reports their latency, most requests a second, and server CPU per call (the
# process's CPU time over the calls it served, from /proc and /metrics). Round 1 includes the
# JIT's warm-up; compare the later ones.
#
#   bench/llm-ab.sh A.jar B.jar [LlmLoad options, e.g. --prompt-words 2000]
#                                      e.g. a build of main against server/target/swarmbus.jar
#
# Environment: ROUNDS (default 3), WARMUP seconds per round (default 20), BASE_PORT (default 18400),
# A_OPTS and B_OPTS (JVM flags for each side; the same jar twice then compares flags, e.g.
# B_OPTS=-XX:+UseParallelGC).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
java="$JAVA_HOME/bin/java"
[ $# -ge 2 ] || { echo "usage: bench/llm-ab.sh A.jar B.jar [LlmLoad options]" >&2; exit 2; }
jars=("$1" "$2")
shift 2
base="${BASE_PORT:-18400}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

backends=()
for i in 1 2 3 4; do
  port=$((base + i))
  "$java" -Xmx512m -XX:+UseSerialGC -jar "${jars[0]}" llm-sim --zero-latency --port "$port" --output-tokens 16 \
    > "$work/sim$i.log" 2>&1 &
  pids+=($!)
  backends+=(--llm-backend "http://127.0.0.1:$port/v1")
done
# One secret for both, so one token serves both.
export JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server_pids=()
opts=("${A_OPTS:--XX:+UseG1GC}" "${B_OPTS:--XX:+UseG1GC}")
for n in 0 1; do
  # shellcheck disable=SC2086 # the flags are words
  RATE_LIMIT_PER_MINUTE=100000000 "$java" -Xmx2g ${opts[$n]} -jar "${jars[$n]}" serve --dev \
    --port $((base + 10 + n)) --llm-port $((base + 50 + n)) --data-dir "$work/data$n" --llm-strategy round_robin \
    "${backends[@]}" > "$work/server$n.log" 2>&1 &
  pids+=($!)
  server_pids+=($!)
done
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$((base + 10))/health" > /dev/null && curl -sf "http://127.0.0.1:$((base + 11))/health" > /dev/null \
    && curl -sf "http://127.0.0.1:$((base + 4))/health" > /dev/null && break
  sleep 0.5
done
login() {
  curl -s -X POST "http://127.0.0.1:$1/auth/token" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench-password"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
token="$(login $((base + 10)))"
login $((base + 11)) > /dev/null # the same user on the other server
cpu_ticks() { local f; read -r -a f < "/proc/$1/stat"; echo $((f[13] + f[14])); }
calls() {
  curl -s "http://127.0.0.1:$1/metrics" \
    | awk '/^http_server_requests_seconds_count/ && /route="\/v1\/chat\/completions"/ {s += $2} END {printf "%d", s}'
}
hz="$(getconf CLK_TCK)"
for round in $(seq 1 "${ROUNDS:-3}"); do
  before=()
  for n in 0 1; do before+=("$(cpu_ticks "${server_pids[$n]}") $(calls $((base + 10 + n)))"); done
  "$java" -Xmx1g -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.LlmLoad \
    --target "A=http://127.0.0.1:$((base + 50))" --target "B=http://127.0.0.1:$((base + 51))" \
    --token "$token" --warmup "${WARMUP:-20}" --rates 1000 --seconds 10 "$@" > "$work/round$round.txt"
  echo "round $round"
  grep -E '^(A|B) ' "$work/round$round.txt"
  for n in 0 1; do
    read -r ticks0 calls0 <<< "${before[$n]}"
    ticks1="$(cpu_ticks "${server_pids[$n]}")"
    calls1="$(calls $((base + 10 + n)))"
    echo "$([ "$n" = 0 ] && echo A || echo B)          server CPU $(( (ticks1 - ticks0) * 1000000 / hz / (calls1 - calls0) )) µs per call over $((calls1 - calls0)) calls"
  done
done
