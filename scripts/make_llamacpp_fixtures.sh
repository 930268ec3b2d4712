#!/usr/bin/env bash
# make_llamacpp_fixtures.sh - recreate tests/fixtures/llamacpp/ (GGUF files written by
# llama.cpp's own llama-quantize) from our tiny Hugging Face fixtures.
#
#   scripts/make_llamacpp_fixtures.sh LLAMA_QUANTIZE BITNET [OUT_DIR]
#
#   LLAMA_QUANTIZE  an already-built llama.cpp llama-quantize (the fixtures were made with
#                   llama.cpp commit c392e5094deaf2d1a7c18683214f007fad3fe42b, CPU build)
#   BITNET          our CLI (build/bin/bitnet): its `convert` makes the F16 input GGUFs
#   OUT_DIR         default tests/fixtures/llamacpp
#
# This script neither fetches nor builds llama.cpp. The random-data step and MANIFEST.txt use
# scripts/make_llamacpp_fixtures.py with $PYTHON (default: the project's .venv/bin/python, which
# has numpy and gguf; scripts/deps.sh makes it). What each file is: tests/fixtures/llamacpp/README.md.
set -euo pipefail

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LQ=$(realpath "$1")
BITNET=$(realpath "$2")
OUT=${3:-$ROOT/tests/fixtures/llamacpp}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
PYSCRIPT=$ROOT/scripts/make_llamacpp_fixtures.py
FIX=$ROOT/tests/fixtures

for x in "$LQ" "$BITNET" "$PYTHON"; do
    [ -x "$x" ] || { echo "not an executable: $x" >&2; exit 1; }
done
mkdir -p "$OUT/oracle"
OUT=$(cd "$OUT" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Run llama-quantize quietly; show its log only when it fails.
quant() {
    if ! "$LQ" "$@" >"$tmp/quant.log" 2>&1; then
        cat "$tmp/quant.log" >&2
        echo "llama-quantize failed: $*" >&2
        exit 1
    fi
    grep -h "fallback\|WARNING" "$tmp/quant.log" >&2 || true
}

convert() {
    if ! "$BITNET" convert "$@" >"$tmp/convert.log" 2>&1; then
        cat "$tmp/convert.log" >&2
        echo "bitnet convert failed: $*" >&2
        exit 1
    fi
}

# A. Tied embeddings (2B-4T-style BitNetForCausalLM): F16 GGUF from our converter, then
#    llama-quantize's default TQ2_0 recipe (token_embd -> Q6_K as the tied output).
echo "A: tiny-bitnet-hf -> tiny-bitnet-tq2_0.gguf"
convert "$FIX/tiny-bitnet-hf" "$tmp/tiny-bitnet-f16.gguf" --type f16
quant "$tmp/tiny-bitnet-f16.gguf" "$OUT/tiny-bitnet-tq2_0.gguf" TQ2_0

# B. Untied float head (HF1BitLLM/Falcon3-style LlamaForCausalLM): default recipe, and the
#    recipe with the embedding and head types llama.cpp picks for arches that know 'output'.
echo "B: variant-llama-bitlinear -> variant-llama-bitlinear-tq2_0{,-embq4k-headq6k}.gguf"
convert "$FIX/variant-llama-bitlinear" "$tmp/variant-llama-f16.gguf" --type f16 --head-type f16
quant "$tmp/variant-llama-f16.gguf" "$OUT/variant-llama-bitlinear-tq2_0.gguf" TQ2_0
quant --token-embedding-type q4_k --output-tensor-type q6_k \
    "$tmp/variant-llama-f16.gguf" "$OUT/variant-llama-bitlinear-tq2_0-embq4k-headq6k.gguf" TQ2_0

# C. Encoder oracle: seeded random float32 tensors, every 2-D tensor encoded to one type
#    (--pure: no k-quant mixture). llama-quantize type names; the file takes the ggml name.
echo "C: oracle/oracle-f32.gguf -> oracle/oracle-<type>.gguf"
"$PYTHON" "$PYSCRIPT" oracle-input "$OUT/oracle/oracle-f32.gguf"
for pair in q4_0:Q4_0 q4_1:Q4_1 q5_0:Q5_0 q5_1:Q5_1 q8_0:Q8_0 \
            q2_k:Q2_K q3_k:Q3_K_M q4_k:Q4_K_M q5_k:Q5_K_M q6_k:Q6_K \
            iq4_nl:IQ4_NL tq1_0:TQ1_0 tq2_0:TQ2_0; do
    quant --pure "$OUT/oracle/oracle-f32.gguf" "$OUT/oracle/oracle-${pair%%:*}.gguf" "${pair#*:}"
done

"$PYTHON" "$PYSCRIPT" manifest "$OUT" > "$OUT/MANIFEST.txt"
echo "wrote $OUT (tensor types and sha256: $OUT/MANIFEST.txt)"
