#!/bin/bash
# Tuning runs for the base agents, several at once on a many-core machine (the 2-core CI machine is too
# slow to compare configurations; accuracy at a given step does not depend on the core count).
#
#   bench/tune_agents.sh THREADS_EACH 'name shape sft-options...' ['name shape sft-options...' ...]
#   e.g. bench/tune_agents.sh 4 'a1 world-a --lr 2e-3 --steps 2500' 'b1 world-b --lr 1.5e-3 --steps 1600'
#
# Data and tokenizer as scripts/agents.sh makes them (seed 1), into $TUNE_DIR (default /tmp/ilr-tune);
# each run logs to $TUNE_DIR/NAME.log with an evaluation every 500 steps; the last lines of every log
# are printed at the end.  ILR (default build/release/ilr) must run there: on a machine without the
# Debian packages, copy the shared libraries `ldd build/release/ilr` lists into a folder and point
# LD_LIBRARY_PATH at it.
set -u
ILR=${ILR:-build/release/ilr}
DIR=${TUNE_DIR:-/tmp/ilr-tune}
THREADS=$1
shift
mkdir -p "$DIR"
if [ ! -f "$DIR/tok/tokenizer.json" ]; then
    $ILR world gen --n 80000 --split sft --kind idea3 --seed 1 -o "$DIR/sft.jsonl" >/dev/null
    $ILR world gen --n 500 --split val --kind sft --seed 1 -o "$DIR/val.jsonl" >/dev/null
    $ILR tokenizer train --vocab-size 512 --special '<|endoftext|>' --jsonl prompt,response --out "$DIR/tok" \
        "$DIR/sft.jsonl" >/dev/null
fi
for spec in "$@"; do
    set -- $spec
    name=$1 shape=$2
    shift 2
    $ILR init --shape "$shape" --tokenizer "$DIR/tok" --seed 1 -o "$DIR/$name-init" >/dev/null 2>&1
    OMP_NUM_THREADS=$THREADS $ILR sft --model "$DIR/$name-init" --data "$DIR/sft.jsonl" --eval "$DIR/val.jsonl" \
        --eval-max 500 -o "$DIR/$name" --batch 8 --seq 512 --warmup 100 --log-every 250 --eval-every 500 "$@" \
        > "$DIR/$name.log" 2>&1 &
done
wait
for log in "$DIR"/*.log; do echo "== $log"; grep -E 'eval|sft:' "$log" | tail -4; done
