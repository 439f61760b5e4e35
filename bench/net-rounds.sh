#!/usr/bin/env bash
# Runs one network workload N times, each on a fresh server (bench/net-bench.sh), and prints each
# run's headline figure and their median. This machine's speed drifts by a third within an evening,
# so one run says little; the median of several says more.
#
#   bench/net-rounds.sh <N> <workload> [NetLoad options...]
#
# Headline figures: messages a second for w1 and w2, the p99 in ms for w3 and longpoll, and for
# rest the authenticated send's share of the trivial route's rate. Same environment as net-bench.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:?usage: bench/net-rounds.sh <N> <workload> [options]}"
workload="${2:?usage: bench/net-rounds.sh <N> <workload> [options]}"
shift 2

headline() {
  case "$workload" in
    w1|w2) sed -nE 's/.* ([0-9,]+) msg\/s.*/\1/p' | tail -1 | tr -d , ;;
    w3|longpoll) sed -nE 's/.* p99 ([0-9.]+) ms.*/\1/p' | tail -1 ;;
    rest) sed -nE 's/.*\(([0-9]+)% of trivial\).*/\1/p' | tail -1 ;;
    *) echo "unknown workload $workload" >&2; exit 2 ;;
  esac
}

figures=()
for i in $(seq 1 "$rounds"); do
  output="$("$root/bench/net-bench.sh" "$workload" "$@" 2>&1)"
  figure="$(printf '%s\n' "$output" | headline || true)"
  if [ -z "$figure" ]; then
    echo "run $i: no figure; its output:" >&2
    printf '%s\n' "$output" | tail -5 >&2
    exit 1
  fi
  echo "run $i: $figure"
  figures+=("$figure")
done
printf '%s\n' "${figures[@]}" | sort -g | awk -v w="$workload" \
  '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
     unit = (w == "w1" || w == "w2") ? " msg/s" : (w == "rest") ? "% of trivial" : " ms (p99)";
     printf "median of %d runs: %s%s\n", NR, m, unit }'
