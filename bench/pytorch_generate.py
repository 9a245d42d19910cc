#!/usr/bin/env python3
"""The PyTorch side of the generation comparison in README.md (a benchmark, never a test).

Greedy KV-cache generation with the same decoder as bench/pytorch_train.py (fp32, CPU): B sequences of a
P-token prompt prefilled together, then N decode steps; prints prefill and decode tokens/s and peak RSS:
    bench/.venv/bin/python bench/pytorch_generate.py --shape small --batch 64 --prompt 128 --new 64
Compare with
    ./ilr bench generate --arch llama --shape small --batch 64 --prompt 128 --new 64
Attention is torch's scaled_dot_product_attention unless --attention naive.  Needs torch (bench/venv.sh).
"""
import argparse, os, resource, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_train import SHAPES, Model, rms, rotate  # noqa: E402


ATTENTION = "sdpa"


@torch.inference_mode()
def forward_cached(model, ids, cache, pos0, cos, sin):
    B, T = ids.shape
    x = model.embed(ids)
    c, s = cos[pos0:pos0 + T], sin[pos0:pos0 + T]
    mask = torch.full((T, pos0 + T), float("-inf")).triu(pos0 + 1)
    for li, l in enumerate(model.layers):
        h = rms(x, l.ln1)
        q = rotate(l.q(h).view(B, T, l.NH, l.HD).transpose(1, 2), c, s)
        k = rotate(l.k(h).view(B, T, l.NKV, l.HD).transpose(1, 2), c, s)
        v = l.v(h).view(B, T, l.NKV, l.HD).transpose(1, 2)
        K, V = cache[li]
        K[:, :, pos0:pos0 + T] = k
        V[:, :, pos0:pos0 + T] = v
        if ATTENTION == "sdpa":  # one new token sees every cached one; a prefill from 0 is plain causal
            y = F.scaled_dot_product_attention(q, K[:, :, :pos0 + T], V[:, :, :pos0 + T], is_causal=T > 1,
                                               enable_gqa=l.NH != l.NKV) if T == 1 or pos0 == 0 else None
        if ATTENTION != "sdpa" or y is None:
            kk = K[:, :, :pos0 + T].repeat_interleave(l.NH // l.NKV, dim=1)
            vv = V[:, :, :pos0 + T].repeat_interleave(l.NH // l.NKV, dim=1)
            y = torch.softmax(q @ kk.transpose(-1, -2) / l.HD ** 0.5 + mask, dim=-1) @ vv
        x = x + l.o(y.transpose(1, 2).reshape(B, T, -1))
        h = rms(x, l.ln2)
        x = x + l.down(F.silu(l.gate(h)) * l.up(h))
    x = rms(x[:, -1], model.norm)
    return x @ model.embed.weight.t() if model.head is None else model.head(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="small", choices=sorted(SHAPES))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "naive"])
    a = p.parse_args()
    global ATTENTION
    ATTENTION = a.attention
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(*SHAPES[a.shape]).eval()
    l0 = model.layers[0]
    total = a.prompt + a.new
    inv = 1.0 / (10000 ** (torch.arange(0, l0.HD, 2).float() / l0.HD))
    ang = torch.outer(torch.arange(total).float(), inv)
    cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
    cache = [(torch.zeros(a.batch, l.NKV, total, l.HD), torch.zeros(a.batch, l.NKV, total, l.HD)) for l in model.layers]
    ids = torch.randint(0, SHAPES[a.shape][0], (a.batch, a.prompt))
    start = time.perf_counter()
    logits = forward_cached(model, ids, cache, 0, cos, sin)
    prefill = time.perf_counter() - start
    tok = logits.argmax(-1, keepdim=True)
    start = time.perf_counter()
    for step in range(a.new):
        logits = forward_cached(model, tok, cache, a.prompt + step, cos, sin)
        tok = logits.argmax(-1, keepdim=True)
    decode = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576
    print(f"pytorch {torch.__version__} ({a.attention} attention): {a.shape}, batch {a.batch}, prompt {a.prompt}, {a.new} new: prefill "
          f"{a.batch * a.prompt / prefill:.0f} tokens/s, decode {a.batch * a.new / decode:.1f} tokens/s "
          f"({a.new / decode:.1f} per sequence), peak RSS {rss:.2f} GiB, {a.threads} threads")


if __name__ == "__main__":
    main()
