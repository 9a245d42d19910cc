#!/usr/bin/env bash
# Is the two-thread decode of the world's agents slow in some runs because of ilr, or because of the machine?
# Alternates, ROUNDS times in one run: the sgemm peak on 1 and on 2 threads (ilr bench matmul) and world-a's
# decode at batch 64 on 1 and on 2 threads (ilr bench generate), and prints one line a round.  If the rounds
# where decode on 2 threads is slow are also the ones where sgemm on 2 threads scales badly, the second core
# was not wholly ours (a virtual machine's vCPUs share their host's cores); if sgemm scales while decode does
# not, the cause is in ilr's threading.
#   bash bench/decode_threads.sh [ROUNDS]      (default 8; about 10 s a round)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-8}
make -s all
ilr=build/release/ilr
gflops() { OMP_NUM_THREADS=$1 $ilr bench matmul --size 1024 --seconds 1 | sed -n 's/.*: \([0-9.]*\) GFLOP\/s.*/\1/p'; }
decode() { OMP_NUM_THREADS=$1 $ilr bench generate --arch qwen2 --shape world-a --batch 64 --prompt 64 --new 64 |
  sed -n 's/.*decode \([0-9.]*\) tokens\/s.*/\1/p'; }
printf "%-6s %14s %14s %8s %18s %18s %8s\n" round "sgemm 1 thr" "sgemm 2 thr" ratio "decode 1 thr" "decode 2 thr" ratio
for r in $(seq "$rounds"); do
  g1=$(gflops 1); g2=$(gflops 2); d1=$(decode 1); d2=$(decode 2)
  printf "%-6s %14s %14s %8.2f %18s %18s %8.2f\n" "$r" "$g1" "$g2" "$(awk "BEGIN{print $g2/$g1}")" "$d1" "$d2" \
    "$(awk "BEGIN{print $d2/$d1}")"
done
