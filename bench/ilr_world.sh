#!/bin/bash
# ILR against single-agent GRPO on the synthetic world (issue #14's result table).
#
# For each seed: the five ILR methods on base agents A and B (configs/world-ilr.yaml: ilr = dynamic
# interaction + calibration, ilr-coop, ilr-comp, ilr-random (p 0.5), ilr-no-calibration), and for each agent
# two single-agent GRPO baselines: the paper's (the same questions per step, threads as completions, and
# steps) and one compute-matched to the ilr run's generated tokens for that agent (budget.match).  Every run
# evaluates each agent ALONE on the 500 test problems before and after (greedy, and avg@4 sampled at T = 1).
# Then bench/ilr_world_table.py prints the table: means over seeds and 95 % intervals of each method's
# difference to both baselines.
#
#   bench/ilr_world.sh [KEY=VALUE ...]      overrides go to every run
#
# Environment: SEEDS (default "1 2 3"), STEPS (ILR steps, default 60), METHODS, JOBS (runs at once, one
# thread each; default 2), RUNS (default runs/ilr-world), ILR (default build/release/ilr).  A run whose
# train_summary.json exists is kept, so an interrupted bench continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs/ilr-world}
SEEDS=${SEEDS:-1 2 3}
STEPS=${STEPS:-60}
JOBS=${JOBS:-2}
METHODS=${METHODS:-ilr ilr-coop ilr-comp ilr-random ilr-no-calibration}
[ -f build/agents/agent-b/model.safetensors ] && [ -f build/agents/data/calib.jsonl ] ||
    { echo "ilr_world: no base agents or calibration data; run make agents first" >&2; exit 1; }
mkdir -p "$RUNS"
COMMON=(data.eval=null train.max_minutes=0 train.save_every=0 train.quiet=false train.log_every=10 "$@")
# the GRPO baselines see what an ILR step sees: 32 questions, G = 8 (ILR's threads), same test evaluation
GRPO=(rollout.prompts_per_step=32 rollout.num_generations=8 data.eval=null train.max_minutes=0 train.save_every=0
      train.quiet=false train.log_every=10 data.eval_samples=4 data.test_max=500 "$@")

job() { # name command...
    local name=$1; shift
    [ -f "$RUNS/$name/train_summary.json" ] && { echo "  $name: done before"; return 0; }
    rm -rf "$RUNS/$name"
    echo "  $name: $(date +%T) start"
    OMP_NUM_THREADS=1 "$@" output_dir="$RUNS/$name" > "$RUNS/$name.out" 2>&1 || { echo "  $name FAILED (see $RUNS/$name.out)"; return 1; }
    echo "  $name: $(date +%T) done"
}
export -f job
export ILR RUNS

echo "== ILR methods x seeds ($STEPS steps each, $JOBS at once), $(date +%T)"
for seed in $SEEDS; do
    for m in $METHODS; do
        echo "$m-s$seed $ILR train configs/world-ilr.yaml method=$m seed=$seed train.steps=$STEPS ${COMMON[*]}"
    done
    for a in a b; do
        echo "grpo-$a-s$seed $ILR train configs/world-grpo-$a.yaml seed=$seed train.steps=$STEPS ${GRPO[*]}"
    done
done | xargs -P "$JOBS" -I{} bash -c 'job {}'

echo "== GRPO compute-matched to each ilr run's generated tokens per agent, $(date +%T)"
for seed in $SEEDS; do
    for a in a b; do
        echo "grpo-$a-matched-s$seed $ILR train configs/world-grpo-$a.yaml seed=$seed train.steps=100000 budget.match=$RUNS/ilr-s$seed ${GRPO[*]}"
    done
done | xargs -P "$JOBS" -I{} bash -c 'job {}'

python3 bench/ilr_world_table.py "$RUNS" $SEEDS
