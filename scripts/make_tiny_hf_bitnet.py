#!/usr/bin/env python3
"""Write a tiny Hugging Face BitNet folder in microsoft/bitnet-b1.58-2B-4T's packed layout.

Random weights, real structure: config.json (model_type bitnet, autobitlinear/offline),
generation_config.json, model.safetensors (uint8 [out/4, in] packed ternary weights with a bf16
weight_scale[1] each, bf16 embeddings and norms, tied head), a byte-level BPE tokenizer.json and
tokenizer_config.json. Packing re-implements transformers' integrations/bitnet.py pack_weights in
numpy (codes w+1, block-strided along output rows: row i*R+p sits in bits 2i of packed row p).
The safetensors file is written here by hand (numpy has no bfloat16), independently of libbitnet.

usage: make_tiny_hf_bitnet.py OUT_DIR [--variant packed|bf16] [--seed N] [--hidden H]
                              [--intermediate I] [--linear-class autobitlinear|bitlinear]
  packed: ternary weights packed as above (quantization_mode offline)
  bf16:   float "master" weights in bf16 (quantization_mode online; absmean at load)
"""
import argparse
import json
import os
import struct

import numpy as np

CONFIG = dict(vocab_size=272, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
              rms_norm_eps=1e-5, rope_theta=500000.0, hidden_act="relu2", tie_word_embeddings=True,
              bos_token_id=268, eos_token_id=269)
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|eot_id|>"]


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (facts §2.2)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: i for i, b in enumerate(sorted(b2u))}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"),
              ("o", "n"), ("Ġ", "s"), ("r", "e"), ("Ġ", "w"), ("a", "t"), ("in", "g")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    assert len(vocab) == 268
    added = [{"id": 268 + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    split = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
             "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": SPECIALS[0], "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {SPECIALS[0]: {"id": SPECIALS[0], "ids": [268],
                                                            "tokens": [SPECIALS[0]]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }


def to_bf16(x):
    """float32 -> bfloat16 bits, round to nearest even (as torch does)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def absmean_ternary(w):
    """BitNet b1.58 weight quantizer: gamma = mean|W| (>= 1e-5), round half to even, clamp."""
    gamma = max(float(np.mean(np.abs(w), dtype=np.float32)), 1e-5)
    return np.clip(np.round(w / np.float32(gamma)), -1, 1).astype(np.int8), np.float32(gamma)


def pack_weights(t):
    """transformers' pack_weights: int8 {-1,0,1} [out, in] -> uint8 [ceil(out/4), in]."""
    out = t.shape[0]
    rows = (out + 3) // 4
    codes = (t.astype(np.int16) + 1).astype(np.uint8)
    packed = np.zeros((rows,) + t.shape[1:], dtype=np.uint8)
    for i in range(min(4, out // rows + 1)):
        start, end = i * rows, min(i * rows + rows, out)
        packed[: end - start] |= codes[start:end] << (2 * i)
    return packed


def write_safetensors(path, tensors, metadata):
    """tensors: name -> (dtype string, shape, bytes)."""
    header = {"__metadata__": metadata}
    offset = 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(tensors[name][2])


def linear_shapes(c):
    h, i, d = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * d
    return {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
            "self_attn.o_proj": (h, h), "mlp.gate_proj": (i, h), "mlp.up_proj": (i, h),
            "mlp.down_proj": (h, i)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--variant", choices=["packed", "bf16"], default="packed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=CONFIG["hidden_size"])
    ap.add_argument("--intermediate", type=int, default=CONFIG["intermediate_size"])
    ap.add_argument("--linear-class", choices=["autobitlinear", "bitlinear"], default="autobitlinear")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    c = dict(CONFIG, hidden_size=args.hidden, intermediate_size=args.intermediate)
    os.makedirs(args.out, exist_ok=True)
    tensors = {}

    def bf16(name, arr):
        tensors[name] = ("BF16", arr.shape, to_bf16(arr).tobytes())

    bf16("model.embed_tokens.weight", rng.standard_normal((c["vocab_size"], c["hidden_size"])).astype(np.float32))
    bf16("model.norm.weight", (1 + 0.1 * rng.standard_normal(c["hidden_size"])).astype(np.float32))
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for norm, n in (("input_layernorm", c["hidden_size"]), ("post_attention_layernorm", c["hidden_size"]),
                        ("self_attn.attn_sub_norm", c["hidden_size"]), ("mlp.ffn_sub_norm", c["intermediate_size"])):
            bf16(p + norm + ".weight", (1 + 0.1 * rng.standard_normal(n)).astype(np.float32))
        for lin, shape in linear_shapes(c).items():
            master = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0)).astype(np.float32)
            if args.variant == "bf16":
                bf16(p + lin + ".weight", master)
                continue
            # Quantize what the checkpoint would hold: the bf16 master, as transformers does.
            master_bf16 = (to_bf16(master).astype(np.uint32) << 16).view(np.float32)
            ternary, gamma = absmean_ternary(master_bf16)
            packed = pack_weights(ternary)
            tensors[p + lin + ".weight"] = ("U8", packed.shape, packed.tobytes())
            # autobitlinear stores gamma; the older bitlinear class stores 1/gamma (Trap 1)
            stored = gamma if args.linear_class == "autobitlinear" else np.float32(1) / gamma
            bf16(p + lin + ".weight_scale", np.array([stored], dtype=np.float32))
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors, {"format": "pt"})

    config = dict(architectures=["BitNetForCausalLM"], model_type="bitnet", torch_dtype="bfloat16",
                  attention_bias=False, initializer_range=0.02,
                  quantization_config={"quant_method": "bitnet", "linear_class": args.linear_class,
                                       "quantization_mode": "offline" if args.variant == "packed" else "online"},
                  **c)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 268, "eos_token_id": [269, 271], "do_sample": False}, f, indent=2)
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    template = ("{% for message in messages %}{{ message['role'] | capitalize }}: "
                "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
                "{% if add_generation_prompt %}Assistant: {% endif %}")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": SPECIALS[0], "eos_token": SPECIALS[1], "chat_template": "{{ bos_token }}" + template,
                   "model_max_length": c["max_position_embeddings"], "tokenizer_class": "PreTrainedTokenizerFast"},
                  f, indent=2)


if __name__ == "__main__":
    main()
