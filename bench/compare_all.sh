#!/usr/bin/env bash
# Issue #16's table: ilr beside PyTorch at its best on this machine, one run, every figure with its target.
# PyTorch at its best: PyPI's newest torch (bench/venv.sh) with fused SDPA attention, and for training the
# faster of eager and torch.compile; llama.cpp at its best: built from source for this CPU, the faster of
# its llamafile and OpenBLAS builds, on GGUF conversions of ilr's own qwen2.5-0.5b weights; the same thread
# count as ilr (default 2).  Run on an idle machine.  Further options go to compare_all.py
# (--only llamacpp, --repeats N).
#   bash bench/compare_all.sh [threads [options]]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all
bash bench/venv.sh
exec bench/.venv/bin/python bench/compare_all.py --threads "${1:-2}" "${@:2}"
