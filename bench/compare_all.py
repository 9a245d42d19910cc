"""Runs ilr and PyTorch side by side and prints issue #16's table (see bench/compare_all.sh).

Each figure is measured in this one run: ilr through `ilr bench`, PyTorch through bench/pytorch_train.py and
bench/pytorch_generate.py (the same decoder: RMSNorm, rotary, grouped-query causal attention through
torch's fused scaled_dot_product_attention, SwiGLU, fp32), both on the same number of threads.  Each line
says which kernels each side ran."""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ILR = os.path.join(ROOT, "ilr")


def run(cmd, env=None, timeout=1800):
    t0 = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{text}")
    line = [l for l in text.splitlines() if l.strip() and not l.startswith("W1")][-1]
    print(f"  [{time.time() - t0:5.1f} s] {line}", flush=True)
    return line


def num(pattern, text):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"no '{pattern}' in: {text}")
    return float(m.group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    th = str(a.threads)
    env = dict(os.environ, OMP_NUM_THREADS=th)
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

    print("training small, batch 4 x 256")
    tr = run([ILR, "bench", "train", "--arch", "llama", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3"], env)
    t_ilr, mfu = num(r"([\d.]+) tokens/s", tr), num(r"MFU ([\d.]+)%", tr)
    eager = run(py + [f"{HERE}/pytorch_train.py", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3", "--threads", th], env)
    comp = run(py + [f"{HERE}/pytorch_train.py", "--shape", "small", "--batch", "4", "--seq", "256", "--steps", "3", "--threads", th, "--compile"], env)
    t_e, t_c = num(r"([\d.]+) tokens/s", eager), num(r"([\d.]+) tokens/s", comp)
    best, how = (t_c, "torch.compile") if t_c > t_e else (t_e, "eager")
    rows.append(("train `small` 4 × 256, tokens/s", f"{t_ilr:.0f} (MFU {mfu:.1f} %)", f"{best:.0f} ({how}; eager {t_e:.0f})", t_ilr / best, "≥ 2×, MFU ≥ 75 %"))

    for batch, new in (("8", "64"), ("64", "32")):
        print(f"generation small, batch {batch}")
        gi = run([ILR, "bench", "generate", "--arch", "llama", "--shape", "small", "--batch", batch, "--prompt", "128", "--new", new], env)
        gt = run(py + [f"{HERE}/pytorch_generate.py", "--shape", "small", "--batch", batch, "--prompt", "128", "--new", new, "--threads", th], env)
        p_i, d_i = num(r"prefill ([\d.]+) tokens/s", gi), num(r"decode ([\d.]+) tokens/s", gi)
        p_t, d_t = num(r"prefill ([\d.]+) tokens/s", gt), num(r"decode ([\d.]+) tokens/s", gt)
        if batch == "8":
            rows.append((f"prefill `small` {batch} × 128, tokens/s", f"{p_i:.0f}", f"{p_t:.0f}", p_i / p_t, "≥ 1.5×"))
        rows.append((f"decode `small` batch {batch}, tokens/s", f"{d_i:.0f}", f"{d_t:.0f}", d_i / d_t, "≥ 2×"))

    print("decode qwen2.5-0.5b, batch 1")
    gi = run([ILR, "bench", "generate", "--arch", "qwen2", "--shape", "qwen2.5-0.5b", "--batch", "1", "--prompt", "64", "--new", "32"], env)
    gt = run(py + [f"{HERE}/pytorch_generate.py", "--shape", "qwen2.5-0.5b", "--batch", "1", "--prompt", "64", "--new", "32", "--threads", th], env)
    d_i, share, d_t = num(r"decode ([\d.]+) tokens/s", gi), num(r"\((\d+)% of it", gi), num(r"decode ([\d.]+) tokens/s", gt)
    rows.append(("decode `qwen2.5-0.5b` batch 1, tokens/s", f"{d_i:.1f} ({share:.0f} % of the bandwidth bound)", f"{d_t:.1f}", d_i / d_t, "≥ 80 % of the bound"))

    print("the world's agents (ilr alone: the RL loop's shapes)")
    for batch in ("64", "512"):
        gi = run([ILR, "bench", "generate", "--shape", "world-a", "--batch", batch, "--prompt", "64", "--new", "64"], env)
        d = num(r"decode ([\d.]+) tokens/s", gi)
        rows.append((f"decode `world-a` batch {batch}, tokens/s", f"{d:.0f}", "", None, "≥ 3× today"))
    tr = run([ILR, "bench", "train", "--shape", "world-a", "--batch", "8", "--seq", "512", "--steps", "5"], env)
    t, mfu = num(r"([\d.]+) tokens/s", tr), num(r"MFU ([\d.]+)%", tr)
    rows.append(("train `world-a` 8 × 512, tokens/s", f"{t:.0f} (MFU {mfu:.1f} %)", "", None, "≥ 60 % MFU"))

    print(f"\n| figure ({a.threads} threads, fp32) | ilr | PyTorch at its best | ilr / PyTorch | target |")
    print("|---|---|---|---|---|")
    for fig, i, p, r, target in rows:
        print(f"| {fig} | {i} | {p} | {'' if r is None else f'{r:.2f}×'} | {target} |")


if __name__ == "__main__":
    main()
