#!/bin/bash
# ILR against single-agent GRPO on the synthetic world (issue #14's result table).
#
# For each seed: ILR on base agents A and B (configs/world-ilr.yaml: dynamic interaction + calibration,
# trained on the stages STAGES names, below) and its ablations (METHODS below), and for each agent
# two single-agent GRPO baselines: the paper's (the same questions per step, threads as completions, and
# steps) and one compute-matched to the ilr run's generated tokens for that agent (budget.match).  Every run
# evaluates each agent ALONE on the 500 test problems before and after (greedy, and avg@4 sampled at T = 1).
# Then bench/ilr_world_table.py prints the table: means over seeds and 95 % intervals of each method's
# difference to both baselines.
#
#   bench/ilr_world.sh [KEY=VALUE ...]      overrides go to every run
#
# Environment: SEEDS (default "1 2 3"), STEPS (ILR steps, default 60), STAGES (ilr.train_stages of ilr and its
# interaction / calibration ablations, default share+fuse: what the committed table was measured with; the
# default of configs/world-ilr.yaml became `all` after it, measured here as ilr-all-stages), METHODS (the
# ablations, run last: ilr-comp, ilr-no-calibration, ilr-fuse-only and ilr-all-stages (ilr.train_stages fuse /
# all), ilr-coop, ilr-random),
# PHASES (default "same matched ablations": which of the three groups below to run), JOBS (runs at once,
# one thread each; default 2), RUNS (run directories, default runs/ilr-world), RESULTS
# (default bench/results/ilr-world: each finished run's train_summary.json, train_log.jsonl and console log go there,
# small enough to commit, so a cut-off session keeps them), ILR (default build/release/ilr).  A run whose
# summary is in RESULTS is not run again, so an interrupted bench continues where it stopped.
#
# Order: ilr and the paper's GRPO baselines for every seed first, then the compute-matched GRPO (it needs the
# ilr run's token count), then the ablations: the main comparison is complete before the long tail starts.
# On the 2-core machine an ilr run is ~25 min on one thread, a GRPO run of the same steps 1 (A) to 5 (B) min.
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs/ilr-world}
RESULTS=${RESULTS:-bench/results/ilr-world}
SEEDS=${SEEDS:-1 2 3}
STEPS=${STEPS:-60}
STAGES=${STAGES:-share+fuse}
JOBS=${JOBS:-2}
METHODS=${METHODS:-ilr-comp ilr-no-calibration ilr-fuse-only ilr-all-stages ilr-coop ilr-random}
[ -f build/agents/agent-b/model.safetensors ] && [ -f build/agents/data/calib.jsonl ] ||
    { echo "ilr_world: no base agents or calibration data; run make agents first" >&2; exit 1; }
mkdir -p "$RUNS" "$RESULTS"
COMMON=(data.eval=null train.max_minutes=0 train.save_every=0 train.quiet=false train.log_every=10 "$@")
# the GRPO baselines see what an ILR step sees: 32 questions, G = 8 (ILR's threads), same test evaluation
GRPO=(rollout.prompts_per_step=32 rollout.num_generations=8 data.eval=null train.max_minutes=0 train.save_every=0
      train.quiet=false train.log_every=10 data.eval_samples=4 data.test_max=500 "$@")

job() { # name command...
    local name=$1; shift
    [ -f "$RESULTS/$name/train_summary.json" ] && { echo "  $name: done before"; return 0; }
    rm -rf "$RUNS/$name"
    echo "  $name: $(date +%T) start"
    OMP_NUM_THREADS=1 "$@" output_dir="$RUNS/$name" > "$RUNS/$name.out" 2>&1 || { echo "  $name FAILED (see $RUNS/$name.out)"; return 1; }
    mkdir -p "$RESULTS/$name"
    cp "$RUNS/$name.out" "$RESULTS/$name/console.txt"
    cp "$RUNS/$name/train_summary.json" "$RUNS/$name/train_log.jsonl" "$RESULTS/$name/"
    echo "  $name: $(date +%T) done"
}
export -f job
export ILR RUNS RESULTS

PHASES=${PHASES:-same matched ablations}
phase() { [[ " $PHASES " == *" $1 "* ]]; }
run_all() { xargs -P "$JOBS" -I{} bash -c 'job {}'; } # one job per line of stdin, JOBS at once

if phase same; then
    echo "== ilr and GRPO with the same steps x seeds ($STEPS steps each, $JOBS at once), $(date +%T)"
    for seed in $SEEDS; do
        echo "ilr-s$seed $ILR train configs/world-ilr.yaml method=ilr ilr.train_stages=$STAGES seed=$seed train.steps=$STEPS ${COMMON[*]}"
        for a in a b; do
            echo "grpo-$a-s$seed $ILR train configs/world-grpo-$a.yaml seed=$seed train.steps=$STEPS ${GRPO[*]}"
        done
    done | run_all
fi

if phase matched; then
    echo "== GRPO compute-matched to each ilr run's generated tokens per agent, $(date +%T)"
    for seed in $SEEDS; do
        for a in a b; do
            echo "grpo-$a-matched-s$seed $ILR train configs/world-grpo-$a.yaml seed=$seed train.steps=100000 budget.match=$RESULTS/ilr-s$seed ${GRPO[*]}"
        done
    done | run_all
fi

if phase ablations; then
    echo "== ablations: $METHODS x seeds, $(date +%T)"
    for m in $METHODS; do # method outer: each ablation finishes its seeds before the next starts
        for seed in $SEEDS; do
            case $m in # the trained-stage variants are ilr with another ilr.train_stages
                ilr-fuse-only) how="method=ilr ilr.train_stages=fuse" ;;
                ilr-all-stages) how="method=ilr ilr.train_stages=all" ;;
                *) how="method=$m ilr.train_stages=$STAGES" ;;
            esac
            echo "$m-s$seed $ILR train configs/world-ilr.yaml $how seed=$seed train.steps=$STEPS ${COMMON[*]}"
        done
    done | run_all
fi

python3 bench/ilr_world_table.py "$RESULTS" $SEEDS
