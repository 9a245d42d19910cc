#!/bin/bash
# The base agents discussing at inference time (`ilr interact`, greedy, no training) on the world's 500 test
# problems: each agent's accuracy alone, then after a debate (Du et al., 2 rounds) and after Idea3 (cooperative
# and competitive stance).  The paper found that debate drags the stronger model down and Idea3 does not; this
# measures whether that holds for agents A and B.  Also counts, per agent, how its final answer relates to
# its own first answer and the peer's (kept / took the peer's / a third answer) and the right -> wrong and
# wrong -> right changes, from transcripts.jsonl.  Summaries are copied to RESULTS (committed).
#
#   bench/ilr_interact.sh         environment: MAX (default 500), RUNS (runs/interact), RESULTS, ILR
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs/interact}
RESULTS=${RESULTS:-bench/results/interact}
MAX=${MAX:-500}
[ -f build/agents/agent-b/model.safetensors ] || { echo "ilr_interact: no base agents; run make agents first" >&2; exit 1; }
mkdir -p "$RUNS" "$RESULTS"
AGENTS=(--agent agent-a=build/agents/agent-a --agent agent-b=build/agents/agent-b)
COMMON=(--data build/agents/data/test.jsonl --max "$MAX" --task world-arith --max-new-tokens 96 --max-peer-tokens 100)
for run in debate idea3-coop idea3-comp; do
    case $run in
        debate) extra=(--protocol debate --rounds 2) ;;
        idea3-coop) extra=(--protocol idea3 --mode coop) ;;
        idea3-comp) extra=(--protocol idea3 --mode comp) ;;
    esac
    "$ILR" interact "${AGENTS[@]}" "${COMMON[@]}" "${extra[@]}" -o "$RUNS/$run" > "$RUNS/$run.out" 2>&1 ||
        { echo "ilr_interact: $run failed (see $RUNS/$run.out)" >&2; exit 1; }
    mkdir -p "$RESULTS/$run"
    cp "$RUNS/$run/summary.json" "$RESULTS/$run/"
done
python3 - "$RUNS" <<'PY'
import json, re, sys
runs = sys.argv[1]
def boxed(text):
    found = re.findall(r"\\boxed\{([^}]*)\}", text)
    return found[-1] if found else None
print("| protocol | agent | alone | final | change | final = own first answer | = the peer's | a third | right → wrong | wrong → right |")
print("|---|---|---|---|---|---|---|---|---|---|")
for run in ("debate", "idea3-coop", "idea3-comp"):
    summary = json.load(open(f"{runs}/{run}/summary.json"))
    lines = [json.loads(l) for l in open(f"{runs}/{run}/transcripts.jsonl")]
    names = list(summary["agents"])
    for i, name in enumerate(names):
        peer = names[1 - i] if len(names) == 2 else None
        own = took = third = r2w = w2r = 0
        for rec in lines:
            mine = rec["answers"][name]
            final, first = boxed(mine[-1]), boxed(mine[0])
            other = boxed(rec["answers"][peer][0]) if peer else None
            if final == first: own += 1
            elif final == other: took += 1
            else: third += 1
            c = rec["correct"][name]
            r2w += c[0] and not c[-1]
            w2r += c[-1] and not c[0]
        a = summary["agents"][name]
        n = len(lines)
        print(f"| {run} | {name} | {100 * a['alone']:.1f} % | {100 * a['final']:.1f} % | {100 * (a['final'] - a['alone']):+.1f} "
              f"| {own} | {took} | {third} | {r2w} | {w2r} |")
print(f"({n} questions; answers compared as the boxed strings)")
PY
