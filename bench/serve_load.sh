#!/usr/bin/env bash
# Load on `ilr serve` over loopback: the same REQUESTS completions (MAX_TOKENS each, sampled) from 1 client,
# then from CONCURRENCY clients at once; each line is bench/serve_load.py's measurement, and the last line
# the throughput ratio (what batching buys; see README, "Serving").
#   bash bench/serve_load.sh [MODEL_DIR]   (default: a random tiny Llama with the test tokenizer)
# Environment: REQUESTS (200), CONCURRENCY (8), MAX_TOKENS (32), ILR (./ilr), QUEUE (--max-queue, 64), SLOTS
# (--slots: sequences decoded together, 16).
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-./ilr} REQUESTS=${REQUESTS:-200} CONCURRENCY=${CONCURRENCY:-8} MAX_TOKENS=${MAX_TOKENS:-32}
tmp=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
model=${1:-}
if [ -z "$model" ]; then
    model=$tmp/m
    "$ILR" init --arch llama --shape tiny -o "$model" --tokenizer tests/data/tokenizer/trained/qwen2 --vocab-size 1024 >/dev/null 2>&1
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ILR" serve --model m="$model" --port "$port" --max-queue "${QUEUE:-64}" --slots "${SLOTS:-16}" >/dev/null 2>"$tmp/serve.log" &
server=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
one=$(python3 bench/serve_load.py "$port" 1 "$REQUESTS" "$MAX_TOKENS")
echo "$one"
many=$(python3 bench/serve_load.py "$port" "$CONCURRENCY" "$REQUESTS" "$MAX_TOKENS")
echo "$many"
python3 -c "import json,sys; a,b=(json.loads(x) for x in sys.argv[1:]); print('throughput at %d clients / 1 client: %.2fx (tokens/s %s vs %s)' % (b['concurrency'], b['tokens_per_s']/a['tokens_per_s'], b['tokens_per_s'], a['tokens_per_s']))" "$one" "$many"
