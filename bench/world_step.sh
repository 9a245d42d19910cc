#!/usr/bin/env bash
# The RL loop of the world's agents, before and after (issue #16): seconds per step of
# configs/world-grpo-a.yaml (64 questions x 8 completions of agent A, one policy update) for this checkout's
# ilr and for one built from an earlier commit, alternating in one run on the same machine.  Evaluations off.
#   bash bench/world_step.sh [BASE_REF] [STEPS]     defaults: 8e1b43a (before issue #16's kernel work), 10
# Needs the base agents in build/agents/ (make agents, or SHIPPED=1 scripts/agents.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-8e1b43a}
steps=${2:-10}
[ -f build/agents/agent-a/model.safetensors ] || { echo "world_step: no base agents; run make agents first" >&2; exit 1; }
make -s all
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$base" | tar -x -C "$work"
make -s -C "$work" -j"$(nproc)" all >/dev/null
run() { # binary label
  local out="$work/run-$2" start end
  start=$(date +%s.%N)
  "$1" train configs/world-grpo-a.yaml output_dir="$out" train.steps="$steps" data.eval=null data.test=null \
    train.save_every=0 train.max_minutes=0 train.quiet=true train.print_config=false >/dev/null
  end=$(date +%s.%N)
  rm -rf "$out"
  awk "BEGIN { print $end - $start }"
}
declare -A total=([before]=0 [after]=0)
for round in 1 2; do
  for who in before after; do
    bin=$([ $who = before ] && echo "$work/build/release/ilr" || echo build/release/ilr)
    t=$(run "$bin" "$who")
    total[$who]=$(awk "BEGIN { print ${total[$who]} + $t }")
    printf "  round %d, %-6s (%s): %.2f s for %d steps\n" "$round" "$who" "$([ $who = before ] && echo "$base" || git describe --always --dirty)" "$t" "$steps"
  done
done
b=$(awk "BEGIN { print ${total[before]} / (2 * $steps) }"); a=$(awk "BEGIN { print ${total[after]} / (2 * $steps) }")
printf "world-grpo-a step: %.3f s before (%s), %.3f s after (%s): %.2fx\n" "$b" "$base" "$a" "$(git describe --always --dirty)" "$(awk "BEGIN { print $b / $a }")"
