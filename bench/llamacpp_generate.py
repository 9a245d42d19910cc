#!/usr/bin/env python3
"""The llama.cpp side of the batch-1 generation comparison in README.md (a benchmark, never a test).

llama.cpp through llama-cpp-python (built from source by bench/venv.sh) on a GGUF file (bench/to_gguf.py):
the P-token prompt of `ilr bench generate` (token i = i * 7919 mod V) prefilled in one batch, then N greedy
decode steps from token 0, as ilr's bench does; prints prefill and decode tokens/s from llama.cpp's own perf
counters (llama_perf_context: model load and Python excluded), after one untimed warm-up of the same work:
    bench/.venv/bin/python bench/llamacpp_generate.py --model out/llamacpp/qwen2.5-0.5b-f32.gguf --threads 2
Compare with
    ./ilr bench generate --arch qwen2 --shape qwen2.5-0.5b --prompt 128 --new 64
--blas: the libllama that bench/venv.sh built with ggml's BLAS backend on OpenBLAS (the products of 32 or
more rows, so the prefill) instead of llama-cpp-python's own, which uses llamafile's sgemm for them.
--ids: instead, greedy-generate N tokens after the prompt (the first from the prompt's logits, as
`ilr generate --temperature 0` does) and print them as one JSON line, for the token-agreement check.
"""
import argparse, json, os, re, resource, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BLAS_LIB = os.path.join(HERE, ".venv", "src", "build-blas", "bin")  # bench/venv.sh's build with ggml's BLAS backend
llama_cpp = None  # imported in main(), after --blas has chosen the library
GGML_TYPE = {"f32": 0, "f16": 1}  # ggml_type ids for the KV cache


def system_info():
    """What llama.cpp was built with, from its own report: each backend and the features it was compiled
    for (CPU: the SIMD sets, LLAMAFILE = llamafile's sgemm for batched products, REPACK, OPENMP)."""
    info = llama_cpp.llama_print_system_info().decode()
    return "; ".join(f"ggml {name} backend: " + " ".join(k for k, v in re.findall(r"(\w+) = (\d+)", feats) if v != "0")
                     for name, feats in re.findall(r"(\w+) : ((?:\w+ = \d+ \| ?)+)", info)) + (
        "; ggml BLAS backend (OpenBLAS)" if "libggml-blas" in open("/proc/self/maps").read() else "")


def greedy(llm, n_vocab):
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm._ctx.ctx), shape=(n_vocab,))
    return int(np.argmax(logits))


def run(llm, prompt, new, n_vocab, first):
    """Prefill the prompt, then `new` decode steps starting from token `first` (None: the prompt's argmax)."""
    llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    llm.eval(prompt)
    tok, ids = greedy(llm, n_vocab), []  # reading the logits also ends the prefill in llama.cpp's counters
    tok = tok if first is None else first
    for _ in range(new):
        ids.append(tok)
        llm.eval([tok])
        tok = greedy(llm, n_vocab)
    return ids, llama_cpp.llama_perf_context(llm._ctx.ctx)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="a GGUF file")
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--flash-attn", type=int, default=1, help="1 (default) or 0")
    p.add_argument("--kv", default="f16", choices=sorted(GGML_TYPE), help="KV cache type (llama.cpp's default f16)")
    p.add_argument("--blas", action="store_true", help="llama.cpp built with ggml's BLAS backend (OpenBLAS)")
    p.add_argument("--ids", action="store_true", help="print the greedy token ids instead of timings")
    a = p.parse_args()
    global llama_cpp
    if a.blas:
        os.environ["LLAMA_CPP_LIB_PATH"] = BLAS_LIB
        # cmake writes an absolute RUNPATH into the build tree's libraries, which breaks when the tree moves
        # (a venv made in a worktree, say); loading ggml's libraries first by path lets libllama find them.
        import ctypes
        for lib in ("libggml-base.so", "libggml-cpu.so", "libggml-blas.so", "libggml.so"):
            ctypes.CDLL(os.path.join(BLAS_LIB, lib), mode=ctypes.RTLD_GLOBAL)
    import llama_cpp
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(a.model, n_ctx=a.prompt + a.new + 16, n_batch=max(512, a.prompt), n_ubatch=max(512, a.prompt),
                          n_threads=a.threads, n_threads_batch=a.threads, flash_attn=bool(a.flash_attn),
                          type_k=GGML_TYPE[a.kv], type_v=GGML_TYPE[a.kv], use_mmap=False, verbose=False)
    load = time.perf_counter() - t0
    n_vocab = llm.n_vocab()
    prompt = [(i * 7919) % n_vocab for i in range(a.prompt)]
    if a.ids:
        ids, _ = run(llm, prompt, a.new, n_vocab, None)
        print(json.dumps({"ids": ids}))
        return
    run(llm, prompt, min(a.new, 4), n_vocab, 0)  # warm-up: thread pool, compute buffers, caches
    _, perf = run(llm, prompt, a.new, n_vocab, 0)
    if perf.n_p_eval != a.prompt or perf.n_eval != a.new:
        raise SystemExit(f"llama.cpp counted {perf.n_p_eval} prompt and {perf.n_eval} decode tokens, "
                         f"not {a.prompt} and {a.new}")
    wtype = re.search(r"-(f32|f16|bf16)\.gguf$", a.model)
    print(f"llama.cpp (llama-cpp-python {llama_cpp.__version__}; kernels [{system_info()}]): {os.path.basename(a.model)}"
          f" ({wtype.group(1) if wtype else '?'} weights), batch 1, prompt {a.prompt}, {a.new} new: "
          f"prefill {perf.n_p_eval / perf.t_p_eval_ms * 1e3:.0f} tokens/s, "
          f"decode {perf.n_eval / perf.t_eval_ms * 1e3:.1f} tokens/s; flash attention {'on' if a.flash_attn else 'off'}, "
          f"KV cache {a.kv}, {a.threads} threads (n_threads = n_threads_batch), load {load:.1f} s (not timed), "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
