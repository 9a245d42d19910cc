"""Runs ilr beside PyTorch and llama.cpp and prints issue #16's table (see bench/compare_all.sh).

Each figure is measured in this one run: ilr through `ilr bench`, PyTorch through bench/pytorch_train.py and
bench/pytorch_generate.py (the same decoder: RMSNorm, rotary, grouped-query causal attention through
torch's fused scaled_dot_product_attention, SwiGLU, fp32), llama.cpp through bench/llamacpp_generate.py on
GGUF conversions (bench/to_gguf.py) of the very weights ilr runs, all on the same number of threads.  Each
line says which kernels each side ran."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ILR = os.path.join(ROOT, "ilr")
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared", "data", "tokenizers"))
QWEN = os.path.join(ROOT, "out", "llamacpp", "qwen2.5-0.5b")  # ilr init's random qwen2.5-0.5b and its GGUFs


def run(cmd, env=None, timeout=1800, quiet=False):
    t0 = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{text}")
    line = [l for l in text.splitlines() if l.strip() and not l.startswith("W1")][-1]
    if not quiet:
        print(f"  [{time.time() - t0:5.1f} s] {line}", flush=True)
    return line


def num(pattern, text):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"no '{pattern}' in: {text}")
    return float(m.group(1).replace(",", ""))


def pytorch_rows(a, env, rows, bounds, peak):
    """ilr beside PyTorch at its best: training, generation, and the world's agents (ilr alone)."""
    th, py, pk = str(a.threads), [sys.executable], ["--peak", f"{peak:.1f}"]
    print("training small, batch 4 x 256")
    cmd = [ILR, "bench", "train", "--arch", "llama", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3"] + pk
    tr = run(cmd, env)
    t_ilr, mfu = num(r"([\d.]+) tokens/s", tr), num(r"MFU ([\d.]+)%", tr)
    eager = run(py + [f"{HERE}/pytorch_train.py", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3", "--threads", th], env)
    comp = run(py + [f"{HERE}/pytorch_train.py", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3", "--threads", th, "--compile"], env)
    t_e, t_c = num(r"([\d.]+) tokens/s", eager), num(r"([\d.]+) tokens/s", comp)
    best, how = (t_c, "torch.compile") if t_c > t_e else (t_e, "eager")
    rows.append(("train `small` 4 × 256, tokens/s", f"{t_ilr:.0f} (MFU {mfu:.1f} %)", f"{best:.0f} ({how}; eager {t_e:.0f})", t_ilr / best, "≥ 2×, MFU ≥ 75 %"))
    bound = compute_bound(rows[-1][0], t_ilr / best, 2.0, mfu, cmd)
    if mfu < 75:  # one profile for both halves of the target
        below = f"MFU {mfu:.1f} % of the sgemm peak, below 75 %"
        bound = dict(bound, why=f"{bound['why']}; {below}") if bound else {"fig": rows[-1][0], "cmd": cmd, "why": below}
    bounds.append(bound)

    for batch, new in (("8", "64"), ("64", "32")):
        print(f"generation small, batch {batch}")
        cmd = [ILR, "bench", "generate", "--arch", "llama", "--shape", "small", "--batch", batch, "--prompt", "128", "--new", new] + pk
        gi = run(cmd, env)
        gt = run(py + [f"{HERE}/pytorch_generate.py", "--shape", "small", "--batch", batch, "--prompt", "128", "--new", new, "--threads", th], env)
        p_i, d_i = num(r"prefill ([\d.]+) tokens/s", gi), num(r"decode ([\d.]+) tokens/s", gi)
        p_t, d_t = num(r"prefill ([\d.]+) tokens/s", gt), num(r"decode ([\d.]+) tokens/s", gt)
        p_mfu, d_mfu = num(r"prefill [\d.]+ GFLOP/s = MFU ([\d.]+)%", gi), num(r"decode [\d.]+ GFLOP/s = MFU ([\d.]+)%", gi)
        if batch == "8":
            rows.append((f"prefill `small` {batch} × 128, tokens/s", f"{p_i:.0f} (MFU {p_mfu:.1f} %)", f"{p_t:.0f}", p_i / p_t, "≥ 1.5×"))
            bounds.append(compute_bound(rows[-1][0], p_i / p_t, 1.5, p_mfu, phase(cmd, "prefill")))
        rows.append((f"decode `small` batch {batch}, tokens/s", f"{d_i:.0f} (MFU {d_mfu:.1f} %)", f"{d_t:.0f}", d_i / d_t, "≥ 2×"))
        bounds.append(compute_bound(rows[-1][0], d_i / d_t, 2.0, d_mfu, phase(cmd, "decode")))

    print("decode qwen2.5-0.5b, batch 1")
    cmd = [ILR, "bench", "generate", "--arch", "qwen2", "--shape", "qwen2.5-0.5b", "--batch", "1", "--prompt", "64", "--new", "32"] + pk
    gi = run(cmd, env)
    gt = run(py + [f"{HERE}/pytorch_generate.py", "--shape", "qwen2.5-0.5b", "--batch", "1", "--prompt", "64", "--new", "32", "--threads", th], env)
    d_i, share, d_t = num(r"decode ([\d.]+) tokens/s", gi), num(r"\((\d+)% of it", gi), num(r"decode ([\d.]+) tokens/s", gt)
    rows.append(("decode `qwen2.5-0.5b` batch 1, tokens/s", f"{d_i:.1f} ({share:.0f} % of the bandwidth bound)", f"{d_t:.1f}", d_i / d_t, "≥ 80 % of the bound"))
    if share < 80:
        bounds.append({"fig": rows[-1][0], "cmd": phase(cmd, "decode"), "why": f"ilr read its weights at {share:.0f} % of the read bandwidth "
                       "measured in the same run (each decode step reads every weight once)"})

    # the "today" (its table, before this work); bench/world_step.sh measures the commit before it in one run
    print("the world's agents (ilr against the issue's own figures; bench/world_step.sh: before and after in one run)")
    rate, kv = {}, {}
    for batch, today in (("64", 52000), ("512", 36000)):
        cmd = [ILR, "bench", "generate", "--shape", "world-a", "--batch", batch, "--prompt", "64", "--new", "64"] + pk
        gi = run(cmd, env)
        d = rate[batch] = num(r"decode ([\d.]+) tokens/s", gi)
        kv[batch] = num(r"KV cache ([\d.]+) MiB", gi)
        rows.append((f"decode `world-a` batch {batch}, tokens/s", f"{d:.0f}", f"the issue's {today // 1000}k", d / today,
                     "≥ 3× today"))
        if d < 3 * today:
            bounds.append({"fig": rows[-1][0], "cmd": phase(cmd, "decode"), "why": f"{d / today:.2f}× the issue's figure, below 3×"})
    ratio = rate["512"] / rate["64"]
    rows.append(("decode `world-a` batch 512 / batch 64, tokens/s", f"{ratio:.2f}×", "", None, "≥ 1× (larger batches not slower)"))
    if ratio < 1:
        try:  # the L3 a core sees (getconf may report the whole package's)
            with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
                size = f.read().strip()  # e.g. 32768K
            where = f"the {int(size[:-1]) // 1024} MiB L3" if size.endswith("K") else f"the {size} L3"
        except OSError:
            where = "L3"
        bounds.append({"fig": rows[-1][0], "cmd": phase(cmd, "decode"), "why": f"memory: every decode step reads every "
                       f"sequence's keys and values; at batch 512 the KV cache is {kv['512']:.0f} MiB, past {where} (batch "
                       f"64: {kv['64']:.0f} MiB), so attention streams it from memory (profile of batch 512)"})
    cmd = [ILR, "bench", "train", "--shape", "world-a", "--batch", "8", "--seq", "512", "--steps", "5"] + pk
    tr = run(cmd, env)
    t, mfu = num(r"([\d.]+) tokens/s", tr), num(r"MFU ([\d.]+)%", tr)
    rows.append(("train `world-a` 8 × 512, tokens/s", f"{t:.0f} (MFU {mfu:.1f} %)", "", None, "≥ 60 % MFU"))
    if mfu < 60:
        bounds.append({"fig": rows[-1][0], "cmd": cmd, "why": f"MFU {mfu:.1f} % of the sgemm peak, below 60 %"})


def llamacpp_rows(a, env, kernels, rows, bounds, peak):
    """ilr beside llama.cpp on qwen2.5-0.5b, batch 1: the same random weights (`ilr init --seed 1` writes what
    `ilr bench generate` builds in memory; bench/to_gguf.py converts that directory), the same prompt ids and
    greedy decode.  llama.cpp runs as llama-cpp-python built it (llamafile's sgemm for the prefill) and with
    ggml's BLAS backend on OpenBLAS; the faster counts.  Each runs `repeats` times, alternating with ilr; the
    best run counts (a shared machine only ever slows a run down) and the cell gives the spread."""
    th, py = str(a.threads), [sys.executable]
    if not os.path.exists(os.path.join(QWEN, "model.safetensors")):
        run([ILR, "init", "--arch", "qwen2", "--shape", "qwen2.5-0.5b", "--seed", "1", "--tokenizer",
             os.path.join(SHARED, "qwen3"), "-o", QWEN], env)
    run(py + [f"{HERE}/to_gguf.py", QWEN, "--types", "f32,f16,bf16"], env)
    gguf = {t: f"{QWEN}-{t}.gguf" for t in ("f32", "f16", "bf16")}

    print("greedy tokens, qwen2.5-0.5b random weights: ilr generate vs llama.cpp (f32 KV cache)")
    prompt = [(i * 7919) % 151936 for i in range(128)]
    with open(QWEN + "-prompt.jsonl", "w") as f:
        f.write(json.dumps({"ids": prompt}) + "\n")
    gen = subprocess.run([ILR, "generate", "--model", QWEN, "--prompts", QWEN + "-prompt.jsonl", "--temperature", "0",
                          "--max-new-tokens", "16", "--ignore-eos"], cwd=ROOT, env=env, capture_output=True, text=True)
    if gen.returncode:
        sys.exit(f"ilr generate failed:\n{gen.stdout}{gen.stderr}")
    ids_ilr = json.loads(gen.stdout.splitlines()[0])["ids"]
    print(f"  ilr:            {ids_ilr}")
    agree = {}
    for t in ("f32", "f16", "bf16"):
        out = run(py + [f"{HERE}/llamacpp_generate.py", "--model", gguf[t], "--prompt", "128", "--new", "16", "--threads",
                        th, "--kv", "f32", "--ids"], env, quiet=True)
        ids = json.loads(out)["ids"]
        agree[t] = next((i for i, (x, y) in enumerate(zip(ids_ilr, ids)) if x != y), len(ids))
        print(f"  llama.cpp {t:4}: {ids} ({agree[t]} of 16 agree before the first difference)")
    rows.append(("greedy tokens `qwen2.5-0.5b`, same prefix of 16", "", f"f32 {agree['f32']}, f16 {agree['f16']}, "
                 f"bf16 {agree['bf16']}", None, "f32: 16 of 16"))

    P, N = "128", "64"
    variants = {"llamafile sgemm": [], "OpenBLAS": ["--blas"]}  # what takes llama.cpp's batched products
    print(f"prefill and decode qwen2.5-0.5b, batch 1, prompt {P}, {N} new, {a.repeats} runs of each")
    # ilr's own weights beside each of llama.cpp's: f32 with f32, bf16 (--weights bf16) with f16 and bf16, and
    # bf16-act (activations of prefill products rounded to bf16 too, as llama.cpp's bf16 rounds them) with bf16
    ilr_w = {"f32": "f32", "f16": "bf16", "bf16": "bf16"}
    ilr_p, ilr_d = {"f32": [], "bf16": [], "bf16-act": []}, {"f32": [], "bf16": [], "bf16-act": []}
    ilr_mfu, ilr_bound, cmd = {w: [] for w in ilr_p}, {w: [] for w in ilr_p}, {}
    cpp = {(t, v): ([], []) for t in gguf for v in variants}
    for _ in range(a.repeats):
        for w in ilr_p:
            cmd[w] = [ILR, "bench", "generate", "--arch", "qwen2", "--shape", "qwen2.5-0.5b", "--prompt", P, "--new", N,
                      "--weights", w, "--peak", f"{peak:.1f}"]
            gi = run(cmd[w], env)
            ilr_p[w].append(num(r"prefill ([\d.]+) tokens/s", gi)), ilr_d[w].append(num(r"decode ([\d.]+) tokens/s", gi))
            ilr_mfu[w].append(num(r"prefill [\d.]+ GFLOP/s = MFU ([\d.]+)%", gi))
            ilr_bound[w].append(num(r"batch-1 decode bound ([\d.]+) tokens/s", gi))
        for t, v in cpp:
            gc = run(py + [f"{HERE}/llamacpp_generate.py", "--model", gguf[t], "--prompt", P, "--new", N, "--threads", th]
                     + variants[v], env)
            cpp[t, v][0].append(num(r"prefill ([\d.]+) tokens/s", gc)), cpp[t, v][1].append(num(r"decode ([\d.]+) tokens/s", gc))

    def cell(xs, fmt):
        return f"{max(xs):{fmt}} ({min(xs):{fmt}}–{max(xs):{fmt}})" if len(xs) > 1 else f"{xs[0]:{fmt}}"

    for what, ilr_runs, k, fmt in (("prefill", ilr_p, 0, ".0f"), ("decode", ilr_d, 1, ".1f")):
        for t in gguf:
            best = max(variants, key=lambda v: max(cpp[t, v][k]))
            other = next(v for v in variants if v != best)
            shape = f"1 × {P}" if what == "prefill" else "batch 1"
            for w in [ilr_w[t]] + (["bf16-act"] if t == "bf16" and what == "prefill" else []):
                ilr = ilr_runs[w]
                mine = f"{cell(ilr, fmt)} ({w}, " + (f"OpenBLAS {kernels})" if w == "f32" else "ilr's bf16 kernels)")
                ratio = max(ilr) / max(cpp[t, best][k])
                rows.append((f"{what} `qwen2.5-0.5b` {shape}, tokens/s: llama.cpp {t}", mine,
                             f"llama.cpp {t}, {best}: {cell(cpp[t, best][k], fmt)} ({other} {max(cpp[t, other][k]):{fmt}})",
                             ratio, "≥ 1×"))
                if ratio >= 1:
                    continue
                i = ilr.index(max(ilr))  # ilr's best run and the figures measured in it
                if what == "prefill":  # the same model and prompt: the same FLOPs on both sides
                    why = (f"compute: ilr's best run did {ilr_mfu[w][i]:.1f} % of the sgemm peak; llama.cpp's best "
                           f"{ilr_mfu[w][i] / ratio:.1f} %")
                else:  # each decode step reads every weight once, on both sides
                    b = ilr_bound[w][i]
                    why = (f"memory: every step reads all weights; ilr's best run decoded at {max(ilr) / b * 100:.0f} % "
                           f"of the bound of the read bandwidth measured in it ({b:.1f} tokens/s), llama.cpp's best at "
                           f"{max(cpp[t, best][k]) / b * 100:.0f} % of that bound (the bandwidth moves between runs)")
                bounds.append({"fig": rows[-1][0], "cmd": phase(cmd[w], what), "why": why})
    bf16_gain = max(ilr_d["bf16"]) / max(ilr_d["f32"])
    rows.append(("decode `qwen2.5-0.5b` batch 1: ilr bf16 / ilr f32", f"{bf16_gain:.2f}×", "", None, "≥ 1.7×"))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side for the llama.cpp rows (best counts)")
    ap.add_argument("--only", choices=["llamacpp"], help="only the llama.cpp rows (and the matmul peak)")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="below the table, the bound of each row under its target without perf's profile of it")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    py = [sys.executable]
    rows = []  # (figure, ilr, peer, ratio, target)

    print("matmul peak")
    ilr_mm = run([ILR, "bench", "matmul"], env)
    torch_mm = run(py + ["-c", f"""
import torch, time
torch.set_num_threads({a.threads})
a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
for _ in range(3): a @ b
best = 0
for _ in range(5):
    t = time.perf_counter(); n = 8
    for _ in range(n): a @ b
    best = max(best, 2 * 2048 ** 3 * n / (time.perf_counter() - t) / 1e9)
print(f"torch {{torch.__version__}} matmul: {{best:.1f}} GFLOP/s (MKL, {{torch.backends.cpu.get_cpu_capability()}})")
"""], env)
    g_ilr, g_torch = num(r"([\d.]+) GFLOP/s", ilr_mm), num(r"([\d.]+) GFLOP/s", torch_mm)
    kernels = re.search(r"OpenBLAS kernels: (\w+)", ilr_mm).group(1)
    rows.append(("sgemm 2048³ GFLOP/s", f"{g_ilr:.0f} (OpenBLAS {kernels})", f"{g_torch:.0f} (MKL)", g_ilr / g_torch, ""))

    bounds = []  # what bounds each row below its target
    if a.only != "llamacpp":
        pytorch_rows(a, env, rows, bounds, g_ilr)
    rows[:] = [(f, i, f"PyTorch: {p}" if p and not p.startswith("the issue") else p, r, t)
               for f, i, p, r, t in rows]  # so far, PyTorch's cells
    llamacpp_rows(a, env, kernels, rows, bounds, g_ilr)

    print(f"\n| figure ({a.threads} threads) | ilr | peer at its best | ilr / peer | target |")
    print("|---|---|---|---|---|")
    for fig, i, p, r, target in rows:
        print(f"| {fig} | {i} | {p} | {'' if r is None else f'{r:.2f}×'} | {target} |")
    bounds = [b for b in bounds if b]
    if bounds:
        print("\nWhat bounds the rows below their targets (the profile: ilr's own run again under perf, the "
              "setup -- random weights, the bandwidth probe -- left out):")
    for b in bounds:
        print(f"\n- {b['fig']}: {b['why']}")
        if a.profile:
            for line in profile(b["cmd"], env):
                print(f"    {line}")


def compute_bound(fig, ratio, want, mfu, cmd):
    """For a row whose ratio is below `want`: the MFU (of the sgemm peak, the same FLOPs) that `want` would take."""
    if ratio >= want:
        return None
    need = mfu * want / ratio
    verdict = ("more than the machine's sgemm peak: no kernel reaches it in fp32" if need > 100 else
               "below the sgemm peak, but the whole step at that rate, attention and sampling included")
    return {"fig": fig, "cmd": cmd, "why": f"compute: ilr ran at {mfu:.1f} % of the sgemm peak measured in this run; "
            f"{want:g}× the peer would take {need:.0f} % -- {verdict}"}


SETUP = ("measure_read_bandwidth", "clear_page", "ilr_rng_fill_normal", "sincos", "ieee754_log", "log@", "folio_zero",
         "ilr_model_init_random")  # random weights (normal draws: log, sincos) and the bandwidth probe's pages


def phase(cmd, what):
    """`cmd` (ilr bench generate) made to spend its time in one phase: 1 new token for a prefill row, 4x the new
    tokens for a decode row."""
    cmd = list(cmd)
    if "--new" in cmd:
        i = cmd.index("--new") + 1
        cmd[i] = "1" if what == "prefill" else str(4 * int(cmd[i]))
    return cmd


def symbol_names(dso_path, cache={}):
    """(address, name) of the defined dynamic symbols of a shared library, sorted (for addresses perf leaves
    unnamed: OpenBLAS's kernels run past their symbols' recorded sizes)."""
    if dso_path not in cache:
        out = subprocess.run(["nm", "-D", "--defined-only", dso_path], capture_output=True, text=True).stdout
        cache[dso_path] = sorted((int(p[0], 16), p[2]) for p in (l.split() for l in out.splitlines()) if len(p) == 3)
    return cache[dso_path]


def name_of(dso, sym, libs):
    if not sym.startswith("0x"):
        return sym
    if "libgomp" in dso:
        return "libgomp (threads waiting at a barrier)"
    path, addr = libs.get(dso), int(sym, 16)
    below = [n for a, n in symbol_names(path) if a <= addr] if path else []
    return f"{below[-1]} (past its symbol)" if below else sym


def profile(cmd, env, top=8):
    """The top symbols of `cmd` under perf: setup symbols left out, shares of the rest, the same names summed."""
    data = os.path.join(ROOT, "out", "compare_all.perf")
    os.makedirs(os.path.dirname(data), exist_ok=True)
    try:
        subprocess.run(["perf", "record", "-q", "-o", data, "--"] + cmd, cwd=ROOT, env=env, capture_output=True,
                       check=True, timeout=1800)
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol", "--stdio", "-q"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return [f"(no profile: perf failed: {e}; Debian's linux-perf package provides it)"]
    ldd = subprocess.run(["ldd", cmd[0]], capture_output=True, text=True).stdout
    libs = {os.path.basename(os.path.realpath(m.group(1))): m.group(1) for m in re.finditer(r"=> (\S+)", ldd)}
    shares = {}
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(\S+)", line)
        if m and not any(k in m.group(3) for k in SETUP):
            key = (name_of(m.group(2), m.group(3), libs), m.group(2))
            shares[key] = shares.get(key, 0.0) + float(m.group(1))
    total = sum(shares.values()) or 1
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return [f"{100 * f / total:5.1f} %  {sym}  ({dso})" for (sym, dso), f in ranked]


if __name__ == "__main__":
    main()
