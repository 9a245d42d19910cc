#!/usr/bin/env bash
# Issue #16's table: ilr beside PyTorch at its best on this machine, one run, every figure with its target.
# PyTorch at its best: PyPI's newest torch (bench/venv.sh) with fused SDPA attention, and for training the
# faster of eager and torch.compile; the same thread count as ilr (default 2).  Run on an idle machine.
#   bash bench/compare_all.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all
bash bench/venv.sh
exec bench/.venv/bin/python bench/compare_all.py --threads "${1:-2}"
