# Sourced by the benchmark scripts: starts a dev-mode server on $port with its data in $data
# (SERVER_GC G1, ZGC or Shenandoah, default G1; SERVER_OPTS extra JVM flags; SERVER_ARGS extra serve options;
# SERVER_JAR another build's jar, for comparing builds), stops it and deletes $data
# however the script ends, and returns once /health answers. Needs $root and $JAVA_HOME.
case "${SERVER_GC:-G1}" in
  G1) gc_flag="-XX:+UseG1GC" ;;
  ZGC) gc_flag="-XX:+UseZGC" ;;
  Shenandoah) gc_flag="-XX:+UseShenandoahGC -XX:ShenandoahGCMode=generational" ;;
  *) echo "SERVER_GC must be G1, ZGC or Shenandoah, was '$SERVER_GC'" >&2; exit 2 ;;
esac

RATE_LIMIT_PER_MINUTE=100000000 "$JAVA_HOME/bin/java" -Xmx8g $gc_flag ${SERVER_OPTS:-} -jar "${SERVER_JAR:-$root/server/target/swarmbus.jar}" \
  serve --dev --port "$port" --data-dir "$data" ${SERVER_ARGS:-} > "$data.server.log" 2>&1 &
server=$!
cleanup() { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data" "$data.server.log"; }
# A pass can leave gigabytes in the data directory: remove it however the script ends.
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.5
done
