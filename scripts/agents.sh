#!/bin/bash
# Builds the two base agents of the synthetic world into build/agents/ (make agents; make demo uses it):
#   data      SFT data (Idea3 records of every stage, split "sft"; FLAWED % of the solve answers carry a
#             planted mistake) and a held-out split ("val", solve only);
#             problems for RL (rl-train.jsonl: split "train", rl-val.jsonl: split "val"), test.jsonl ("test"),
#             calibration questions for ILR's IRT fit (calib.jsonl: split "calib")
#   tokenizer a byte-level BPE learned from the SFT text
#   agent A   Qwen2 architecture, shape world-a (0.35 M parameters), trained from scratch by ilr sft
#   agent B   Llama architecture, shape world-b (0.92 M parameters, 2.7x A), trained from scratch by ilr sft
# Everything derives from SEED (default 1); the same build and thread count give the same agents.
# An agent that is already built (its sft_summary.json exists) is kept: FORCE=1 rebuilds everything.
#
# SHIPPED=1 (what make demo does): instead of training the agents (25-35 min on 2 cores), copy the ones shipped
# in data/agents/ (built by this script with SEED=1 on 2 threads; data/agents/README.md), after checking them
# against data/agents/SHA256SUMS; the data splits are generated as always (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
OUT=${AGENTS_DIR:-build/agents}
SEED=${SEED:-1}
SHIPPED=${SHIPPED:-0}
# training budgets, chosen so that each agent trains in at most 10 minutes on 2 cores (README, "Base agents")
A_STEPS=${A_STEPS:-3500}
B_STEPS=${B_STEPS:-3400}
# the share of SFT solve answers with a planted mistake (a slip or a skip): the base agents imitate it, as a
# pretrained model imitates the wrong solutions in its data, and reinforcement learning has to unlearn it
FLAWED=${FLAWED:-30}
[ "${FORCE:-0}" = 1 ] && rm -rf "$OUT"
mkdir -p "$OUT/data"

# the SFT data (Idea3 records of every stage), for the tokenizer and the agents' training
sft_data() { [ -f "$OUT/data/sft.jsonl" ] || $ILR world gen --task arith --kind idea3 --split sft --n 80000 --levels 1-5 --flawed "$FLAWED" --seed "$SEED" -o "$OUT/data/sft.jsonl"; }

if [ "$SHIPPED" = 1 ]; then
    [ "$SEED" = 1 ] || { echo "agents: the shipped agents are seed 1; SEED=$SEED needs make agents" >&2; exit 1; }
    (cd data/agents && sha256sum --quiet -c SHA256SUMS) ||
        { echo "agents: data/agents/ does not match its SHA256SUMS (make agents rebuilds the agents)" >&2; exit 1; }
    for part in tokenizer agent-a agent-b; do
        if [ ! -e "$OUT/$part" ]; then cp -r "data/agents/$part" "$OUT/$part"; echo "== $part: shipped (data/agents/$part, hash checked)"; fi
    done
fi

if [ ! -f "$OUT/tokenizer/tokenizer.json" ]; then
    echo "== SFT data and tokenizer (seed $SEED)"
    sft_data
    $ILR tokenizer train --vocab-size 512 --special '<|endoftext|>' --jsonl prompt,response \
        --out "$OUT/tokenizer" "$OUT/data/sft.jsonl" | tail -1
fi

# held-out SFT answers ("val") and the test problems ("test")
if [ ! -f "$OUT/data/test.jsonl" ]; then
    $ILR world gen --task arith --kind sft --split val --n 500 --levels 1-5 --seed "$SEED" -o "$OUT/data/val.jsonl"
    $ILR world gen --task arith --kind problems --split test --n 1000 --levels 1-5 --seed "$SEED" -o "$OUT/data/test.jsonl"
fi

# calibration questions for ILR's IRT fit (configs/world-ilr.yaml: irt.data), the "calib" split
if [ ! -f "$OUT/data/calib.jsonl" ]; then
    $ILR world gen --task arith --kind problems --split calib --n 1000 --levels 1-5 --seed "$SEED" -o "$OUT/data/calib.jsonl"
fi

# problems for reinforcement learning (ilr train configs/world-grpo-*.yaml): the "train" and "val" splits
if [ ! -f "$OUT/data/rl-train.jsonl" ]; then
    $ILR world gen --task arith --kind problems --split train --n 20000 --levels 1-5 --seed "$SEED" -o "$OUT/data/rl-train.jsonl"
    $ILR world gen --task arith --kind problems --split val --n 1000 --levels 1-5 --seed "$SEED" -o "$OUT/data/rl-val.jsonl"
fi

train() { # name shape steps lr
    local name=$1 shape=$2 steps=$3 lr=$4
    if [ -f "$OUT/$name/sft_summary.json" ]; then
        echo "== $name: already built ($OUT/$name; FORCE=1 rebuilds)"
        return
    fi
    sft_data
    echo "== $name: shape $shape, $steps steps of SFT from scratch"
    $ILR init --shape "$shape" --tokenizer "$OUT/tokenizer" --seed "$SEED" -o "$OUT/$name-init" >/dev/null
    $ILR sft --model "$OUT/$name-init" --data "$OUT/data/sft.jsonl" --eval "$OUT/data/val.jsonl" --eval-max 500 \
        -o "$OUT/$name" --batch 8 --seq 512 --steps "$steps" --lr "$lr" --warmup 100 --log-every 100 \
        --seed "$SEED"
    rm -rf "$OUT/$name-init"
}
train agent-a world-a "$A_STEPS" 2e-3
train agent-b world-b "$B_STEPS" 1.5e-3
echo "== base agents in $OUT: agent-a (qwen2), agent-b (llama); data in $OUT/data"
