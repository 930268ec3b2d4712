#!/usr/bin/env python3
"""make_tiny_reference_f64.py - how far is float32 from the exact answer on the tiny reference model?

Runs make_tiny_reference.py's independent torch reference in float64 (the quantized model's
"true" logits: int8 codes and ternary products computed without float32 rounding) on the same
prompts, and writes them beside the float32 fixtures so that transformers' float32 logits and
ours can both be measured against them: an int8 activation code that lands within float32
rounding of a .5 boundary flips in one implementation and not the other, and the float64 run
says which of the two is closer to exact. Needs torch (the GPU machine); CPU only.

The files are saved as float32 (the exact logits rounded once), like the float32 fixtures, and
committed in tests/fixtures/tiny-reference/ (last_logits_f64.npy [6, V], all_logits_f64.npy
[213, V]); tests/test_forward.c holds our logits to them.

usage: make_tiny_reference_f64.py REPO_ROOT OUT_DIR
"""
import json, os, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_tiny_reference as mtr  # noqa: E402


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    packed = os.path.join(root, mtr.PACKED)
    with open(os.path.join(packed, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(root, "tests/fixtures/tiny-reference", "prompts.json")) as f:
        ref = json.load(f)
    w, lin = mtr.ref_weights(packed, cfg)
    w = {k: v.double() for k, v in w.items()}
    lin = {k: (a.double(), None if s is None else s.double()) for k, (a, s) in lin.items()}
    last = [mtr.ref_forward(w, lin, cfg, p["ids"])[0][-1] for p in ref["prompts"]]
    np.save(os.path.join(out, "last_logits_f64.npy"), torch.stack(last).numpy().astype(np.float32))
    long = mtr.ref_forward(w, lin, cfg, ref["long"]["ids"])[0]
    np.save(os.path.join(out, "all_logits_f64.npy"), long.numpy().astype(np.float32))
    f32 = np.load(os.path.join(root, "tests/fixtures/tiny-reference", "all_logits.npy"))
    f64 = np.load(os.path.join(out, "all_logits_f64.npy"))
    print("transformers f32 vs f64 reference, long prompt: top-1 agree",
          int((f32.argmax(-1) == f64.argmax(-1)).sum()), "of", len(f64))
    l32 = np.load(os.path.join(root, "tests/fixtures/tiny-reference", "last_logits.npy"))
    l64 = np.load(os.path.join(out, "last_logits_f64.npy"))
    for i in range(len(l64)):
        print(f"prompt {i}: transformers f32 vs f64 relative L2",
              float(np.linalg.norm(l32[i] - l64[i]) / np.linalg.norm(l64[i])))


if __name__ == "__main__":
    main()
