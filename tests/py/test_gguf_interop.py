"""GGUF interoperability with the Python `gguf` package (gguf-py, from llama.cpp), both ways.

1. A file written by gguf.GGUFWriter (every value type, nested arrays, several tensor types)
   is read by our reader (tests/tools/gguf_tool dump) with identical keys, values, tensor
   names, types, shapes and bytes.
2. A file written by our writer (gguf_tool write) from the same spec is read by
   gguf.GGUFReader identically.

usage: test_gguf_interop.py GGUF_TOOL WORKDIR
"""
import json
import os
import subprocess
import sys

import numpy as np
from harness import report
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType as VT, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES

NAMES = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
         VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string",
         VT.ARRAY: "array", VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}
BY_NAME = {v: k for k, v in NAMES.items()}

# (key, gguf type, value) - extremes of every scalar type, strings with NUL and UTF-8,
# arrays of every element type, and nested arrays.
ARCH = "bitnet"
SCALARS = [
    ("t.u8", VT.UINT8, 255), ("t.i8", VT.INT8, -128), ("t.u16", VT.UINT16, 65535),
    ("t.i16", VT.INT16, -32768), ("t.u32", VT.UINT32, 4294967295), ("t.i32", VT.INT32, -2147483648),
    ("t.f32", VT.FLOAT32, float(np.float32(3.1415927))), ("t.bool.true", VT.BOOL, True),
    ("t.bool.false", VT.BOOL, False), ("t.u64", VT.UINT64, 18446744073709551615),
    ("t.i64", VT.INT64, -9223372036854775808), ("t.f64", VT.FLOAT64, 2.718281828459045),
    ("t.f32.tiny", VT.FLOAT32, float(np.float32(1e-40))), ("t.str", VT.STRING, "héllo, 世界 🙂"),
    ("t.str.empty", VT.STRING, ""), ("t.str.nul", VT.STRING, "a\0b"),
    ("bitnet.context_length", VT.UINT32, 4096), ("bitnet.hidden_activation", VT.STRING, "relu2"),
]
ARRAYS = [
    ("a.u8", VT.UINT8, [0, 1, 255]), ("a.i8", VT.INT8, [-128, 0, 127]),
    ("a.u16", VT.UINT16, [0, 65535]), ("a.i16", VT.INT16, [-32768, 32767]),
    ("a.u32", VT.UINT32, [1, 4294967295]), ("a.i32", VT.INT32, [-5, 7, 1 << 30]),
    ("a.f32", VT.FLOAT32, [0.5, -1.25, float(np.float32(0.1))]), ("a.bool", VT.BOOL, [True, False, True]),
    ("a.u64", VT.UINT64, [0, 18446744073709551615]), ("a.i64", VT.INT64, [-1, 1 << 62]),
    ("a.f64", VT.FLOAT64, [1e300, -0.0]), ("a.str", VT.STRING, ["Ġthe", "", "<|eot_id|>", "ü"]),
]
NESTED = ("a.nested", [["x", "yz"], ["w"]])  # array of arrays of strings
NESTED_INT = ("a.nested.int", [[1, 2, 3], [4]])  # array of arrays of int32


def tensors():
    rng = np.random.default_rng(7)
    out = [
        ("w.f32", rng.standard_normal((3, 5)).astype(np.float32), None),
        ("w.f16", rng.standard_normal((2, 64)).astype(np.float16), None),
        ("w.i8", rng.integers(-128, 128, (4, 7)).astype(np.int8), None),
        ("w.i32", rng.integers(-1000, 1000, (9,)).astype(np.int32), None),
        # quantized types as raw bytes: 2 rows of 256 values
        ("w.q8_0", rng.integers(0, 256, (2, 8 * 34)).astype(np.uint8), Q.Q8_0),
        ("w.tq2_0", rng.integers(0, 256, (2, 66)).astype(np.uint8), Q.TQ2_0),
        ("w.tq1_0", rng.integers(0, 256, (2, 54)).astype(np.uint8), Q.TQ1_0),
        ("w.bf16", rng.integers(0, 65536, (3, 4)).astype(np.uint16).view(np.uint8), Q.BF16),
        ("blk.0.attn_q.weight", rng.standard_normal((4, 2, 8)).astype(np.float32), None),
    ]
    return out


