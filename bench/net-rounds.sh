#!/usr/bin/env bash
# Runs one network workload N times, each on a fresh server (bench/net-bench.sh), and prints each
# run's headline figure and their median. This machine's speed drifts by a third within an evening,
# so one run says little; the median of several says more.
#
#   bench/net-rounds.sh <N> <workload> [NetLoad options...]
#
# Headline figures: see bench/rounds.sh. Same environment as net-bench.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:?usage: bench/net-rounds.sh <N> <workload> [options]}"
workload="${2:?usage: bench/net-rounds.sh <N> <workload> [options]}"
shift 2
source "$root/bench/rounds.sh"

figures=()
for i in $(seq 1 "$rounds"); do
  figure="$(figure_of "$root/bench/net-bench.sh" "$workload" "$@")"
  echo "run $i: $figure"
  figures+=("$figure")
done
median "${figures[@]}"
