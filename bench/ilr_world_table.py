#!/usr/bin/env python3
"""The result table of bench/ilr_world.sh: each agent ALONE on the 500 test problems after each method.

usage: python3 bench/ilr_world_table.py RUNS SEED [SEED ...]

Per agent and method: the mean over seeds of greedy accuracy and of avg@4 sampled accuracy after training,
the change from the base agent, and the difference to each GRPO baseline (the paper's: same questions and
steps; compute-matched: the same generated tokens as the ilr run gave that agent) with a 95 % interval over
seeds (paired by seed; Student's t with n - 1 degrees of freedom: with 3 seeds the interval is wide, and it
says so).  Also each method's generated and trained tokens per agent and wall time.  Standard library only.
"""
import json
import math
import os
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
METHODS = ["ilr", "ilr-coop", "ilr-comp", "ilr-random", "ilr-no-calibration", "ilr-fuse-only", "ilr-all-stages"]


def load(runs, name):
    path = os.path.join(runs, name, "train_summary.json")
    return json.load(open(path)) if os.path.exists(path) else None


def agent_part(summary, agent):
    """The agent's summary: an ILR run keeps it under agents/NAME, a GRPO run at the top."""
    return summary["agents"][agent] if "agents" in summary else summary


def acc(part, kind):
    return part[kind]["accuracy"] if kind in part else float("nan")


def interval(diffs):
    diffs = [d for d in diffs if not math.isnan(d)]
    n = len(diffs)
    if n == 0:
        return "n/a"
    mean = sum(diffs) / n
    if n == 1:
        return f"{100 * mean:+5.1f}"
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = T975.get(n - 1, 2.0) * sd / math.sqrt(n)
    return f"{100 * mean:+5.1f} [{100 * (mean - half):+5.1f}, {100 * (mean + half):+5.1f}]"


def main():
    runs, seeds = sys.argv[1], sys.argv[2:]
    for agent, short in (("agent-a", "a"), ("agent-b", "b")):
        print(f"\n{agent} alone on the 500 test problems (mean of {len(seeds)} seeds; differences with 95 % intervals)")
        print(f"  {'method':<22} {'greedy':>7} {'avg@4':>7} {'gen tok':>9} {'trained':>9} | {'vs GRPO same steps: greedy':>27} "
              f"{'avg@4':>20} | {'vs GRPO same tokens: greedy':>27} {'avg@4':>20}")
        base = [agent_part(s, agent) for s in (load(runs, f"ilr-s{x}") for x in seeds) if s]
        if base:
            print(f"  {'base agent':<22} {100 * sum(acc(b, 'test_before') for b in base) / len(base):6.1f}% "
                  f"{100 * sum(acc(b, 'test_sampled_before') for b in base) / len(base):6.1f}%")
        rows = [(m, lambda x, m=m: load(runs, f"{m}-s{x}")) for m in METHODS]
        rows += [("grpo (same steps)", lambda x: load(runs, f"grpo-{short}-s{x}")),
                 ("grpo (same tokens)", lambda x: load(runs, f"grpo-{short}-matched-s{x}"))]
        for name, get in rows:
            parts = {x: agent_part(get(x), agent) for x in seeds if get(x)}
            if not parts:
                continue
            g = [acc(p, "test_after") for p in parts.values()]
            s = [acc(p, "test_sampled_after") for p in parts.values()]
            gen = sum(p.get("generated_tokens", 0) for p in parts.values()) / len(parts)
            trained = sum(p.get("trained_tokens", 0) for p in parts.values()) / len(parts)
            line = f"  {name:<22} {100 * sum(g) / len(g):6.1f}% {100 * sum(s) / len(s):6.1f}% {gen:9.0f} {trained:9.0f} |"
            if name.startswith("ilr"):
                for baseline in (f"grpo-{short}-s", f"grpo-{short}-matched-s"):
                    dg, ds = [], []
                    for x, p in parts.items():
                        b = load(runs, baseline + x)
                        if b:
                            dg.append(acc(p, "test_after") - acc(b, "test_after"))
                            ds.append(acc(p, "test_sampled_after") - acc(b, "test_sampled_after"))
                    line += f" {interval(dg):>27} {interval(ds):>20} |"
            print(line)
        # each variant against ILR itself (dynamic + calibration, share+fuse), paired by seed: which one to make default
        print(f"  variants vs ilr, paired by seed: {'greedy':>27} {'avg@4':>20}")
        for m in METHODS[1:]:
            dg, ds = [], []
            for x in seeds:
                v, r = load(runs, f"{m}-s{x}"), load(runs, f"ilr-s{x}")
                if v and r:
                    pv, pr = agent_part(v, agent), agent_part(r, agent)
                    dg.append(acc(pv, "test_after") - acc(pr, "test_after"))
                    ds.append(acc(pv, "test_sampled_after") - acc(pr, "test_sampled_after"))
            if dg:
                print(f"  {m:<22} {len(dg)} seeds {interval(dg):>27} {interval(ds):>20}")


if __name__ == "__main__":
    main()
