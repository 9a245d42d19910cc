#!/usr/bin/env bash
# The peers' virtual environment for bench/compare_all.sh: PyPI's newest torch (its own MKL / oneDNN CPU
# kernels) and numpy, in bench/.venv.  Not a dependency of the build or the tests.  About 3 GB (the wheel
# pulls NVIDIA's CUDA libraries too, unused here); quick when already there.
#   bash bench/venv.sh
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import torch, numpy' 2>/dev/null || .venv/bin/pip install -q --upgrade torch numpy
.venv/bin/python -c 'import torch; print("bench/.venv: torch", torch.__version__)'
