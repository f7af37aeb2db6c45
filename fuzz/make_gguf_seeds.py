#!/usr/bin/env python3
"""Writes a few small valid GGUF files into DIR as the fuzzer's seed corpus.

Standard library only (struct), so it runs anywhere python3 does. Each seed exercises a different
part of the format: every value type and nested arrays, a non-default alignment with quantized
tensors, and a tokenizer-like vocabulary.
"""
import struct
import sys
from pathlib import Path

# GGUF value types (ValueType in src/formats/gguf/gguf.h).
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FORMATS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
                  BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
# ggml tensor types: id -> (block size, bytes per block).
F32_T, F16_T, Q4_0_T, Q4_1_T, Q8_0_T = 0, 1, 2, 3, 8
BLOCKS = {F32_T: (1, 4), F16_T: (1, 2), Q4_0_T: (32, 18), Q4_1_T: (32, 20), Q8_0_T: (32, 34)}


def string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return string(v)
    if vtype == ARRAY:
        elem_type, items = v
        return struct.pack("<IQ", elem_type, len(items)) + b"".join(value(elem_type, x) for x in items)
    return struct.pack(SCALAR_FORMATS[vtype], v)


def gguf(kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, type, dims)] with patterned data."""
    out = struct.pack("<4sIQQ", b"GGUF", 3, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += string(key) + struct.pack("<I", vtype) + value(vtype, v)
    datas, offset = [], 0
    for name, ttype, dims in tensors:
        block, block_bytes = BLOCKS[ttype]
        rows = 1
        for d in dims[1:]:
            rows *= d
        nbytes = dims[0] // block * block_bytes * rows
        out += string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        out += struct.pack("<IQ", ttype, offset)
        datas.append(bytes((i * 7 + len(datas)) & 0xFF for i in range(nbytes)))
        offset += -(-nbytes // alignment) * alignment
    pad = lambda b: b + b"\0" * (-len(b) % alignment)
    return pad(out) + b"".join(pad(d) for d in datas)


SEEDS = {
    "values.gguf": gguf(
        [("general.architecture", STRING, "llama"), ("u8", U8, 255), ("i8", I8, -1), ("u16", U16, 7),
         ("i16", I16, -7), ("u32", U32, 30), ("i32", I32, -30), ("f32", F32, 1e-5), ("bool", BOOL, True),
         ("u64", U64, 2**63), ("i64", I64, -2**40), ("f64", F64, 0.1), ("text", STRING, "héllo 🙂\n"),
         ("nested", ARRAY, (ARRAY, [(I32, [1, 2]), (STRING, ["a"])]))],
        [("f32", F32_T, [4, 2]), ("q4_0", Q4_0_T, [32])]),
    "align64.gguf": gguf(
        [("general.alignment", U32, 64), ("llama.block_count", U32, 1)],
        [("q8_0", Q8_0_T, [64, 2]), ("q4_1", Q4_1_T, [32, 1, 2]), ("f16", F16_T, [3])], alignment=64),
    "vocab.gguf": gguf(
        [("tokenizer.ggml.model", STRING, "gpt2"),
         ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "Ġthe", "a", "日本"])),
         ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, -1.5, -2.0, -3.0])),
         ("tokenizer.ggml.token_type", ARRAY, (I32, [3, 1, 1, 1])),
         ("tokenizer.ggml.merges", ARRAY, (STRING, ["Ġ t", "h e"]))],
        []),
}


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DIR")
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out_dir / name).write_bytes(data)


if __name__ == "__main__":
    main()
