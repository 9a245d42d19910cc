"""PyTorch's training step on the GPU for the same shapes as `ilr bench train --device cuda`: the peer for the
CUDA backend, at the configuration people train with: fp32 master weights under torch.autocast(bfloat16),
scaled-dot-product attention (attn_implementation="sdpa", flash kernels on Hopper), fused AdamW, global-norm
clipping, Hugging Face's Qwen2ForCausalLM with random weights.  --compile adds torch.compile.

Prints tokens/s, TFLOP/s by ilr's formula (6 x matmul parameters x tokens + causal attention; ilr/transformer.h)
and MFU against the bf16 matmul peak it measures itself (8192^3, random data), and the peak device memory.
Runs on the GPU machine (bench/cuda_check.sh); needs torch and transformers (the machine's image has both)."""
import argparse
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

SHAPES = {  # Hugging Face config.json values, as src/model/shapes.c has them
    "qwen2.5-0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True),
}


def bf16_peak(n=8192, reps=20):
    a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
    b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (start.elapsed_time(end) / 1e3) / 1e12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="qwen2.5-0.5b", choices=sorted(SHAPES))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    peak = bf16_peak()
    cfg = Qwen2Config(**SHAPES[a.shape], rope_theta=1e6, rms_norm_eps=1e-6, max_position_embeddings=32768,
                      use_cache=False, attn_implementation="sdpa")
    model = Qwen2ForCausalLM(cfg).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=True)
    tokens = torch.randint(0, cfg.vocab_size, (a.batch, a.seq), device="cuda")
    forward = torch.compile(model) if a.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = forward(input_ids=tokens, labels=tokens).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(2):  # warm-up (and compilation)
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / a.steps
    params = sum(p.numel() for p in model.parameters())  # tied: the embedding once, as the LM head's matmul
    n = a.batch * a.seq
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    flops = n * (6.0 * params + 12.0 * cfg.num_hidden_layers * (a.seq / 2) * cfg.num_attention_heads * head_dim)
    tflops = flops / seconds / 1e12
    print(f"torch {torch.__version__} train: {a.shape}, {params} parameters, batch {a.batch} x {a.seq}"
          f"{' (torch.compile)' if a.compile else ' (eager)'}: {1e3 * seconds:.1f} ms/step, {n / seconds:.0f} tokens/s, "
          f"{tflops:.1f} TFLOP/s, MFU {100 * tflops / peak:.1f}% of {peak:.1f} TFLOP/s bf16 torch.matmul peak; "
          f"peak device memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
