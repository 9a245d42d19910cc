#!/usr/bin/env bash
# Training throughput, ilr vs PyTorch, side by side on this machine (the table in README.md).
# Needs Debian's python3-torch (apt-get install python3-torch); run on an otherwise idle machine.
#   bash bench/compare_pytorch.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-3}
make -s
./ilr bench matmul
for shape in small qwen2.5-0.5b; do
  arch=llama; [[ $shape == qwen* ]] && arch=qwen2
  ./ilr bench train --arch $arch --shape $shape --batch 4 --seq 256 --steps "$steps"
  # PyTorch with OpenBLAS's own kernel choice, as it runs by default on this machine
  env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/pytorch_train.py --shape $shape --batch 4 --seq 256 --steps "$steps"
done
