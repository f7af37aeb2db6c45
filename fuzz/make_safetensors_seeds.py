#!/usr/bin/env python3
"""Writes a few small valid safetensors files into DIR as the fuzzer's seed corpus.

Standard library only. The seeds cover the float dtypes joule loads, integer and bool tensors,
an empty tensor, __metadata__, and the header padding Hugging Face's writer adds.
"""
import json
import struct
import sys
from pathlib import Path

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I8": 1, "BOOL": 1, "U8": 1}


def write(path, tensors, metadata=None, pad=True):
    header, data = {}, b""
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += bytes((i * 37 + 11) % 256 for i in range(nbytes))
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:  # as huggingface/safetensors does: the data starts 8-byte aligned
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write(out / "floats.safetensors",
          [("model.embed_tokens.weight", "F16", [8, 4]), ("model.norm.weight", "F32", [4]),
           ("lm_head.weight", "BF16", [8, 4])], {"format": "pt"})
    write(out / "ints.safetensors", [("ids", "I64", [3]), ("mask", "BOOL", [2, 2]), ("q", "I8", [5])], pad=False)
    write(out / "empty.safetensors", [("none", "F32", [0, 4]), ("scalar", "F32", []), ("x", "U8", [2])])
    write(out / "only_meta.safetensors", [], {"a": "b"})


if __name__ == "__main__":
    main()
