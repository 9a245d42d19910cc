#!/usr/bin/env python3
"""The PyTorch side of the training-throughput comparison (bench/compare_all.sh; a benchmark, never a test).

Times forward + backward + AdamW of the same decoder ilr trains (Llama/Qwen2 layout: RMSNorm, rotary,
GQA causal attention, SwiGLU, fp32 on the CPU) on random tokens, and prints tokens/s and peak RSS:
    bench/.venv/bin/python bench/pytorch_train.py --shape small --batch 4 --seq 256 --steps 3
Attention is torch's scaled_dot_product_attention (its fused CPU kernel, grouped-query heads without copies)
unless --attention naive; --compile runs the model through torch.compile (inductor's C++ code).  Needs torch
(bench/venv.sh installs it; not a dependency of the build or the tests).  Compare with
    ./ilr bench train --arch llama --shape small --batch 4 --seq 256
"""
import argparse, resource, time

import torch
import torch.nn.functional as F

SHAPES = {  # vocab, hidden, intermediate, layers, heads, kv heads, tied
    "small": (32000, 512, 1408, 8, 8, 2, False),
    "qwen2.5-0.5b": (151936, 896, 4864, 24, 14, 2, True),
}


class Layer(torch.nn.Module):
    def __init__(self, C, I, NH, NKV, bias):
        super().__init__()
        HD = C // NH
        self.NH, self.NKV, self.HD = NH, NKV, HD
        self.ln1 = torch.nn.Parameter(torch.ones(C))
        self.ln2 = torch.nn.Parameter(torch.ones(C))
        self.q = torch.nn.Linear(C, NH * HD, bias=bias)
        self.k = torch.nn.Linear(C, NKV * HD, bias=bias)
        self.v = torch.nn.Linear(C, NKV * HD, bias=bias)
        self.o = torch.nn.Linear(NH * HD, C, bias=False)
        self.gate = torch.nn.Linear(C, I, bias=False)
        self.up = torch.nn.Linear(C, I, bias=False)
        self.down = torch.nn.Linear(I, C, bias=False)


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


ATTENTION = "sdpa"


def attend(q, k, v, NH, NKV, HD, mask):
    if ATTENTION == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=NH != NKV)
    k = k.repeat_interleave(NH // NKV, dim=1)
    v = v.repeat_interleave(NH // NKV, dim=1)
    return torch.softmax(q @ k.transpose(-1, -2) / HD ** 0.5 + mask, dim=-1) @ v


class Model(torch.nn.Module):
    def __init__(self, V, C, I, L, NH, NKV, tied):
        super().__init__()
        self.embed = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList(Layer(C, I, NH, NKV, tied) for _ in range(L))
        self.norm = torch.nn.Parameter(torch.ones(C))
        self.head = None if tied else torch.nn.Linear(C, V, bias=False)

    def forward(self, ids):
        B, T = ids.shape
        x = self.embed(ids)
        l0 = self.layers[0]
        inv = 1.0 / (10000 ** (torch.arange(0, l0.HD, 2).float() / l0.HD))
        ang = torch.outer(torch.arange(T).float(), inv)
        cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l in self.layers:
            h = rms(x, l.ln1)
            q = rotate(l.q(h).view(B, T, l.NH, l.HD).transpose(1, 2), cos, sin)
            k = rotate(l.k(h).view(B, T, l.NKV, l.HD).transpose(1, 2), cos, sin)
            v = l.v(h).view(B, T, l.NKV, l.HD).transpose(1, 2)
            y = attend(q, k, v, l.NH, l.NKV, l.HD, mask)
            x = x + l.o(y.transpose(1, 2).reshape(B, T, -1))
            h = rms(x, l.ln2)
            x = x + l.down(F.silu(l.gate(h)) * l.up(h))
        x = rms(x, self.norm)
        return x @ self.embed.weight.t() if self.head is None else self.head(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="small", choices=sorted(SHAPES))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "naive"])
    p.add_argument("--compile", action="store_true")
    a = p.parse_args()
    global ATTENTION
    ATTENTION = a.attention
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(*SHAPES[a.shape])
    forward = torch.compile(model) if a.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    ids = torch.randint(0, SHAPES[a.shape][0], (a.batch, a.seq))
    start = 0.0
    for step in range(a.steps + 1):
        if step == 1:
            start = time.perf_counter()
        logits = forward(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    sec = (time.perf_counter() - start) / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576
    print(f"pytorch {torch.__version__} ({a.attention} attention{', torch.compile' if a.compile else ''}, "
          f"{torch.backends.cpu.get_cpu_capability()}): {a.shape}, batch {a.batch} x {a.seq}: {sec:.3f} s/step, "
          f"{a.batch * a.seq / sec:.0f} tokens/s, peak RSS {rss:.2f} GiB, {a.threads} threads")


if __name__ == "__main__":
    main()
