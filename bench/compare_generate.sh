#!/usr/bin/env bash
# Generation throughput, ilr vs PyTorch (KV cache, greedy, fp32), side by side (README's table).
# The PyTorch runs need Debian's python3-torch and are skipped without it.
#   bash bench/compare_generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make -s
have_torch=1
/usr/bin/python3 -c "import torch" 2>/dev/null || { have_torch=0; echo "(python3-torch not installed: PyTorch runs skipped)"; }
run() { # shape arch batch prompt new
  ./ilr bench generate --arch "$2" --shape "$1" --batch "$3" --prompt "$4" --new "$5"
  [ $have_torch = 1 ] && env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/pytorch_generate.py --shape "$1" --batch "$3" --prompt "$4" --new "$5"
  return 0
}
run qwen2.5-0.5b qwen2 1 128 32
run small llama 1 128 64
run small llama 8 128 64
run small llama 64 128 64
