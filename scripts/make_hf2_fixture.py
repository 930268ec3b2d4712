#!/usr/bin/env python3
"""Write tests/fixtures/hf2/: ternary weights and their packing by transformers' pack_weights.

transformers is not a dependency, so pack_weights (src/transformers/integrations/bitnet.py) is
ported to numpy below, statement for statement: codes w+1, packed along dim 0 (the output rows),
block-strided: with row_dim = ceil(rows/4), rows [i*row_dim, (i+1)*row_dim) go to bits 2i of
packed rows [0, row_dim). tests/py/test_formats_reference.py compares our hf2 packing with the
files written here, and imports pack_weights to check further random shapes.

Each case NAME is two .npy files: NAME_weight.npy (int8 [rows, cols] in {-1, 0, 1}) and
NAME_packed.npy (uint8 [rows/4, cols]). The shapes are small and awkward on purpose: widths 1,
3, 5, 7 and 33 (not a multiple of anything the other layouts need), rows 4 to 256.

usage: make_hf2_fixture.py [OUT_DIR]   (default: tests/fixtures/hf2 beside this script's repo)
"""
import os
import sys

import numpy as np

# transformers: "the weights are ternary so can be represented with 2 bits, and they are packed
# in uint8 tensors, hence the number of values per item is 4"
VALUES_PER_ITEM = 4

CASES = {"w8x5": (8, 5), "w12x3": (12, 3), "w256x7": (256, 7), "w4x1": (4, 1), "w20x33": (20, 33)}


def pack_weights(quantized_weights: np.ndarray) -> np.ndarray:
    """transformers' pack_weights with torch replaced by numpy (uint8 shifts stay uint8 in both).

    The original adds 1 in place to its argument (`quantized_weights += 1`); this port works on
    a copy so the caller's array is left alone, which changes nothing in the result.
    """
    original_shape = quantized_weights.shape

    row_dim = (original_shape[0] + VALUES_PER_ITEM - 1) // VALUES_PER_ITEM

    if len(original_shape) == 1:
        packed_tensor_shape = (row_dim,)
    else:
        packed_tensor_shape = (row_dim, *original_shape[1:])

    quantized_weights = quantized_weights + 1
    packed = np.zeros(packed_tensor_shape, dtype=np.uint8)
    unpacked = quantized_weights.astype(np.uint8)

    it = min(VALUES_PER_ITEM, (original_shape[0] // row_dim) + 1)
    for i in range(it):
        start = i * row_dim
        end = min(start + row_dim, original_shape[0])
        packed[: (end - start)] |= unpacked[start:end] << 2 * i
    return packed


def random_ternary(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-1, 2, size=shape).astype(np.int8)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "hf2")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20250517)
    for name, shape in CASES.items():
        w = random_ternary(rng, shape)
        packed = pack_weights(w)
        assert packed.dtype == np.uint8 and packed.shape == (shape[0] // 4, shape[1])
        np.save(os.path.join(out, f"{name}_weight.npy"), w)
        np.save(os.path.join(out, f"{name}_packed.npy"), packed)
        print(f"{name}: weight {list(w.shape)} -> packed {list(packed.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
