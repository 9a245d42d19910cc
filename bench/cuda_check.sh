#!/bin/bash
# The GPU check, in one go (GPU time is scarce): the CUDA parity tests, then the GPU benchmarks with PyTorch's
# step beside ilr's.  Runs on a machine with an NVIDIA GPU, from the repository root, with ilr built by
# `make CUDA=1` (BIN, default build/cuda).  Logs go to OUT (default cuda-check/).
#   bash bench/cuda_check.sh            everything (about 3 minutes on an H200)
#   QUICK=1 bash bench/cuda_check.sh    the tests and the 0.5B benchmarks only
set -u
BIN=${BIN:-build/cuda}
OUT=${OUT:-cuda-check}
mkdir -p "$OUT"
run() { echo "== $*" | tee -a "$OUT/check.log"; "$@" 2>&1 | tee -a "$OUT/check.log"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/check.log"
run "$BIN/run_tests" cuda
run "$BIN/ilr" bench matmul --device cuda
shapes="qwen2.5-0.5b"
[ -z "${QUICK:-}" ] && shapes="$shapes qwen2.5-1.5b"
for shape in $shapes; do
  for bt in "4 256" "8 1024"; do
    set -- $bt
    run "$BIN/ilr" bench train --device cuda --shape "$shape" --batch "$1" --seq "$2" --steps 5
    if [ "$shape $2" = "qwen2.5-0.5b 1024" ]; then  # the attention on CUDA cores, for comparison
      ILR_CUDA_ATTENTION=cuda-cores run "$BIN/ilr" bench train --device cuda --shape "$shape" --batch "$1" --seq "$2" --steps 3
    fi
    if [ "$2" = 1024 ]; then  # where the time goes
      ILR_CUDA_PROFILE=1 run "$BIN/ilr" bench train --device cuda --shape "$shape" --batch "$1" --seq "$2" --steps 2
    fi
    if python3 -c 'import torch, transformers' 2>/dev/null; then
      run python3 bench/compare_cuda_train.py --shape "$shape" --batch "$1" --seq "$2" --steps 5
    else
      echo "PyTorch or transformers missing: the peer step is skipped" | tee -a "$OUT/check.log"
    fi
  done
done
