#!/bin/bash
# ILR on real shapes, end to end on a CPU: two ILR steps of configs/ilr-qwen2.5-0.5b-llama3.2-1b-math.yaml with
# random-initialised models of the two families and their own tokenizers (from ../shared/data/tokenizers:
# the Qwen tokenizer and the Llama-3 one, each with its chat template), MATH's training set from the registry,
# tiny rollouts.  Random weights write random text, so the rewards are 0 and nothing is learnt: this measures
# the path (chat templates of two families, text passed between tokenizers, every stage, the update, the
# checkpoints of both) and its time per step.
#
# Memory: Llama-3.2-1B's fp32 training state (weights, gradients, two AdamW moments) is 19.8 GiB and
# Qwen2.5-0.5B's 7.9 GiB: together over a 24 GiB machine.  LAYERS (default 4) cuts the Llama's 16 layers to
# fit (vocabulary 128,256 and width 2,048 kept); LAYERS=16 runs the full shape where memory allows.
#
#   bench/ilr_real_shapes.sh [KEY=VALUE ...]     overrides go to the run
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
SHARED=${SHARED:-../shared/data/tokenizers}
OUT=${OUT:-runs/ilr-real-shapes}
LAYERS=${LAYERS:-4}
[ -f "$SHARED/qwen3/tokenizer.json" ] && [ -f "$SHARED/llama3/tokenizer.json" ] ||
    { echo "ilr_real_shapes: no tokenizers in $SHARED (the Qwen and Llama-3 ones)" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/qwen/model.safetensors" ] ||
    $ILR init --shape qwen2.5-0.5b --tokenizer "$SHARED/qwen3" --vocab-size 151936 --seed 1 -o "$OUT/qwen" | tail -1
[ -f "$OUT/llama/model.safetensors" ] ||
    $ILR init --shape llama3.2-1b --layers "$LAYERS" --tokenizer "$SHARED/llama3" --seed 2 -o "$OUT/llama" | tail -1
/usr/bin/time -v $ILR train configs/ilr-qwen2.5-0.5b-llama3.2-1b-math.yaml output_dir="$OUT/run" \
    agents.0.model="$OUT/qwen" agents.1.model="$OUT/llama" \
    train.steps=2 train.save_every=1 train.log_every=1 data.eval=null irt.data_max=4 irt.samples=2 \
    rollout.prompts_per_step=2 rollout.num_generations=2 rollout.max_new_tokens=16 \
    ilr.analyse_max_new_tokens=16 ilr.max_peer_tokens=32 ilr.max_prompt_tokens=1024 optim.micro_batch=2 \
    "$@" 2>&1 | tee "$OUT/run.out" | grep -v "^  [a-z_]*: \|^[a-z_]*:$\|^# " | grep -v "^\s*$" | tail -40
python3 - "$OUT/run/train_log.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if "coop_share" in j:
        t = {k: j[k] for k in ("time/share", "time/analyse", "time/fuse", "time/training", "step_time")}
        print("step %d: %s" % (j["step"], ", ".join("%s %.1f s" % (k, v) for k, v in t.items())))
PY
