#!/usr/bin/env bash
# Swarmbus and the peer the issue names (Redis Streams, appendfsync always) side by side: N rounds,
# each one Swarmbus run (bench/net-bench.sh) then one Redis run (bench/redis-bench.sh) of the same
# workload, each on a fresh server, then both medians. Alternating puts both under the same drift
# of this machine's speed.
#
#   bench/peer-rounds.sh <N> <w1|w2|w3> [--seconds S]
#
# Swarmbus runs with the options the headline figures use (w1: --batch 32; w2: --batch 32
# --batched-deliveries); Redis pipelines its commands instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:?usage: bench/peer-rounds.sh <N> <w1|w2|w3> [--seconds S]}"
workload="${2:?usage: bench/peer-rounds.sh <N> <w1|w2|w3> [--seconds S]}"
shift 2
source "$root/bench/rounds.sh"
case "$workload" in
  w1) swarmbus_options=(--batch 32) ;;
  w2) swarmbus_options=(--batch 32 --batched-deliveries) ;;
  w3) swarmbus_options=() ;;
  *) echo "peer rounds run w1, w2 or w3" >&2; exit 2 ;;
esac

swarmbus=()
redis=()
for i in $(seq 1 "$rounds"); do
  s="$(figure_of "$root/bench/net-bench.sh" "$workload" "${swarmbus_options[@]}" "$@")"
  r="$(figure_of "$root/bench/redis-bench.sh" "$workload" "$@")"
  echo "round $i: swarmbus $s, redis $r"
  swarmbus+=("$s")
  redis+=("$r")
done
echo "swarmbus: $(median "${swarmbus[@]}")"
echo "redis:    $(median "${redis[@]}")"
