"""safetensors interoperability with the Python `safetensors` package, both ways.

1. A file written by safetensors.numpy.save_file (several dtypes, a scalar, an empty tensor,
   metadata) is read by our reader (tests/tools/st_tool dump) with identical names, dtypes,
   shapes, bytes and metadata.
2. A file written by our writer (st_tool write) from the same spec is read by
   safetensors.safe_open identically.

usage: test_safetensors_interop.py ST_TOOL WORKDIR
"""
import json
import os
import subprocess
import sys

import numpy as np
from harness import report
from safetensors import safe_open
from safetensors.numpy import save_file

DTYPES = {np.float64: "F64", np.float32: "F32", np.float16: "F16", np.int64: "I64",
          np.int32: "I32", np.int16: "I16", np.int8: "I8", np.uint8: "U8", np.bool_: "BOOL"}
METADATA = {"format": "pt", "note": "héllo \"quoted\" 世界"}


def arrays():
    rng = np.random.default_rng(3)
    return {
        "model.embed_tokens.weight": rng.standard_normal((5, 8)).astype(np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.integers(0, 256, (2, 8)).astype(np.uint8),
        "model.layers.0.self_attn.q_proj.weight_scale": np.array([0.75], dtype=np.float16),
        "f64": rng.standard_normal((3,)),
        "i64": rng.integers(-(1 << 40), 1 << 40, (2, 2)).astype(np.int64),
        "i32": rng.integers(-1000, 1000, (7,)).astype(np.int32),
        "i16": rng.integers(-1000, 1000, (1, 3, 2)).astype(np.int16),
        "i8": rng.integers(-128, 128, (4,)).astype(np.int8),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def spec_of(arrs, metadata):
    ts = [{"name": k, "dtype": DTYPES[v.dtype.type], "shape": list(v.shape), "hex": v.tobytes().hex()}
          for k, v in sorted(arrs.items())]
    return {"metadata": metadata, "tensors": ts}


def compare(got, want, what):
    errs = []
    if got["metadata"] != want["metadata"]:
        errs.append(f"{what}: metadata {got['metadata']} want {want['metadata']}")
    g = {t["name"]: t for t in got["tensors"]}
    w = {t["name"]: t for t in want["tensors"]}
    if sorted(g) != sorted(w):
        errs.append(f"{what}: names {sorted(g)} want {sorted(w)}")
    for name in w:
        if name in g and g[name] != w[name]:
            errs.append(f"{what}: tensor {name}: got {g[name]['dtype']} {g[name]['shape']}, "
                        f"want {w[name]['dtype']} {w[name]['shape']} (bytes equal: "
                        f"{g[name]['hex'] == w[name]['hex']})")
    return errs


def read_with_package(path):
    ts = []
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            v = f.get_tensor(k)
            ts.append({"name": k, "dtype": DTYPES[v.dtype.type], "shape": list(v.shape),
                       "hex": v.tobytes().hex()})
    return {"metadata": meta, "tensors": ts}


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    arrs = arrays()
    spec = spec_of(arrs, METADATA)
    results = []

    a = os.path.join(work, "from_package.safetensors")
    save_file(arrs, a, metadata=METADATA)
    out = subprocess.run([tool, "dump", a], capture_output=True, text=True)
    name = "safetensors package writes, we read"
    if out.returncode != 0:
        results.append((name, [f"our reader failed: {out.stderr.strip()}"]))
    else:
        results.append((name, compare(json.loads(out.stdout), spec, name)))

    spec_path = os.path.join(work, "spec.json")
    with open(spec_path, "w") as fh:
        json.dump(spec, fh)
    b = os.path.join(work, "from_ours.safetensors")
    out = subprocess.run([tool, "write", spec_path, b], capture_output=True, text=True)
    name = "we write, safetensors package reads"
    if out.returncode != 0:
        results.append((name, [f"our writer failed: {out.stderr.strip()}"]))
    else:
        results.append((name, compare(read_with_package(b), spec, name)))
        same = open(a, "rb").read() == open(b, "rb").read()
        print(f"note: our file is {'byte-identical to' if same else 'not byte-identical to'} the package's")

    return report(results)


if __name__ == "__main__":
    sys.exit(main())
