# Sourced by bench/net-rounds.sh and bench/peer-rounds.sh: a run's headline figure and a median.
# Needs $workload. Headline figures: messages a second for w1 and w2, the p99 in ms for w3 and
# longpoll, and for rest the authenticated send's share of the trivial route's rate.

headline() {
  case "$workload" in
    w1|w2) sed -nE 's/.* ([0-9,]+) msg\/s.*/\1/p' | tail -1 | tr -d , ;;
    w3|longpoll) sed -nE 's/.* p99 ([0-9.]+) ms.*/\1/p' | tail -1 ;;
    rest) sed -nE 's/.*\(([0-9]+)% of trivial\).*/\1/p' | tail -1 ;;
    *) echo "unknown workload $workload" >&2; exit 2 ;;
  esac
}

# Runs "$@" (a benchmark script and its options) and prints its headline, or fails showing its output's end.
figure_of() {
  local output figure
  output="$("$@" 2>&1)"
  figure="$(printf '%s\n' "$output" | headline || true)"
  if [ -z "$figure" ]; then
    echo "no figure from $1; its output:" >&2
    printf '%s\n' "$output" | tail -5 >&2
    return 1
  fi
  echo "$figure"
}

# The median of the figures given as arguments, with the workload's unit.
median() {
  printf '%s\n' "$@" | sort -g | awk -v w="$workload" \
    '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
       unit = (w == "w1" || w == "w2") ? " msg/s" : (w == "rest") ? "% of trivial" : " ms (p99)";
       printf "median of %d runs: %s%s\n", NR, m, unit }'
}
