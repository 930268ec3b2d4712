#!/usr/bin/env python3
"""Reference outputs from transformers itself (run where torch + transformers are installed,
e.g. the lent GPU machine; CPU is enough):

1. transformers' online BitNet weight quantization (integrations/bitnet.py WeightQuant, what
   `quantization_mode: online` runs) on every linear layer of tests/fixtures/tiny-bitnet-hf-bf16,
   saved as tests/fixtures/online-quant/online_quant.npz: for each layer "<name>.t" (int8
   ternary codes) and "<name>.gamma" (torch's float32 mean|W|).
2. transformers' pack_weights on the inputs in tests/fixtures/hf2, checked against the packed
   outputs there (which scripts/make_hf2_fixture.py made with a numpy port of it).

usage: make_online_quant_fixture.py REPO_ROOT OUT_DIR
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers.integrations.bitnet import WeightQuant, pack_weights


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    weights = load_file(os.path.join(root, "tests/fixtures/tiny-bitnet-hf-bf16/model.safetensors"))
    result = {}
    for name, w in sorted(weights.items()):
        if not name.endswith("_proj.weight"):
            continue
        q = WeightQuant.apply(w)  # bf16 (t / scale) exactly as the online model computes it
        result[name + ".t"] = torch.sign(q.float()).to(torch.int8).numpy()
        result[name + ".gamma"] = np.float32(w.float().abs().mean().clamp_(min=1e-5).item())
    np.savez_compressed(os.path.join(out, "online_quant.npz"), **result)
    print(f"online quantization: {len(result) // 2} linear layers saved")

    hf2 = os.path.join(root, "tests/fixtures/hf2")
    bad = 0
    for f in sorted(os.listdir(hf2)):
        if not f.endswith("_weight.npy"):
            continue
        w = np.load(os.path.join(hf2, f))
        want = np.load(os.path.join(hf2, f.replace("_weight", "_packed")))
        got = pack_weights(torch.from_numpy(w.astype(np.int8)).clone()).numpy()
        same = got.shape == want.shape and np.array_equal(got, want)
        bad += not same
        print(f"pack_weights {f}: {'identical' if same else 'DIFFERENT'} {got.shape}")
    print(f"{'all' if bad == 0 else bad} hf2 fixtures {'match' if bad == 0 else 'differ'} transformers' pack_weights")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
