#!/usr/bin/env bash
# info.sh - `bitnet info` on the tiny Hugging Face BitNet folder (packed 2B-4T layout, made by
# scripts/make_tiny_hf_bitnet.py) and on a small GGUF: hyper-parameters, tokenizer summary,
# tensor table and bits per weight are the known values.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
fails=0
check() {
    local name="$1"; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
py() { # py PATH ASSERTIONS: run bitnet info --json PATH and assert in Python over d
    "$bin" info --json "$1" | python3 -c "
import json, sys
d = json.load(sys.stdin)
t = {x['name']: x for x in d['tensors']}
$2
"
}

check "HF packed folder: hyper-parameters" py "$fx/tiny-bitnet-hf" "
assert d['format'] == 'huggingface' and d['architecture'] == 'bitnet'
assert d['hf_architecture'] == 'BitNetForCausalLM'
assert (d['hidden_size'], d['intermediate_size'], d['num_layers']) == (256, 512, 2), d
assert (d['num_heads'], d['num_kv_heads'], d['head_dim'], d['vocab_size']) == (4, 2, 64, 272), d
assert d['context_length'] == 512 and d['rope_theta'] == 500000 and d['hidden_act'] == 'relu2'
assert abs(d['rms_norm_eps'] - 1e-5) < 1e-12 and d['tie_word_embeddings'] is True
assert d['quantization'] == 'bitnet autobitlinear offline', d['quantization']"
check "HF packed folder: tokenizer summary" py "$fx/tiny-bitnet-hf" "
k = d['tokenizer']
assert k['model'] == 'BPE' and k['vocab_size'] == 272 and k['bos_id'] == 268, k
assert k['eos_ids'] == [269, 271], k['eos_ids']"
check "HF packed folder: tensor table" py "$fx/tiny-bitnet-hf" "
assert len(d['tensors']) == 2 + 2 * (4 + 7 * 2), len(d['tensors'])
q = t['model.layers.0.self_attn.q_proj.weight']
assert q['dtype'] == 'hf2' and q['shape'] == [256, 256] and q['bytes'] == 64 * 256, q
k = t['model.layers.1.self_attn.k_proj.weight']
assert k['dtype'] == 'hf2' and k['shape'] == [128, 256] and k['bytes'] == 32 * 256, k
dn = t['model.layers.0.mlp.down_proj.weight']
assert dn['shape'] == [256, 512] and dn['bytes'] == 64 * 512, dn
s = t['model.layers.0.mlp.down_proj.weight_scale']
assert s['dtype'] == 'bf16' and s['shape'] == [1] and s['bytes'] == 2, s
e = t['model.embed_tokens.weight']
assert e['dtype'] == 'bf16' and e['shape'] == [272, 256] and e['bytes'] == 272 * 256 * 2, e
# per layer: q,o 256x256; k,v 128x256; gate,up 512x256; down 256x512
w = 2 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 512 * 256)
tot = d['totals']
assert tot['linear_parameters'] == w, (tot, w)
assert tot['linear_bytes'] == w // 4 + 2 * 7 * 2, tot
assert abs(tot['linear_bits_per_weight'] - 8 * (w / 4 + 28) / w) < 1e-9"
check "HF bf16 master folder: online, bf16 linear weights" py "$fx/tiny-bitnet-hf-bf16" "
assert d['quantization'] == 'bitnet autobitlinear online', d['quantization']
q = t['model.layers.0.self_attn.q_proj.weight']
assert q['dtype'] == 'bf16' and q['shape'] == [256, 256] and q['bytes'] == 256 * 256 * 2, q
assert abs(d['totals']['linear_bits_per_weight'] - 16) < 1e-9"
check "GGUF: shapes outermost first, tensor bytes" py "$fx/good-small.gguf" "
assert d['format'] == 'gguf' and d['architecture'] == 'bitnet'
assert d['num_layers'] == 1 and d['tokenizer']['vocab_size'] == 2
a = t['a.weight']
assert a['dtype'] == 'f32' and a['shape'] == [2, 4] and a['bytes'] == 32, a
assert any('silu' in n for n in d['notes']), d['notes']"
check "text output names the linear bits" bash -c "'$bin' info '$fx/tiny-bitnet-hf' | grep -Eq '^linear layers: .* bits per weight'"
check "missing path is a one-line error" bash -c "'$bin' info /nonexistent 2>&1 >/dev/null | grep -q 'no such file or folder'"
check "no path is a usage error (exit 2)" bash -c "'$bin' info 2>/dev/null; test \$? -eq 2"
echo "$((8 - fails)) passed, $fails failed"
exit $((fails > 0))
