#!/usr/bin/env bash
# Data-parallel scaling on this machine: a world GRPO step (configs/world-grpo-a.yaml) and a world ILR step
# (configs/world-ilr.yaml, m = 2), each as 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread
# (mpirun, an MPI build), and the ILR step agent-parallel: 2 ranks x 1 thread, one agent each (agents[].ranks).
# Prints the mean step time over steps 2..STEPS (step 1 warms caches).  How far the ranks' weights are from one
# process's is the tests' business (make test MPI=1 T=dist, T=colearn), not this script's.
#   make MPI=1 && make agents (or SHIPPED=1 scripts/agents.sh) && bash bench/mpi_scaling.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
ILR=${ILR:-build/mpi/ilr}
OUT=${OUT:-/tmp/ilr-mpi-scaling}
command -v mpirun >/dev/null || { echo "mpi_scaling: mpirun is missing (apt-get install openmpi-bin)"; exit 1; }
[ -x "$ILR" ] || { echo "mpi_scaling: $ILR is missing (make MPI=1)"; exit 1; }
rm -rf "$OUT"
common="train.steps=$STEPS data.eval=null data.test=null train.save_every=0 train.print_config=false train.quiet=true"
ilr_extra="irt.data_max=100 irt.samples=2 rollout.prompts_per_step=16" # half the shipped batch, to keep it short

mean_step() { # the mean step_time of steps 2.. of a run's train_log.jsonl
  python3 -c 'import json,sys
t=[json.loads(l)["step_time"] for l in open(sys.argv[1]) if "step_time" in l]
print("%.2f" % (sum(t[1:])/max(1,len(t)-1)))' "$1/train_log.jsonl"
}

run() { # NAME CONFIG RANKS THREADS EXTRA
  local name=$1 cfg=$2 ranks=$3 threads=$4 extra=$5
  if [ "$ranks" = 1 ]; then
    OMP_NUM_THREADS=$threads "$ILR" train "$cfg" $common $extra output_dir="$OUT/$name" >/dev/null
  else
    mpirun -np "$ranks" --bind-to none --allow-run-as-root -x OMP_NUM_THREADS="$threads" \
      "$ILR" train "$cfg" $common $extra output_dir="$OUT/$name" >/dev/null
  fi
  printf "%-10s %-22s %d rank(s) x %d thread(s): %s s per step\n" "$name" "$(basename "$cfg")" "$ranks" "$threads" \
    "$(mean_step "$OUT/$name")"
}

echo "== $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run grpo-1x1 configs/world-grpo-a.yaml 1 1 ""
run grpo-1x2 configs/world-grpo-a.yaml 1 2 ""
run grpo-2x1 configs/world-grpo-a.yaml 2 1 ""
run ilr-1x1 configs/world-ilr.yaml 1 1 "$ilr_extra"
run ilr-1x2 configs/world-ilr.yaml 1 2 "$ilr_extra"
run ilr-2x1 configs/world-ilr.yaml 2 1 "$ilr_extra"
run ilr-ap-2x1 configs/world-ilr.yaml 2 1 "$ilr_extra agents.0.ranks=1 agents.1.ranks=1"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
