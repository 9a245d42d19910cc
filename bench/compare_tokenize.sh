#!/usr/bin/env bash
# Tokenizer throughput, ilr vs the reference implementation (@lenml/tokenizers, the port of transformers.js
# the fixtures come from), on the same ~12 MB mixed text, side by side (README's table).
# Needs Node.js and npm (Debian: nodejs, npm) for the reference, and ../shared/data/tokenizers.
#   bash bench/compare_tokenize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make -s
text=${TMPDIR:-/tmp}/ilr-bench-tokenize.txt
(cd tests/fixtures/tokenizer && { [ -d node_modules ] || npm ci --silent; } && node make_bench_text.mjs "$text" >/dev/null)
for name in qwen3 llama3; do
  ./ilr bench tokenize --model ../shared/data/tokenizers/$name "$text"
  (cd tests/fixtures/tokenizer && node bench.mjs "$text" $name)
done
