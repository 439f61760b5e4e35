#!/usr/bin/env bash
# The LLM gateway's overhead beside nginx, in one run: four `llm-sim --zero-latency` backends, the
# Swarmbus gateway and nginx (round-robin, keep-alive) in front of the same four, then LlmLoad
# against the backends directly, nginx, Swarmbus's main port (`swarmbus`, virtual threads) and its
# gateway port (`swarmbus-port`, `--llm-port`, platform threads). Needs built jars
# (./mvnw -DskipTests install) and nginx (apt-get install nginx-light).
#
#   bench/llm-bench.sh [LlmLoad options: --seconds N --rates 300,1000 --connections 64 --warmup 30
#                       --max-rounds N --max-only]
#
# Environment: SERVER_GC (G1 or ZGC, default G1), SERVER_OPTS (extra server JVM flags, e.g. a JFR
# recording), BASE_PORT (default 18300).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$root/bin/find-jdk")"
java="$JAVA_HOME/bin/java"
jar="$root/server/target/swarmbus.jar"
base="${BASE_PORT:-18300}"
work="$(mktemp -d)"
gc_flag="-XX:+UseG1GC"
[ "${SERVER_GC:-G1}" = "ZGC" ] && gc_flag="-XX:+UseZGC"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

direct=()
backends=()
upstream=""
for i in 1 2 3 4; do
  port=$((base + i))
  "$java" -Xmx512m -XX:+UseSerialGC -jar "$jar" llm-sim --zero-latency --port "$port" --output-tokens 16 \
    > "$work/sim$i.log" 2>&1 &
  pids+=($!)
  direct+=("http://127.0.0.1:$port")
  backends+=(--llm-backend "http://127.0.0.1:$port/v1")
  upstream+="    server 127.0.0.1:$port;"$'\n'
done
RATE_LIMIT_PER_MINUTE=100000000 "$java" -Xmx2g "$gc_flag" ${SERVER_OPTS:-} -jar "$jar" serve --dev --port "$base" \
  --llm-port "$((base + 50))" --data-dir "$work/data" --llm-strategy round_robin "${backends[@]}" > "$work/server.log" 2>&1 &
pids+=($!)
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream sims {
$upstream    keepalive 128;
  }
  server {
    listen $((base + 90));
    location / {
      proxy_pass http://sims;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$base/health" > /dev/null && curl -sf "http://127.0.0.1:$((base + 4))/health" > /dev/null && break
  sleep 0.5
done
token="$(curl -s -X POST "http://127.0.0.1:$base/auth/token" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
"$java" -Xmx2g -cp "$root/bench/target/swarmbus-bench.jar" io.swarmbus.bench.LlmLoad \
  --direct "$(IFS=,; echo "${direct[*]}")" --target "nginx=http://127.0.0.1:$((base + 90))" \
  --target "swarmbus=http://127.0.0.1:$base" --target "swarmbus-port=http://127.0.0.1:$((base + 50))" \
  --token "$token" "$@"
