#!/usr/bin/env bash
# model_shapes.sh - the named synthetic shapes whose rows are no whole number of blocks
# (bitnet-3b: hidden 3200, FFN 8640, head size 100; bitnet-xl: FFN 5460) and the no-sub-norm
# Llama/Falcon shapes (llama3-8b-1.58: untied 128256-row head, GQA 32/8; falcon3-1b-1.58: head
# size 256): each written as i2_s, loaded, and generating greedily; the TQ types refuse the
# first two by name.
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for s in bitnet-3b bitnet-xl falcon3-1b-1.58 llama3-8b-1.58; do
    if ! "$bin" synth --shape "$s" --type i2_s "$tmp/m.gguf" >/dev/null 2>"$tmp/err"; then
        echo "FAIL: synth $s: $(cat "$tmp/err")"; fail=1; continue
    fi
    if out=$("$bin" run -m "$tmp/m.gguf" -p "hello there" -n 4 --temp 0 --ignore-eos 2>"$tmp/err") &&
        grep -q "generation: 4 tokens" "$tmp/err"; then
        echo "ok: $s runs ($(grep -o 'generation: .*tokens/s' "$tmp/err"))"
    else echo "FAIL: run $s: $(tail -2 "$tmp/err")"; fail=1; fi
    rm -f "$tmp/m.gguf"
done
for s in bitnet-3b bitnet-xl; do
    if "$bin" synth --shape "$s" --type tq2_0 "$tmp/m.gguf" 2>"$tmp/err"; then
        echo "FAIL: $s as tq2_0 accepted"; fail=1
    elif grep -q "cannot be stored as tq2_0.*types that fit this shape: i2_s" "$tmp/err"; then
        echo "ok: $s as tq2_0 refused, naming i2_s"
    else echo "FAIL: $s tq2_0 message: $(cat "$tmp/err")"; fail=1; fi
done
exit $fail
