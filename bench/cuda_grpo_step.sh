#!/bin/bash
# Issue #19's GRPO step on the GPU: a random-initialised qwen2.5-1.5b (Qwen's tokenizer), GSM8K's training
# questions, 16 prompts x G = 8 samples of 512 new tokens (a random model never stops early), the DAPO loss,
# rollouts and update both on the GPU (train.device: cuda).  Prints each step's time split into generation,
# reward and training from the run's log.  Needs ilr built by `make CUDA=1` (BIN, default build/cuda) and a
# tokenizer directory (TOKENIZER, default ../shared/data/tokenizers/qwen3).  Work files go to OUT.
set -eu
BIN=${BIN:-build/cuda}
OUT=${OUT:-cuda-check}
TOKENIZER=${TOKENIZER:-../shared/data/tokenizers/qwen3}
STEPS=${STEPS:-3}
# (a smoke test on the CPU: SHAPE=tiny LAYERS=2 PROMPTS=2 G=2 NEW=8 DEVICE=cpu)
SHAPE=${SHAPE:-qwen2.5-1.5b} PROMPTS=${PROMPTS:-16} G=${G:-8} NEW=${NEW:-512} DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
extra=""
[ "$SHAPE" = tiny ] && extra="--arch qwen2 --vocab-size 151936"
"$BIN/ilr" init --shape "$SHAPE" $extra -o "$WORK/model" --dtype bf16 --tokenizer "$TOKENIZER"
cat > "$WORK/grpo.yaml" <<YAML
method: grpo
model: $WORK/model
output_dir: $WORK/run
seed: 1
data:
  train: gsm8k-train
  task: math
reward:
  math_extract: last_number
rollout:
  prompts_per_step: $PROMPTS
  num_generations: $G
  max_new_tokens: $NEW
  temperature: 1.0
grpo:
  loss_type: dapo
optim:
  lr: 1.0e-6
  micro_batch: 8
train:
  device: $DEVICE
  steps: $STEPS
  save_every: 1000
YAML
"$BIN/ilr" train "$WORK/grpo.yaml"
log="$WORK/run/train_log.jsonl"
python3 - "$log" <<'PY' | tee -a "$OUT/grpo_step.log"
import json, sys
before = 0
for line in open(sys.argv[1]):
    s = json.loads(line)
    if "step_time" in s:
        print("step %d: %.2f s (generation %.2f, reward %.2f, training %.2f), %d tokens generated"
              % (s["step"], s["step_time"], s["time/generation"], s["time/reward"], s["time/training"],
                 s["generated_tokens"] - before))
        before = s["generated_tokens"]
PY
