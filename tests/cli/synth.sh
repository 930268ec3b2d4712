#!/usr/bin/env bash
# synth.sh - `bitnet synth` end to end on the tiny shape: argument errors are one-line usage
# errors (exit 2) that name the choices, the output is what `bitnet info` says a random-tiny
# model is, one seed gives one file, its tokenizer round-trips text through tokenize and
# detokenize, and `bitnet run` generates from it.
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# usage NAME PATTERN ARGS...: exit code 2, and stderr (one line) matches PATTERN
usage() {
    local name="$1" pattern="$2"; shift 2
    local err
    err=$("$bin" synth "$@" 2>&1 >/dev/null)
    local rc=$?
    if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" =~ $pattern ]]; then
        ok "$name"
    else
        fail "$name: exit $rc, stderr [$err]"
    fi
}

usage "unknown shape names the shapes" \
    "unknown shape 'bitnet-9z'.*bitnet-2b4t, bitnet-700m, bitnet-3b, bitnet-xl, llama3-8b-1.58, falcon3-1b-1.58, tiny" \
    --shape bitnet-9z --type tq2_0 "$tmp/x.gguf"
usage "no shape" "want --shape" --type tq2_0 "$tmp/x.gguf"
usage "unknown type" "--type 'q4_k': want tq2_0, tq1_0 or i2_s" --shape tiny --type q4_k "$tmp/x.gguf"
usage "a float type is not ternary" "--type 'f16': want tq2_0, tq1_0 or i2_s" \
    --shape tiny --type f16 "$tmp/x.gguf"
usage "no type" "want --type" --shape tiny "$tmp/x.gguf"
usage "missing OUT" "want the output path" --shape tiny --type tq2_0
usage "bad seed" "seed 'x1' is not a number" --shape tiny --type tq2_0 --seed x1 "$tmp/x.gguf"
usage "negative seed" "seed '-1' is not a number" --shape tiny --type tq2_0 --seed -1 "$tmp/x.gguf"
usage "unknown option" "unknown option '--fast'" --shape tiny --type tq2_0 --fast "$tmp/x.gguf"
usage "two paths" "too many paths" --shape tiny --type tq2_0 "$tmp/x.gguf" "$tmp/y.gguf"
[ ! -e "$tmp/x.gguf" ] && ok "nothing written on usage errors" || fail "a file was written"

"$bin" synth --help | grep -q "bitnet-2b4t .*microsoft/bitnet-b1.58-2B-4T" &&
    ok "--help lists the shapes" || fail "--help lists the shapes"
err=$("$bin" synth --shape tiny --type tq2_0 "$tmp/no/such/dir/x.gguf" 2>&1 >/dev/null)
rc=$?
[ $rc -eq 1 ] && [[ "$err" == "bitnet: error: "* ]] && ok "unwritable path: exit 1, one message" ||
    fail "unwritable path: exit $rc [$err]"

for t in tq2_0 tq1_0 i2_s; do
    if "$bin" synth --shape tiny --type $t --seed 5 "$tmp/$t.gguf" | grep -q "^wrote .*random-tiny, $t"; then
        ok "synth tiny $t"
    else
        fail "synth tiny $t"
    fi
done
info() { # info PATH ASSERTIONS over d (bitnet info --json)
    "$bin" info --json "$1" | python3 -c "
import json, sys
d = json.load(sys.stdin)
t = {x['name']: x for x in d['tensors']}
$2
"
}
info "$tmp/tq2_0.gguf" "
assert d['name'] == 'random-tiny' and d['architecture'] == 'bitnet', d['name']
assert (d['hidden_size'], d['intermediate_size'], d['num_layers']) == (256, 512, 2), d
assert (d['num_heads'], d['num_kv_heads'], d['head_dim'], d['vocab_size']) == (4, 2, 64, 512), d
assert d['context_length'] == 512 and d['hidden_act'] == 'relu2' and d['tie_word_embeddings']
k = d['tokenizer']
assert k['model'] == 'gpt2' and k['pre'] == 'llama-bpe' and k['vocab_size'] == 512, k
assert k['bos_id'] == 496 and k['eot_id'] == 505, k
assert t['blk.1.ffn_down.weight']['dtype'] == 'tq2_0' and t['blk.1.ffn_down.weight']['shape'] == [256, 512]
assert t['blk.1.ffn_down.scale']['shape'] == [1] and t['token_embd.weight']['dtype'] == 'f16'
assert 'output.weight' not in t and len(t) == 1 + 2 * (4 + 14) + 1, len(t)
" && ok "info: tq2_0 file" || fail "info: tq2_0 file"
info "$tmp/i2_s.gguf" "
assert d['name'] == 'random-tiny' and d['architecture'] == 'bitnet-b1.58', d['architecture']
assert t['blk.0.attn_q.weight']['dtype'] == 'i2_s' and 'blk.0.attn_q.scale' not in t
" && ok "info: i2_s file (bitnet.cpp's architecture name, no .scale tensors)" || fail "info: i2_s file"

"$bin" synth --shape tiny --type tq2_0 --seed 5 "$tmp/again.gguf" >/dev/null
"$bin" synth --shape tiny --type tq2_0 --seed 6 "$tmp/other.gguf" >/dev/null
cmp -s "$tmp/tq2_0.gguf" "$tmp/again.gguf" && ok "same seed, same bytes" || fail "same seed, same bytes"
cmp -s "$tmp/tq2_0.gguf" "$tmp/other.gguf" && fail "other seed, other bytes" || ok "other seed, other bytes"

text="The bridge has three arches; it's still standing (since 1874)."
ids=$("$bin" tokenize --json --no-bos -m "$tmp/tq1_0.gguf" "$text" | sed -n 's/.*"ids": \[\([^]]*\)\].*/\1/p' | tr -d ' ')
back=$("$bin" detokenize -m "$tmp/tq1_0.gguf" "$ids")
[ "$back" == "$text" ] && ok "tokenize/detokenize round trip" || fail "round trip: [$back] from [$ids]"

out=$("$bin" run -m "$tmp/i2_s.gguf" -p "Hello" -n 4 --temp 0 -t 1 2>/dev/null)
[ $? -eq 0 ] && ok "run generates" || fail "run: [$out]"

echo "$((22 - fails)) passed, $fails failed"
exit $((fails > 0))
