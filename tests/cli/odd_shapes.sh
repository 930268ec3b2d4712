#!/usr/bin/env bash
# odd_shapes.sh - a model whose row lengths are no whole number of any block (hidden 400, FFN
# 344, head size 100 as 1bitLLM-3B's): its Hugging Face folder and every GGUF type that can hold
# it (f32, f16, bf16, and i2_s, whose groups run over the flattened tensor) give the same logits
# bit for bit, on every kernel path this CPU runs in both runtime layouts (i2, and t5 where it
# has a kernel; refused by name on AVX2); the TQ types are refused with the tensor and
# the types that fit named, by convert and by quantize.
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
[ -x "$py" ] || { echo "skipped: no .venv (run scripts/deps.sh)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

"$py" "$root/scripts/make_tiny_hf_bitnet.py" "$tmp/hf" --hidden 400 --intermediate 344 >/dev/null
prompt="The quick brown fox, once more: 12345!"
"$bin" logits -m "$tmp/hf" -p "$prompt" --all --out "$tmp/hf.npy" 2>"$tmp/err" ||
    { bad "the HF folder loads: $(cat "$tmp/err")"; exit 1; }
ok "HF folder with rows of 400 and 344 and head size 100 loads"
for t in f32 f16 bf16 i2_s; do
    # (the embeddings as the folder has them, bf16: convert's default f16 would round them)
    if ! "$bin" convert "$tmp/hf" "$tmp/$t.gguf" --type "$t" --embed-type bf16 >/dev/null \
        2>"$tmp/err"; then
        bad "convert --type $t: $(cat "$tmp/err")"; continue
    fi
    for cpu in scalar avx2 avx512; do
        for layout in i2 t5; do
            run=(env BITNET_CPU=$cpu "$bin" logits -m "$tmp/$t.gguf" -p "$prompt" --all
                 --weight-layout $layout --out "$tmp/$t-$cpu-$layout.npy")
            if [ $layout = t5 ] && [ $cpu = avx2 ]; then # no t5v64 kernel on AVX2: refused
                if "${run[@]}" >/dev/null 2>"$tmp/err"; then bad "t5 on avx2 accepted"
                elif grep -q 't5.*no kernel on the avx2 path' "$tmp/err"; then
                    ok "t5 on avx2 refused by name"
                else bad "t5 on avx2: $(cat "$tmp/err")"; fi
                continue
            fi
            "${run[@]}" 2>/dev/null || { bad "$t on $cpu ($layout) does not run"; continue; }
            if cmp -s "$tmp/hf.npy" "$tmp/$t-$cpu-$layout.npy"; then
                ok "$t on $cpu ($layout) = the HF folder"
            else bad "$t on $cpu ($layout) differs from the HF folder"; fi
        done
    done
done
for t in tq2_0 tq1_0; do
    if "$bin" convert "$tmp/hf" "$tmp/$t.gguf" --type "$t" >/dev/null 2>"$tmp/err"; then
        bad "convert --type $t accepted rows of 400"
    elif grep -q "blk.0.attn_q.weight \[400, 400\] cannot be stored as $t.*types that fit this shape: i2_s, f16, bf16, f32" "$tmp/err"; then
        ok "convert --type $t names the tensor and the types that fit"
    else bad "convert --type $t: $(cat "$tmp/err")"; fi
    if "$bin" quantize "$tmp/i2_s.gguf" "$tmp/q-$t.gguf" --type "$t" >/dev/null 2>"$tmp/err"; then
        bad "quantize --type $t accepted rows of 400"
    elif grep -q "cannot be stored as $t" "$tmp/err"; then ok "quantize --type $t refused by name"
    else bad "quantize --type $t: $(cat "$tmp/err")"; fi
done
exit $fail
