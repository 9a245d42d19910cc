#!/usr/bin/env bash
# The RL loop of the world's agents, before and after (issue #16): seconds per step of
# configs/world-grpo-a.yaml (64 questions x 8 completions of agent A, one policy update) and of
# configs/world-ilr.yaml (agents A and B learning together: 32 questions x 8, discussions, two updates) for this
# checkout's ilr and for one built from an earlier commit, alternating in one run on the same machine
# (evaluations off; the median step of each run, its first step left out);
# then, the same way, world-a's decode at batch 64 and 512 (ilr bench generate) and its training at 8 x 512
# (ilr bench train).  A virtual machine's second core comes and goes: each figure is the median of ROUNDS.
#   bash bench/world_step.sh [BASE_REF] [STEPS] [ROUNDS]   defaults: 8e1b43a (before issue #16's kernel work), 10, 3
# Needs the base agents in build/agents/ (make agents, or SHIPPED=1 scripts/agents.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-8e1b43a}
steps=${2:-10}
rounds=${3:-3}
[ -f build/agents/agent-a/model.safetensors ] || { echo "world_step: no base agents; run make agents first" >&2; exit 1; }
make -s all
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$base" | tar -x -C "$work"
make -s -C "$work" -j"$(nproc)" all >/dev/null
# The median seconds of a step (train_log.jsonl's step_time, the first step left out) of CONFIG run by BINARY.
run() { # binary config
  local out="$work/run"
  rm -rf "$out"
  "$1" train "$2" output_dir="$out" train.steps="$steps" data.eval=null data.test=null \
    train.save_every=0 train.max_minutes=0 train.quiet=true train.print_config=false >/dev/null
  python3 -c 'import json, statistics, sys
steps = [json.loads(l)["step_time"] for l in open(sys.argv[1])][1:]
print(statistics.median(steps))' "$out/train_log.jsonl"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bin_of() { [ "$1" = before ] && echo "$work/build/release/ilr" || echo build/release/ilr; }
after=$(git describe --always --dirty)
for config in configs/world-grpo-a.yaml configs/world-ilr.yaml; do
  for who in before after; do : > "$work/step-$who"; done
  for round in $(seq "$rounds"); do
    for who in before after; do
      t=$(run "$(bin_of $who)" "$config")
      echo "$t" >> "$work/step-$who"
      printf "  %s round %d, %-6s (%s): %.3f s a step (median of %d)\n" "$(basename "$config" .yaml)" "$round" "$who" \
        "$([ $who = before ] && echo "$base" || echo "$after")" "$t" "$((steps - 1))"
    done
  done
  b=$(median < "$work/step-before"); a=$(median < "$work/step-after")
  printf "%s step: %.3f s before (%s), %.3f s after (%s): %.2fx  (medians of %d rounds)\n" "$(basename "$config" .yaml)" \
    "$b" "$base" "$a" "$after" "$(awk "BEGIN { print $b / $a }")" "$rounds"
done
# world-a alone: decode (tokens/s) and training (tokens/s), before and after, alternating
decode() { "$1" bench generate --arch qwen2 --shape world-a --batch "$2" --prompt 64 --new 64 | sed -n 's/.*decode \([0-9.]*\) tokens\/s.*/\1/p'; }
train() { "$1" bench train --arch qwen2 --shape world-a --batch 8 --seq 512 --steps 5 | sed -n 's/.* \([0-9.]*\) tokens\/s.*/\1/p'; }
for what in "decode 64" "decode 512" "train 8x512"; do
  for who in before after; do : > "$work/$who"; done
  for round in $(seq "$rounds"); do
    for who in before after; do
      if [ "${what%% *}" = decode ]; then decode "$(bin_of $who)" "${what#* }"; else train "$(bin_of $who)"; fi >> "$work/$who"
    done
  done
  b=$(median < "$work/before"); a=$(median < "$work/after")
  printf "world-a %-12s %9.0f tokens/s before, %9.0f after: %.2fx\n" "$what" "$b" "$a" "$(awk "BEGIN { print $a / $b }")"
done
