#!/bin/bash
# The GPU generation engine's check, in one go: its parity tests (and the CUDA group, whose GRPO run now
# generates on the GPU), `ilr generate --device cuda` beside the CPU on a fixture model, and `ilr bench generate
# --device cuda` at batch 1 / 64 / 256 for the 0.5B and 1.5B shapes (batch 64 also without CUDA graphs, and
# profiled).  Runs on
# a machine with an NVIDIA GPU from the repository root, ilr built by `make CUDA=1` (BIN, default build/cuda).
# Logs go to OUT (default cuda-check/).
set -u
BIN=${BIN:-build/cuda}
OUT=${OUT:-cuda-check}
mkdir -p "$OUT"
LOG="$OUT/generate.log"
run() { echo "== $*" | tee -a "$LOG"; "$@" 2>&1 | tee -a "$LOG"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$LOG"
run "$BIN/run_tests" cuda_generate
run "$BIN/run_tests" cuda
printf '{"ids": [5, 17, 99, 3]}\n{"ids": [250, 8]}\n' > "$OUT/prompts.jsonl"
for device in cpu cuda; do
  run "$BIN/ilr" generate --model tests/data/transformer/qwen2 --prompts "$OUT/prompts.jsonl" --temperature 0 \
    --max-new-tokens 12 --ignore-eos --device $device
done
run "$BIN/ilr" generate --model tests/data/transformer/qwen2 --prompts "$OUT/prompts.jsonl" --n 3 --max-new-tokens 8 \
  --ignore-eos --device cuda
for shape in qwen2.5-0.5b qwen2.5-1.5b; do
  for b in 1 64 256; do
    run "$BIN/ilr" bench generate --device cuda --shape "$shape" --batch $b --prompt 128 --new 128
  done
  ILR_CUDA_GRAPHS=0 run "$BIN/ilr" bench generate --device cuda --shape "$shape" --batch 64 --prompt 128 --new 128
  ILR_CUDA_PROFILE=1 run "$BIN/ilr" bench generate --device cuda --shape "$shape" --batch 64 --prompt 128 --new 32
done
