#!/usr/bin/env python3
"""Recomputes every decision of an ILR run from its files, as an outside reader would.

usage: python3 scripts/check_rollouts.py RUN_DIR

Reads RUN_DIR/config.yaml (the resolved config ilr wrote), irt.json, difficulty.json and rollouts.jsonl
(train.save_rollouts: true), and checks, for every step:
  - each agent's P on each question = 1 / (1 + exp(-1.7 (gamma - D))) from irt.json and difficulty.json
    (when irt.refit_every is 0; a refit changes the abilities during the run);
  - the interaction mode of each question from those P and ilr.rule (dynamic), or the fixed mode;
  - each fused answer's calibrated reward from the raw rewards of every agent's threads (paper Eq. 5);
  - each trained completion's advantage from its group: the question's G answers of one agent and stage
    (critiques: G x (m - 1)), scaled as grpo.scale_rewards says.
Prints what it checked and exits 1 at the first disagreement.  Only the Python standard library is used.
"""
import json
import math
import sys
from collections import defaultdict

STD_EPS = 1e-4  # ilr's ILR_GRPO_STD_EPS


def read_config(path):
    """The dump's nested `key: value  # doc` lines as a flat {dotted.key: text} map."""
    flat, stack = {}, []
    for raw in open(path, encoding="utf-8"):
        if not raw.strip() or raw.lstrip().startswith("#") or raw.lstrip().startswith("-"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        key, _, rest = raw.strip().partition(":")
        value = rest.strip()
        if value.startswith('"'):
            value = json.loads(value[: value.index('"', 1) + 1]) if '"' in value[1:] else value
        else:
            value = value.split("#", 1)[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        if value == "":
            stack.append((indent, key))
        else:
            flat[dotted] = value
    return flat


def fail(message):
    print("check_rollouts: " + message)
    sys.exit(1)


def calibrate(rewards):
    """Eq. 5: rewards[i] is agent i's list of G rewards; returns the calibrated lists."""
    m = len(rewards)
    bound = 1.0 / (m - 1)
    out = []
    for i in range(m):
        row = []
        for x in rewards[i]:
            shift = 0.0
            for l in range(m):
                if l == i:
                    continue
                r = rewards[l]
                mean, lo, hi = sum(r) / len(r), min(r), max(r)
                # equal rewards: their mean is that value exactly (a rounded sum of the printed decimals
                # can land a hair beside it and flip the sign below)
                d = x - lo if hi == lo else x - mean
                if hi == lo:
                    shift += bound if d > 0 else -bound if d < 0 else 0.0
                else:
                    shift += max(-bound, min(bound, d / (hi - lo)))
            row.append(x + shift)
        out.append(row)
    return out


def advantages(values, scale, batch_std):
    n = len(values)
    mean = sum(values) / n
    if all(v == values[0] for v in values):
        return [0.0] * n
    if scale == "none":
        return [v - mean for v in values]
    std = batch_std if scale == "batch" else (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)
    return [(v - mean) / (std + STD_EPS) for v in values]


def sample_std(values):
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    run = sys.argv[1]
    cfg = read_config(run + "/config.yaml")
    irt = json.load(open(run + "/irt.json"))
    difficulty = json.load(open(run + "/difficulty.json"))
    lines = [json.loads(l) for l in open(run + "/rollouts.jsonl")]
    if not lines:
        fail("rollouts.jsonl is empty")
    method = cfg.get("method", "ilr")
    mode = cfg.get("ilr.interaction", "dynamic")
    mode = {"ilr-coop": "coop", "ilr-comp": "comp", "ilr-random": "random"}.get(method, mode)
    rule = cfg.get("ilr.rule", "mean")
    calibration = cfg.get("ilr.calibration", "true") == "true" and method != "ilr-no-calibration"
    scale = cfg.get("grpo.scale_rewards", "group")
    refit = int(cfg.get("irt.refit_every", "0")) > 0
    counts = defaultdict(int)

    by_question = defaultdict(list)
    for x in lines:
        by_question[(x["step"], x["question"])].append(x)
    for (step, qid), group in by_question.items():
        modes = {x["mode"] for x in group}
        if len(modes) != 1:
            fail(f"step {step} question {qid}: modes {modes} differ between its completions")
        p = group[0]["p"]
        if not refit:
            for agent, value in p.items():
                want = 1 / (1 + math.exp(-1.7 * (irt["gamma"][agent] - difficulty[qid])))
                if abs(value - want) > 1e-6:
                    fail(f"step {step} question {qid}: P of {agent} is {value}, irt.json and difficulty.json give {want}")
                counts["P values"] += 1
        ps = list(p.values())
        if mode == "dynamic":
            coop = {"mean": sum(ps) / len(ps) < 0.5, "any": min(ps) < 0.5, "all": max(ps) < 0.5}[rule]
            want_mode = "coop" if coop else "comp"
        else:
            want_mode = mode if mode in ("coop", "comp") else None
        if want_mode and modes != {want_mode}:
            fail(f"step {step} question {qid}: mode {modes.pop()}, but {mode}/{rule} on P {ps} gives {want_mode}")
        counts["modes"] += 1
        # Eq. 5 over the fused answers of every agent, threads in order
        fused = defaultdict(dict)
        for x in group:
            if x["stage"] == "fuse":
                fused[x["agent"]][x["thread"]] = x
        agents = list(p.keys())
        raw = [[fused[a][t]["reward"] for t in sorted(fused[a])] for a in agents]
        cal = calibrate(raw) if calibration else raw
        for i, a in enumerate(agents):
            for k, t in enumerate(sorted(fused[a])):
                got = fused[a][t]["calibrated_reward"]
                if abs(got - cal[i][k]) > 1e-5:
                    fail(f"step {step} question {qid} agent {a} thread {t}: calibrated reward {got}, Eq. 5 gives {cal[i][k]}")
                counts["calibrated rewards"] += 1

    # advantages per (step, agent, stage, question); batch scale needs each agent's whole step
    groups, batch = defaultdict(list), defaultdict(list)
    for x in lines:
        if x["advantage"] is None:
            continue
        value = x["calibrated_reward"] if x["stage"] == "fuse" else x["reward"]
        groups[(x["step"], x["agent"], x["stage"], x["question"])].append((x, value))
        batch[(x["step"], x["agent"])].append(value)
    for (step, agent, stage, qid), members in groups.items():
        values = [v for _, v in members]
        want = advantages(values, scale, sample_std(batch[(step, agent)]))
        for (x, _), a in zip(members, want):
            if abs(x["advantage"] - a) > 2e-4 * max(1.0, abs(a)):
                fail(f"step {step} agent {agent} {stage} question {qid}: advantage {x['advantage']}, the group gives {a}")
            counts["advantages"] += 1
    steps = len({x["step"] for x in lines})
    print(f"check_rollouts: {len(lines)} completions of {steps} steps: "
          + ", ".join(f"{n} {what}" for what, n in counts.items()) + " recomputed, all equal")


if __name__ == "__main__":
    main()