def value_spec(vtype, value):
    if vtype == VT.STRING:
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return {"type": "string", "value": data.hex()}
    if vtype == VT.BOOL:
        return {"type": "bool", "value": "true" if value else "false"}
    if vtype in (VT.FLOAT32, VT.FLOAT64):
        return {"type": NAMES[vtype], "value": repr(float(value))}
    return {"type": NAMES[vtype], "value": str(int(value))}


def array_spec(elem, items):
    if elem == VT.ARRAY:
        inner = [array_spec(VT.STRING if isinstance(x[0], str) else VT.INT32, x) for x in items]
        return {"type": "array", "elem": "array", "items": inner}
    return {"type": "array", "elem": NAMES[elem], "items": [value_spec(elem, x) for x in items]}


def make_spec(alignment):
    kv = [dict(value_spec(VT.STRING, ARCH), key="general.architecture")]
    if alignment != 32:
        kv.append(dict(value_spec(VT.UINT32, alignment), key="general.alignment"))
    kv += [dict(value_spec(t, v), key=k) for k, t, v in SCALARS]
    kv += [dict(array_spec(t, v), key=k) for k, t, v in ARRAYS]
    kv.append(dict(array_spec(VT.ARRAY, NESTED[1]), key=NESTED[0]))
    kv.append(dict(array_spec(VT.ARRAY, NESTED_INT[1]), key=NESTED_INT[0]))
    ts = []
    for name, arr, raw in tensors():
        ggml = int(raw) if raw is not None else {np.float32: 0, np.float16: 1, np.int8: 24,
                                                   np.int32: 26}[arr.dtype.type]
        if raw is None:
            ne = list(reversed(arr.shape))
        else:  # rows of bytes -> rows of values
            block, size = GGML_QUANT_SIZES[raw]
            ne = [arr.shape[-1] // size * block] + list(reversed(arr.shape[:-1]))
        ts.append({"name": name, "ggml_type": ggml, "ne": ne, "hex": arr.tobytes().hex()})
    return {"alignment": alignment, "kv": kv, "tensors": ts}


def write_with_gguf_py(path, alignment):
    w = GGUFWriter(path, ARCH)
    if alignment != 32:
        w.add_custom_alignment(alignment)
    for k, t, v in SCALARS:
        w.add_key_value(k, v.encode("utf-8") if t == VT.STRING else v, t)
    for k, t, v in ARRAYS:
        w.add_key_value(k, v, VT.ARRAY, sub_type=t)
    w.add_key_value(NESTED[0], NESTED[1], VT.ARRAY, sub_type=VT.ARRAY)
    w.add_key_value(NESTED_INT[0], NESTED_INT[1], VT.ARRAY, sub_type=VT.ARRAY)
    for name, arr, raw in tensors():
        w.add_tensor(name, arr, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def normalize(v):
    """Spec value -> comparable Python value (floats compared exactly as doubles)."""
    if v["type"] == "array":
        return ("array", v["elem"], [normalize(x) for x in v["items"]])
    if v["type"] in ("f32", "f64"):
        return (v["type"], float(v["value"]))
    return (v["type"], v["value"])


def compare(got, want, what):
    errors = []
    gk = {kv["key"]: normalize(kv) for kv in got["kv"]}
    wk = {kv["key"]: normalize(kv) for kv in want["kv"]}
    if list(gk) != list(wk):
        errors.append(f"{what}: keys differ:\n  got  {list(gk)}\n  want {list(wk)}")
    for k in wk:
        if gk.get(k) != wk[k]:
            errors.append(f"{what}: key {k}: got {gk.get(k)} want {wk[k]}")
    gt = [(t["name"], t["ggml_type"], t["ne"], t["hex"]) for t in got["tensors"]]
    wt = [(t["name"], t["ggml_type"], t["ne"], t["hex"]) for t in want["tensors"]]
    for g, w in zip(gt, wt):
        if g != w:
            errors.append(f"{what}: tensor {w[0]}: got {g[:3]} want {w[:3]} (bytes equal: {g[3] == w[3]})")
    if len(gt) != len(wt):
        errors.append(f"{what}: {len(gt)} tensors, want {len(wt)}")
    return errors


def read_with_gguf_py(path):
    """GGUFReader -> spec form."""
    r = GGUFReader(path)
    kv = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        kv.append(dict(field_spec(f, f.types, f.data, 0), key=f.name))
    ts = []
    for t in r.tensors:
        ts.append({"name": t.name, "ggml_type": int(t.tensor_type), "ne": [int(x) for x in t.shape],
                   "hex": bytes(t.data.tobytes()).hex()})
    return {"alignment": r.alignment, "kv": kv, "tensors": ts}


def field_spec(f, types, data_idx, depth):
    """Rebuild a (possibly nested) value from GGUFReader's flat parts/types/data layout."""
    t = types[0]
    if t == VT.ARRAY:
        elem = types[1]
        if elem == VT.ARRAY:
            raise NotImplementedError
        items = [part_value(elem, f.parts[i]) for i in data_idx]
        return {"type": "array", "elem": NAMES[elem], "items": [value_spec(elem, x) for x in items]}
    return value_spec(t, part_value(t, f.parts[data_idx[0]]))


def part_value(t, part):
    if t == VT.STRING:
        return bytes(part)
    v = part[0]
    return bool(v) if t == VT.BOOL else (float(v) if t in (VT.FLOAT32, VT.FLOAT64) else int(v))


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    results = []  # (check name, list of errors)
    for alignment in (32, 64):
        spec = make_spec(alignment)
        # 1. gguf-py writes, we read
        a = os.path.join(work, f"from_gguf_py_{alignment}.gguf")
        write_with_gguf_py(a, alignment)
        out = subprocess.run([tool, "dump", a], capture_output=True, text=True)
        name = f"gguf-py writes, we read (alignment {alignment})"
        if out.returncode != 0:
            results.append((name, [f"our reader failed on gguf-py's file: {out.stderr.strip()}"]))
        else:
            got = json.loads(out.stdout)
            errs = compare(got, spec, name)
            if got["alignment"] != alignment:
                errs.append(f"alignment {got['alignment']} want {alignment}")
            results.append((name, errs))
        # 2. we write, gguf-py reads (nested arrays are left out: GGUFReader flattens them)
        spec_path = os.path.join(work, f"spec_{alignment}.json")
        flat = dict(spec, kv=[kv for kv in spec["kv"] if kv.get("elem") != "array"])
        with open(spec_path, "w") as fh:
            json.dump(flat, fh)
        b = os.path.join(work, f"from_ours_{alignment}.gguf")
        out = subprocess.run([tool, "write", spec_path, b], capture_output=True, text=True)
        name = f"we write, gguf-py reads (alignment {alignment})"
        if out.returncode != 0:
            results.append((name, [f"our writer failed: {out.stderr.strip()}"]))
        else:
            results.append((name, compare(read_with_gguf_py(b), flat, name)))
            # our file with nested arrays too must at least load in gguf-py
            full_path = os.path.join(work, f"spec_full_{alignment}.json")
            with open(full_path, "w") as fh:
                json.dump(spec, fh)
            c = os.path.join(work, f"from_ours_nested_{alignment}.gguf")
            out = subprocess.run([tool, "write", full_path, c], capture_output=True, text=True)
            name = f"nested arrays: we write, gguf-py loads, we read back (alignment {alignment})"
            if out.returncode != 0:
                results.append((name, [f"our writer failed: {out.stderr.strip()}"]))
            else:
                GGUFReader(c)
                out = subprocess.run([tool, "dump", c], capture_output=True, text=True)
                results.append((name, compare(json.loads(out.stdout), spec, name)))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
