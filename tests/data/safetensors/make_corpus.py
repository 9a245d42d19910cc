#!/usr/bin/env python3
"""Writes the safetensors test corpus: good/ (valid files) and bad/ (each corrupted in one way), with
bad/EXPECTED listing, per file, the error code and a phrase the rejection message must contain.
The files are committed; rerun this only to change the corpus (python3, standard library only).
They also seed the fuzzer (fuzz/safetensors.c)."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def build(header, data=b"", header_len=None, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data

def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}

F32x2 = struct.pack("<2f", 1.5, -2.0)
GOOD = {
    "two_f32": build({"__metadata__": {"format": "pt"}, "a": tensor("F32", [2], 0, 8),
                      "b": tensor("F32", [1, 2], 8, 16)}, F32x2 + F32x2),
    "mixed_dtypes": build({"w": tensor("BF16", [2, 2], 0, 8), "h": tensor("F16", [2], 8, 12),
                           "f": tensor("F32", [1], 12, 16)},
                          struct.pack("<4H", 0x3F80, 0xC000, 0x3FC0, 0x0000) + struct.pack("<2H", 0x3C00, 0x8001)
                          + struct.pack("<f", 0.25)),
    "empty": build({}),
    "scalar_and_zero_size": build({"s": tensor("F32", [], 0, 4), "z": tensor("F32", [0, 3], 4, 4)},
                                  struct.pack("<f", 7.0)),
}

# name: (bytes, error code, phrase the message must contain)
BAD = {
    "01_too_short": (b"\x05\x00\x00", "ILR_EFORMAT", "too short for the 8-byte header length"),
    "02_header_past_eof": (build({}, header_len=1000), "ILR_EFORMAT", "runs past the end of the file"),
    "03_header_not_json": (build(None, raw_header=b'{"a": {"dtype": "F32",'), "ILR_EFORMAT", "safetensors header"),
    "04_header_not_brace": (build(None, raw_header=b'[1, 2]  '), "ILR_EFORMAT", "does not start with '{'"),
    "05_entry_not_object": (build({"a": 5}), "ILR_EFORMAT", "tensor 'a': entry is not a JSON object"),
    "06_missing_dtype": (build({"a": {"shape": [2], "data_offsets": [0, 8]}}, F32x2), "ILR_EFORMAT",
                         "tensor 'a': missing \"dtype\""),
    "07_unknown_dtype": (build({"a": tensor("F12", [2], 0, 8)}, F32x2), "ILR_EFORMAT", "unknown dtype \"F12\""),
    "08_shape_not_array": (build({"a": tensor("F32", 2, 0, 8)}, F32x2), "ILR_EFORMAT", "\"shape\" is not an array"),
    "09_negative_dim": (build({"a": tensor("F32", [-2], 0, 8)}, F32x2), "ILR_EFORMAT",
                        "shape[0] is not a non-negative integer"),
    "10_offsets_not_pair": (build({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, F32x2),
                            "ILR_EFORMAT", "not a pair of non-negative integers"),
    "11_offsets_reversed": (build({"a": tensor("F32", [0], 8, 0)}, F32x2), "ILR_EFORMAT", "end before they begin"),
    "12_size_mismatch": (build({"a": tensor("F32", [2, 2], 0, 12)}, F32x2 + F32x2[:4]), "ILR_EFORMAT",
                         "hold 12 bytes but F32 of 4 elements needs 16"),
    "13_past_data_end": (build({"a": tensor("F32", [4], 0, 16)}, F32x2), "ILR_EFORMAT",
                         "run past the data section of 8 bytes"),
    "14_overlap": (build({"a": tensor("F32", [2], 0, 8), "b": tensor("F32", [2], 4, 12)}, F32x2 + F32x2[:4]),
                   "ILR_EFORMAT", "overlap tensor 'a'"),
    "15_gap": (build({"a": tensor("F32", [2], 0, 8), "b": tensor("F32", [2], 12, 20)}, F32x2 * 2 + F32x2[:4]),
               "ILR_EFORMAT", "leaving a gap of 4 unused bytes"),
    "16_not_covered": (build({"a": tensor("F32", [2], 0, 8)}, F32x2 + F32x2[:4]), "ILR_EFORMAT",
                       "4 bytes not covered"),
    "17_duplicate_tensor": (build(None, raw_header=b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                                  b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', data=F32x2),
                            "ILR_EFORMAT", "duplicate object key"),
    "18_metadata_not_object": (build({"__metadata__": 5}), "ILR_EFORMAT", "\"__metadata__\" is not a JSON object"),
    "19_metadata_not_string": (build({"__metadata__": {"format": 1}}), "ILR_EFORMAT",
                               "\"__metadata__\" value of 'format' is not a string"),
    "20_too_many_dims": (build({"a": tensor("F32", [1] * 9, 0, 4)}, F32x2[:4]), "ILR_EFORMAT",
                         "shape has 9 dimensions"),
    "21_trailing_garbage": (build(None, raw_header=b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}} xyz',
                                  data=F32x2), "ILR_EFORMAT", "end of file expected"),
    "22_empty_name": (build({"": tensor("F32", [2], 0, 8)}, F32x2), "ILR_EFORMAT", "empty name"),
    "23_fractional_dim": (build({"a": tensor("F32", [2.5], 0, 10)}, F32x2 + F32x2[:2]), "ILR_EFORMAT",
                          "shape[0] is not a non-negative integer"),
    "24_dtype_not_string": (build({"a": tensor(7, [2], 0, 8)}, F32x2), "ILR_EFORMAT", "\"dtype\" is not a string"),
    "25_huge_shape": (build({"a": tensor("F32", [2**40, 2**40], 0, 8)}, F32x2), "ILR_EFORMAT",
                      "shape has too many elements"),
}

def main():
    for sub in ("good", "bad"):
        os.makedirs(os.path.join(HERE, sub), exist_ok=True)
    for name, blob in GOOD.items():
        with open(os.path.join(HERE, "good", name + ".safetensors"), "wb") as f:
            f.write(blob)
    with open(os.path.join(HERE, "bad", "EXPECTED"), "w") as manifest:
        manifest.write("# file<TAB>error code<TAB>phrase the message must contain (written by make_corpus.py)\n")
        for name, (blob, code, phrase) in BAD.items():
            with open(os.path.join(HERE, "bad", name + ".safetensors"), "wb") as f:
                f.write(blob)
            manifest.write(f"{name}.safetensors\t{code}\t{phrase}\n")

if __name__ == "__main__":
    main()
