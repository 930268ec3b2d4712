#!/usr/bin/env bash
# make_train_export_fixture.sh - recreate tests/fixtures/train-export/: a model trained and
# exported by our CLI as a Hugging Face folder, and the logits transformers computes from that
# folder, which test_train_export.c holds the engine to (so CI checks the export against
# transformers without installing PyTorch).
#
#   scripts/make_train_export_fixture.sh BITNET [OUT_DIR]
#
#   BITNET   our CLI (build/bin/bitnet): `train` and `export --hf` make the folder
#   OUT_DIR  default tests/fixtures/train-export
#
# transformers runs through scripts/train_reference.py hf-logits with $TORCH_PYTHON (default
# /work/torchvenv/bin/python: a venv with torch, transformers, accelerate, safetensors; never the
# repository's .venv). The logits are stored as safetensors by $PYTHON (default .venv/bin/python,
# numpy and safetensors, made by scripts/deps.sh).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BITNET=$(realpath "$1")
OUT=${2:-$ROOT/tests/fixtures/train-export}
TORCH_PYTHON=${TORCH_PYTHON:-/work/torchvenv/bin/python}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/config.json" <<JSON
{"model": {"dim": 256, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 512, "context": 64},
 "tokenizer": "$ROOT/tests/fixtures/tiny-bitnet-hf/tokenizer.json",
 "data": {"text": ["$ROOT/configs/text/persuasion.txt"], "val_fraction": 0.1},
 "out": "$tmp/run", "steps": 40, "batch": 8, "seed": 11, "threads": 1,
 "optim": {"lr": 5e-3, "lr_cooldown": 2e-3, "warmup": 5}, "eval": {"every": 40}}
JSON
"$BITNET" train "$tmp/config.json"
rm -rf "$OUT"
mkdir -p "$OUT"
"$BITNET" export "$tmp/run" --hf "$OUT/hf"
echo '[1, 40, 77, 120, 33, 200, 5, 61, 77, 150, 12, 13, 99, 250, 8, 44]' > "$tmp/ids.json"
"$TORCH_PYTHON" "$ROOT/scripts/train_reference.py" hf-logits "$OUT/hf" "$tmp/ids.json" "$tmp/hf.npy"
"$PYTHON" - "$tmp/ids.json" "$tmp/hf.npy" "$OUT/transformers-logits.safetensors" <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import save_file
ids = np.array(json.load(open(sys.argv[1])), dtype=np.int32)
logits = np.load(sys.argv[2]).astype(np.float32)
assert logits.shape == (len(ids), logits.shape[1])
save_file({"ids": ids, "logits": logits}, sys.argv[3], metadata={"made_by": "scripts/make_train_export_fixture.sh"})
PY
echo "wrote $OUT"
