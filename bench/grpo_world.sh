#!/bin/bash
# GRPO on the synthetic world from each base agent (issue #8's result): configs/world-grpo-a.yaml and
# configs/world-grpo-b.yaml, one after the other (each is given 18 minutes of training on 2 cores, plus its
# evaluations), then the curves: runs/world-grpo-{a,b}/curve.svg and docs/grpo-world.svg (both agents'
# held-out accuracy and training reward per step), and a table of held-out accuracy before and after.
#
#   bench/grpo_world.sh [KEY=VALUE ...]     overrides go to both runs, e.g. train.max_minutes=5
#
# Needs the base agents (make agents).  ILR (default build/release/ilr); RUNS (default runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs}
[ -f build/agents/agent-a/model.safetensors ] || { echo "grpo_world: no base agents; run make agents first" >&2; exit 1; }
for agent in a b; do
    echo "== GRPO from base agent ${agent^^} ($(date +%T))"
    $ILR train "configs/world-grpo-$agent.yaml" output_dir="$RUNS/world-grpo-$agent" train.quiet=false \
        train.log_every=25 "$@" | grep -v '^ \|^#\|^[a-z_]*:' || true
done
mkdir -p docs
$ILR plot "$RUNS/world-grpo-a/train_log.jsonl" "$RUNS/world-grpo-b/train_log.jsonl" --label "agent A" --label "agent B" \
    --y eval_accuracy,reward --smooth 1 --markers --title "GRPO on the arith world: held-out accuracy and reward" \
    --x-label step --y-label "accuracy / reward" --out docs/grpo-world.svg
echo
echo "held-out accuracy (greedy; test split, 1000 problems), before -> after GRPO:"
for agent in a b; do
    python3 - "$RUNS/world-grpo-$agent/train_summary.json" "$agent" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
b, a = s["test_before"], s["test_after"]
lv = lambda e: " ".join("L%s %3.0f%%" % (k, 100 * v) for k, v in sorted(e["accuracy_by_level"].items()))
print("  agent %s: %5.1f%% -> %5.1f%% (%+.1f points) in %d steps, %.0f s   before: %s   after: %s" % (
    sys.argv[2].upper(), 100 * b["accuracy"], 100 * a["accuracy"], 100 * (a["accuracy"] - b["accuracy"]),
    s["steps"], s["seconds"], lv(b), lv(a)))
PY
done
