#!/usr/bin/env python3
"""Python half of scripts/make_llamacpp_fixtures.sh (see that script and
tests/fixtures/llamacpp/README.md). Needs only numpy and gguf (the project's .venv).

  make_llamacpp_fixtures.py oracle-input OUT.gguf
      Writes the float32 input of the k-quant encoder oracle: a GGUF of architecture 'bitnet'
      (just the hyper-parameters llama-quantize reads: it never builds the model) holding three
      2-D F32 tensors of seeded random data whose names end in '.weight', so that
      `llama-quantize --pure IN OUT TYPE` encodes every one of them to TYPE:

        oracle.normal.weight  [256 x 8]   N(0, 1)
        oracle.wide.weight    [512 x 4]   N(0, 0.02)        (two 256-blocks per row)
        oracle.edge.weight    [256 x 10]  one row per edge case, see EDGE_ROWS

      Shapes are GGUF order [ne0 = row length, rows]. Every row length is a multiple of 256, so
      all types (32- and 256-blocks) apply without llama.cpp's fallback rules.

  make_llamacpp_fixtures.py manifest DIR
      Prints, for every *.gguf under DIR (sorted), its sha256 and each tensor's name, type and
      shape: the MANIFEST.txt of the fixture folder.
"""
import hashlib
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFWriter

SEED = 20250221  # the date of llama.cpp commit c392e50, nothing more

EDGE_ROWS = [
    "all zeros",
    "constant +0.5",
    "all negative: -|N(0,1)|",
    "N(0,1e-3) with outliers x[17]=100, x[200]=-37",
    "tiny: N(0,1)*1e-8 (scales underflow fp16)",
    "exact ternary +-1 alternating",
    "uniform [-1, 1)",
    "first 128 zeros, then N(0,1)*3",
    "large: N(0,1)*1e4",
    "BitNet-like: {-1,0,+1} (uniform) * 0.0123",
]


def oracle_tensors():
    rng = np.random.default_rng(SEED)
    normal = rng.standard_normal((8, 256))
    wide = rng.standard_normal((4, 512)) * 0.02
    edge = np.zeros((len(EDGE_ROWS), 256))
    edge[0] = 0.0
    edge[1] = 0.5
    edge[2] = -np.abs(rng.standard_normal(256))
    edge[3] = rng.standard_normal(256) * 1e-3
    edge[3][17] = 100.0
    edge[3][200] = -37.0
    edge[4] = rng.standard_normal(256) * 1e-8
    edge[5] = np.where(np.arange(256) % 2 == 0, 1.0, -1.0)
    edge[6] = rng.uniform(-1.0, 1.0, 256)
    edge[7][128:] = rng.standard_normal(128) * 3.0
    edge[8] = rng.standard_normal(256) * 1e4
    edge[9] = rng.integers(-1, 2, 256) * 0.0123
    return [
        ("oracle.normal.weight", normal.astype(np.float32)),
        ("oracle.wide.weight", wide.astype(np.float32)),
        ("oracle.edge.weight", edge.astype(np.float32)),
    ]


def write_oracle_input(path):
    w = GGUFWriter(path, "bitnet")
    w.add_name("llamacpp-quant-oracle")
    w.add_description("seeded random float32 rows (seed %d) for llama-quantize --pure; "
                      "oracle.edge.weight rows: %s" % (SEED, "; ".join(EDGE_ROWS)))
    w.add_file_type(0)  # LLAMA_FTYPE_ALL_F32
    # The hyper-parameters llama-quantize's model.load_hparams() reads for 'bitnet'.
    w.add_context_length(512)
    w.add_embedding_length(256)
    w.add_block_count(1)
    w.add_feed_forward_length(512)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    for name, data in oracle_tensors():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def manifest(root):
    files = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            if n.endswith(".gguf"):
                files.append(os.path.join(dirpath, n))
    for path in sorted(files):
        rel = os.path.relpath(path, root)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        print("%s  %s  (%d bytes)" % (digest, rel, os.path.getsize(path)))
        for t in GGUFReader(path).tensors:
            shape = "x".join(str(int(d)) for d in t.shape)
            print("    %-30s %-6s [%s]" % (t.name, t.tensor_type.name, shape))


def main(argv):
    if len(argv) == 3 and argv[1] == "oracle-input":
        write_oracle_input(argv[2])
    elif len(argv) == 3 and argv[1] == "manifest":
        manifest(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
