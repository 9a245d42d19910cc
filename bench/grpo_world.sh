#!/bin/bash
# GRPO on the synthetic world from each base agent (issue #8's result): configs/world-grpo-a.yaml and
# configs/world-grpo-b.yaml side by side on the 2 cores, one each, each given 18 minutes of training plus
# its evaluations: both results within 20 minutes of the machine.  (Alone with both cores a step of A
# takes 1.2 s instead of 2.5 s.)  Then the curves: runs/world-grpo-{a,b}/curve.svg and docs/grpo-world.svg
# (both agents' held-out accuracy, greedy and sampled, per step), and a table of held-out test accuracy
# before and after, greedy and sampled (avg@4 at temperature 1, the policy's own accuracy).
# Measured (README, "Reinforcement learning"): sampled A 25.0 -> 40.8 %, B 32.8 -> 43.4 %.
#
#   bench/grpo_world.sh [KEY=VALUE ...]     overrides go to both runs, e.g. train.max_minutes=5
#
# Needs the base agents (make agents).  ILR (default build/release/ilr); RUNS (default runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs}
[ -f build/agents/agent-a/model.safetensors ] || { echo "grpo_world: no base agents; run make agents first" >&2; exit 1; }
mkdir -p "$RUNS"
echo "== GRPO from base agents A and B, side by side ($(date +%T)); logs in $RUNS/world-grpo-{a,b}.out"
for agent in a b; do
    OMP_NUM_THREADS=1 $ILR train "configs/world-grpo-$agent.yaml" output_dir="$RUNS/world-grpo-$agent" \
        train.quiet=false train.log_every=50 "$@" > "$RUNS/world-grpo-$agent.out" 2>&1 &
done
wait
grep -h -A1000 '^grpo:' "$RUNS"/world-grpo-{a,b}.out | grep -v '^ *[a-z_.]*: ' || true
mkdir -p docs
$ILR plot "$RUNS/world-grpo-a/train_log.jsonl" "$RUNS/world-grpo-b/train_log.jsonl" --label "agent A" --label "agent B" \
    --y eval_accuracy,eval_sampled_accuracy --markers --y-min 0 --y-max 1 \
    --title "GRPO on the arith world: held-out accuracy (greedy, and avg@4 sampled)" \
    --x-label step --y-label "held-out accuracy" --out docs/grpo-world.svg
echo
echo "held-out test accuracy (500 problems of the test split), before -> after GRPO:"
for agent in a b; do
    python3 - "$RUNS/world-grpo-$agent/train_summary.json" "$agent" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def row(kind):
    b, a = s[kind + "_before"], s[kind + "_after"]
    lv = lambda e: " ".join("L%s %3.0f%%" % (k, 100 * v) for k, v in sorted(e["accuracy_by_level"].items()))
    return "%5.1f%% -> %5.1f%% (%+5.1f points)   by level before: %s   after: %s" % (
        100 * b["accuracy"], 100 * a["accuracy"], 100 * (a["accuracy"] - b["accuracy"]), lv(b), lv(a))
print("  agent %s, %d steps in %.0f s" % (sys.argv[2].upper(), s["steps"], s["seconds"]))
print("    greedy   " + row("test"))
if "test_sampled_before" in s:
    print("    avg@4    " + row("test_sampled"))
PY
done
