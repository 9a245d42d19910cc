"""A Hugging Face model directory (as `ilr init` writes it) to GGUF files for llama.cpp, one per weight type.

The conversion is llama.cpp's own convert_hf_to_gguf.py, from the llama.cpp source that bench/venv.sh keeps
beside the llama-cpp-python it built (bench/.venv/src/llama.cpp), so the GGUF is what a llama.cpp user would
make of the same directory.  Each written file is then read back with the `gguf` package and summarised:
architecture, pre-tokenizer, rope base, tensor count by type, whether the LM head is tied to the embedding,
the QKV biases, and the size.  A file newer than the model's weights is kept, not converted again.
    bench/.venv/bin/python bench/to_gguf.py DIR [--types f32,f16,bf16] [--out-dir DIR]
Writes OUT/NAME-TYPE.gguf (NAME: DIR's base name; OUT: DIR's parent by default) and prints one line per file."""
import argparse
import collections
import glob
import os
import subprocess
import sys
import time

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, ".venv", "src", "llama.cpp", "convert_hf_to_gguf.py")


def newest_weights(model_dir):
    files = glob.glob(os.path.join(model_dir, "*.safetensors")) + [os.path.join(model_dir, "config.json")]
    return max(os.path.getmtime(f) for f in files if os.path.exists(f))


def convert(model_dir, outtype, path):
    """Runs convert_hf_to_gguf.py; its log goes to PATH.log, its last line is shown on failure."""
    log = path + ".log"
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, CONVERTER, model_dir, "--outtype", outtype, "--outfile", path + ".tmp"],
                            stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        sys.exit(f"to_gguf: convert_hf_to_gguf.py --outtype {outtype} failed (exit {rc}); see {log}")
    os.replace(path + ".tmp", path)
    return time.time() - t0


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def summary(path):
    """One line on what the file holds, read back with the gguf package."""
    r = gguf.GGUFReader(path)
    arch = field(r, "general.architecture")
    types = collections.Counter(t.tensor_type.name for t in r.tensors)
    names = {t.name: t for t in r.tensors}
    big = collections.Counter(t.tensor_type.name for t in r.tensors if len(t.shape) > 1 and t.shape[1] > 1)
    head = "tied to token_embd (no output.weight)" if "output.weight" not in names else "own output.weight"
    biases = sum(1 for n in names if n.endswith(("attn_q.bias", "attn_k.bias", "attn_v.bias")))
    return (f"{os.path.basename(path)}: {arch}, {field(r, arch + '.block_count')} layers, "
            f"pre-tokenizer {field(r, 'tokenizer.ggml.pre')}, rope base {field(r, arch + '.rope.freq_base'):g}, "
            f"{len(r.tensors)} tensors ({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}; matrices "
            f"{', '.join(sorted(big))}), LM head {head}, {biases} QKV bias tensors, "
            f"{os.path.getsize(path) / 2**30:.2f} GiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--types", default="f32,f16,bf16", help="comma-separated: f32, f16, bf16 (default all three)")
    ap.add_argument("--out-dir", help="where to write (default: the model directory's parent)")
    a = ap.parse_args()
    if not os.path.exists(CONVERTER):
        sys.exit(f"to_gguf: no {CONVERTER}; run bash bench/venv.sh first")
    model_dir = os.path.abspath(a.model_dir.rstrip("/"))
    out_dir = a.out_dir or os.path.dirname(model_dir)
    os.makedirs(out_dir, exist_ok=True)
    for outtype in a.types.split(","):
        path = os.path.join(out_dir, f"{os.path.basename(model_dir)}-{outtype}.gguf")
        if os.path.exists(path) and os.path.getmtime(path) > newest_weights(model_dir):
            how = "kept (newer than the weights)"
        else:
            how = f"converted by convert_hf_to_gguf.py --outtype {outtype} in {convert(model_dir, outtype, path):.0f} s"
        print(f"to_gguf: {summary(path)}; {how}", flush=True)


if __name__ == "__main__":
    main()
