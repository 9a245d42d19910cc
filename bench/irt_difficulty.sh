#!/bin/bash
# How an ILR run places its training questions on the IRT difficulty scale (irt.difficulty), measured on the
# synthetic world with the base agents: the cost of each way and how well it agrees with the most direct one.
#   fit          every training question the run visits is answered irt.samples times by every agent and
#                fitted with the calibration questions (the direct estimate; costly)
#   level        the mean fitted D of the calibration questions of the question's level (free)
#   self_rating  each agent rates each visited question 1-10, mapped to D through the calibration questions
# For the questions of the first STEPS steps (STEPS x 32), prints the setup time of each, the correlation of
# its D with fit's, and how often it gives the same interaction mode (the mean rule) as fit.
set -euo pipefail
cd "$(dirname "$0")/.."
ILR=${ILR:-build/release/ilr}
RUNS=${RUNS:-runs/irt-difficulty}
STEPS=${STEPS:-20}
mkdir -p "$RUNS"
for how in fit level self_rating; do
    # one step is enough: the setup places every question the run would visit in STEPS steps
    $ILR train configs/world-ilr.yaml output_dir="$RUNS/$how" irt.difficulty=$how train.steps="$STEPS" \
        train.max_minutes=0.0001 data.eval=null data.test=null train.save_every=0 > "$RUNS/$how.out" 2>&1
    grep "^irt: .* in " "$RUNS/$how.out" | sed "s/^/  $how: /"
done
python3 - "$RUNS" <<'PY'
import json, math, sys
runs = sys.argv[1]
resp = [json.loads(l) for l in open(runs + "/fit/responses.jsonl")]
calib = {json.loads(l)["id"] for l in open("build/agents/data/calib.jsonl")}
visited = sorted({r["question"] for r in resp if r["question"] not in calib})
D = {h: json.load(open(f"{runs}/{h}/difficulty.json")) for h in ("fit", "level", "self_rating")}
G = {h: json.load(open(f"{runs}/{h}/irt.json"))["gamma"] for h in ("fit", "level", "self_rating")}
def corr(x, y):
    n = len(x); mx = sum(x) / n; my = sum(y) / n
    sx = math.sqrt(sum((a - mx) ** 2 for a in x)); sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy) if sx and sy else float("nan")
def mode(h, q):
    p = [1 / (1 + math.exp(-1.7 * (g - D[h][q]))) for g in G[h].values()]
    return sum(p) / len(p) < 0.5
ref = [D["fit"][q] for q in visited]
print(f"  {len(visited)} training questions; agreement with fit's D (Pearson r) and with fit's modes:")
for h in ("level", "self_rating"):
    x = [D[h][q] for q in visited]
    same = sum(mode(h, q) == mode("fit", q) for q in visited) / len(visited)
    coop = sum(mode(h, q) for q in visited) / len(visited)
    print(f"  {h:<12} r = {corr(x, ref):+.3f}   same mode {100 * same:5.1f} %   coop share {100 * coop:5.1f} %")
print(f"  {'fit':<12} coop share {100 * sum(mode('fit', q) for q in visited) / len(visited):5.1f} %")
PY
