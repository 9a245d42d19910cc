#!/bin/bash
# ilr eval's whole pipeline on every bundled benchmark with real-shape models (issue #15): a random-initialised
# Qwen2.5-0.5B-shaped model with the Qwen tokenizer and chat template, and a Llama-3.2-1B-shaped one with the
# Llama-3 tokenizer, each cut to LAYERS layers, answer the first MAX questions of each benchmark greedily and
# SAMPLES times sampled.  Accuracies are near zero (random weights); what is checked is that every benchmark's
# prompts render through the chat templates, answers are graded (math grader, sandbox) and recorded, and the
# summary holds every metric.
#
#   bench/eval_real_shapes.sh          environment: OUT (runs/eval-real-shapes), MAX (2), SAMPLES (2),
#                                      LAYERS (2), TOKENS (max new tokens, 16), ILR (build/release/ilr)
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
SHARED=${SHARED:-../shared/data/tokenizers}
OUT=${OUT:-runs/eval-real-shapes}
MAX=${MAX:-2}
SAMPLES=${SAMPLES:-2}
LAYERS=${LAYERS:-2}
TOKENS=${TOKENS:-16}
BENCHES=gsm8k,math500,minerva_math,olympiadbench,aime24,aime25,amc23,mbpp,humaneval
[ -f "$SHARED/qwen3/tokenizer.json" ] && [ -f "$SHARED/llama3/tokenizer.json" ] ||
    { echo "eval_real_shapes: no tokenizers in $SHARED (the Qwen and Llama-3 ones)" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/qwen/model.safetensors" ] ||
    $ILR init --shape qwen2.5-0.5b --layers "$LAYERS" --tokenizer "$SHARED/qwen3" --vocab-size 151936 --seed 1 -o "$OUT/qwen" | tail -1
[ -f "$OUT/llama/model.safetensors" ] ||
    $ILR init --shape llama3.2-1b --layers "$LAYERS" --tokenizer "$SHARED/llama3" --seed 2 -o "$OUT/llama" | tail -1
for m in qwen llama; do
    rm -rf "$OUT/eval-$m"
    /usr/bin/time -f "eval $m: %e s, %M KiB peak" $ILR eval --model "$OUT/$m" --bench $BENCHES --max "$MAX" \
        --samples "$SAMPLES" --max-new-tokens "$TOKENS" --batch 8 -o "$OUT/eval-$m"
    python3 - "$OUT/eval-$m" "$MAX" "$SAMPLES" <<'PY'
import json, sys
out, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [json.loads(l) for l in open(out + "/samples.jsonl")]
s = json.load(open(out + "/summary.json"))
benches = s["benchmarks"]
assert len(benches) == 9, benches.keys()
for name, b in benches.items():
    mine = [l for l in lines if l["bench"] == name]
    assert len(mine) == n * (k + 1), (name, len(mine))
    assert all(set(l) == {"bench", "question", "sample", "prompt", "completion", "answer", "correct", "rule"} for l in mine)
    for key in ("greedy", "avg@%d" % k, "pass@%d" % k, "maj@%d" % k):
        assert 0 <= b[key] <= 1 and len(b[key + "_ci95"]) == 2, (name, key)
print("%s: %d benchmarks, %d records, every key present; chat template in the prompts: %s" %
      (out, len(benches), len(lines), "<|im_start|>" in lines[0]["prompt"] or "<|start_header_id|>" in lines[0]["prompt"]))
PY
done
