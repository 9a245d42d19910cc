#!/usr/bin/env python3
"""What each stage of an ILR run does over training, next to single-agent GRPO (bench/ilr_world.sh's logs).

usage: python3 bench/ilr_world_stages.py RESULTS SEED [SEED ...]

Per agent, in windows of 10 steps and averaged over seeds: the sampled accuracy of GRPO's rollouts (the same
questions and steps), and in the ILR run the accuracy of the agent's shared answers (alone, as at test time),
of its critiques (the verdict on the peer's answer right) and of its fused answers, with the share of
cooperative questions.  Reads RESULTS/ilr-sN/train_log.jsonl and RESULTS/grpo-{a,b}-sN/train_log.jsonl.
Standard library only.
"""
import json
import os
import sys


def steps(path):
    if not os.path.exists(path):
        return []
    # a step line: GRPO's have "loss", ILR's "coop_share" (evaluation lines have neither)
    return [j for j in (json.loads(line) for line in open(path)) if "loss" in j or "coop_share" in j]


def window_means(rows, key, width):
    out = {}
    for r in rows:
        if key in r:
            out.setdefault((r["step"] - 1) // width, []).append(r[key])
    return {w: sum(v) / len(v) for w, v in out.items()}


def main():
    results, seeds = sys.argv[1], sys.argv[2:]
    width = 10
    for agent, short in (("agent-a", "a"), ("agent-b", "b")):
        cols = [("GRPO acc", f"grpo-{short}", "accuracy"), ("ILR share", "ilr", f"{agent}/share/accuracy"),
                ("analyse", "ilr", f"{agent}/analyse/accuracy"), ("fuse", "ilr", f"{agent}/fuse/accuracy"),
                ("calib. |shift|", "ilr", "calibration/mean_abs_shift"), ("coop", "ilr", "coop_share")]
        per = []
        for _, run, key in cols:
            acc = {}
            for s in seeds:
                for w, v in window_means(steps(os.path.join(results, f"{run}-s{s}", "train_log.jsonl")), key, width).items():
                    acc.setdefault(w, []).append(v)
            per.append({w: sum(v) / len(v) for w, v in acc.items()})
        windows = sorted(set().union(*[p.keys() for p in per]))
        print(f"\n{agent}: rollout accuracy during training, mean over steps of each window and over seeds {' '.join(seeds)}")
        print("  " + f"{'steps':>8}" + "".join(f"{name:>16}" for name, _, _ in cols))
        for w in windows:
            cells = "".join(f"{p[w]:16.3f}" if w in p else f"{'':>16}" for p in per)
            print(f"  {w * width + 1:>3}-{(w + 1) * width:<4}{cells}")


main()
