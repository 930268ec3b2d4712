"""`bitnet convert` of the tiny Hugging Face BitNet folders, checked with the `gguf` package.

- The GGUF is read by gguf.GGUFReader with llama.cpp's keys and tensor names, and the tokenizer
  copied from tokenizer.json (tokens, types, merges, specials, add_bos, pre, chat template).
- Linear layers: the ternary values and the per-tensor scale read back from the GGUF (TQ2_0,
  TQ1_0 through gguf.quants.dequantize and the .scale tensors; I2_S decoded here from its layout;
  f32 as values) equal the source's: the packed checkpoint's unpacked codes and weight_scale
  (autobitlinear multiplies, bitlinear divides), or, for the bf16 master variant, transformers'
  online absmean quantization re-implemented here in numpy float32.
- --report --json numbers equal numpy's.
- Bad input: unknown types, shapes the type cannot hold, missing tensors, mismatched scales:
  a clear error and no output file.
- The other Hugging Face variants (tests/fixtures/variant-*, scripts/make_variant_fixtures.py):
  LLaMA bitlinear (no sub-norms, silu, bf16 lm_head kept as output.weight bit for bit), BitNet
  bitlinear, 1bitLLM (fp16 latent weights, inner_attn_ln / ffn_layernorm as the sub-norms).

usage: test_convert.py BITNET WORKDIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
from harness import report
from gguf import GGUFReader
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as Q

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
SCRIPTS = os.path.join(HERE, "..", "..", "scripts")
LINEARS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
           "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
           "mlp.down_proj": "ffn_down"}


def read_safetensors(path):
    """name -> float32/uint8 numpy array, reading BF16 by hand (numpy has no bfloat16)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, {"U8": np.uint8, "F32": np.float32, "F16": np.float16}[t["dtype"]])
        out[name] = arr.reshape(t["shape"])
    return out


def unpack_hf2(packed):
    """transformers' unpack_weights: row i*R + p is bits 2i of packed row p, minus 1."""
    rows = packed.shape[0]
    out = np.zeros((4 * rows,) + packed.shape[1:], np.int8)
    for i in range(4):
        out[i * rows:(i + 1) * rows] = ((packed >> (2 * i)) & 3).astype(np.int8) - 1
    return out


def online_quant(w):
    """transformers' WeightQuant in float32 (gamma as the correctly rounded mean)."""
    gamma = np.float32(max(np.mean(np.abs(w.astype(np.float64))), 1e-5))
    inv = np.float32(1) / gamma
    return np.clip(np.round((w * inv).astype(np.float32)), -1, 1).astype(np.int8), gamma


def source_ternary(src, cfg, layer, mod):
    base = f"model.layers.{layer}.{mod}"
    w = src[base + ".weight"]
    if w.dtype == np.uint8:
        ws = np.float32(src[base + ".weight_scale"].reshape(-1)[0])
        cls = cfg["quantization_config"].get("linear_class", "bitlinear")
        return unpack_hf2(w), (ws if cls == "autobitlinear" else np.float32(1) / ws)
    return online_quant(np.asarray(w, np.float32))


def decode_i2s(raw, rows, cols):
    n = rows * cols
    codes = raw[: n // 4].reshape(-1, 32)
    vals = np.zeros((codes.shape[0], 128), np.int8)
    for j, shift in enumerate((6, 4, 2, 0)):
        vals[:, 32 * j:32 * (j + 1)] = ((codes >> shift) & 3).astype(np.int8) - 1
    scale = np.frombuffer(raw[n // 4:n // 4 + 4].tobytes(), np.float32)[0]
    return vals.reshape(rows, cols), scale


def gguf_ternary(r, name, typ, rows, cols):
    t = {x.name: x for x in r.tensors}[name]
    raw = np.asarray(t.data).reshape(-1).view(np.uint8)
    if typ in ("tq2_0", "tq1_0"):
        vals = dequantize(raw, Q.TQ2_0 if typ == "tq2_0" else Q.TQ1_0).reshape(rows, cols)
        scale = np.asarray({x.name: x for x in r.tensors}[name.replace(".weight", ".scale")].data)[0]
        return vals.astype(np.int8), np.float32(scale)
    if typ == "i2_s":
        return decode_i2s(raw, rows, cols)
    vals = np.asarray(t.data).astype(np.float32).reshape(rows, cols)
    scale = np.float32(np.max(np.abs(vals)))
    return np.sign(vals).astype(np.int8), scale


class _Field:
    def __init__(self, value):
        self.value = value

    def contents(self):
        return self.value


class _Tensor:
    def __init__(self, name, ggml_type, ne, data):
        self.name, self.tensor_type, self.shape, self.data = name, ggml_type, ne, data


class MiniGGUF:
    """A small independent GGUF reader for files gguf-py refuses: it does not know bitnet.cpp's
    I2_S (type 36). Same surface as GGUFReader for what check_file uses."""

    def __init__(self, path):
        b = open(path, "rb").read()
        self.pos = 0
        self.b = b
        magic, version, n_t, n_kv = struct.unpack_from("<IIQQ", b, 0)
        assert magic == 0x46554747 and version == 3
        self.pos = 24
        self.fields = {}
        for _ in range(n_kv):
            key = self.str()
            self.fields[key] = _Field(self.value(self.u32()))
        infos = []
        for _ in range(n_t):
            name = self.str()
            nd = self.u32()
            ne = list(struct.unpack_from(f"<{nd}Q", b, self.pos))
            self.pos += 8 * nd
            typ, off = struct.unpack_from("<IQ", b, self.pos)
            self.pos += 12
            infos.append((name, typ, ne, off))
        align = self.fields["general.alignment"].contents() if "general.alignment" in self.fields else 32
        start = (self.pos + align - 1) // align * align
        self.tensors = []
        for name, typ, ne, off in infos:
            n = int(np.prod(ne))
            size = n // 4 + 32 if typ == 36 else n * GGML_QUANT_SIZES[Q(typ)][1] // GGML_QUANT_SIZES[Q(typ)][0]
            raw = np.frombuffer(b, np.uint8, size, start + off)
            data = raw.view(np.float32) if typ == 0 else raw
            self.tensors.append(_Tensor(name, typ, ne, data))

    def u32(self):
        v = struct.unpack_from("<I", self.b, self.pos)[0]
        self.pos += 4
        return v

    def str(self):
        n = struct.unpack_from("<Q", self.b, self.pos)[0]
        s = self.b[self.pos + 8:self.pos + 8 + n].decode("utf-8")
        self.pos += 8 + n
        return s

    def value(self, t):
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
        if t in fmt:
            v = struct.unpack_from("<" + fmt[t], self.b, self.pos)[0]
            self.pos += struct.calcsize(fmt[t])
            return v
        if t == 8:
            return self.str()
        et, n = struct.unpack_from("<IQ", self.b, self.pos)
        self.pos += 12
        return [self.value(et) for _ in range(n)]


def check_file(errs, what, out, src_dir, typ):
    cfg = json.load(open(os.path.join(src_dir, "config.json")))
    tok = json.load(open(os.path.join(src_dir, "tokenizer.json")))
    src = read_safetensors(os.path.join(src_dir, "model.safetensors"))
    r = MiniGGUF(out) if typ == "i2_s" else GGUFReader(out)
    arch = "bitnet-b1.58" if typ == "i2_s" else "bitnet"
    want = {"general.architecture": arch, f"{arch}.block_count": cfg["num_hidden_layers"],
            f"{arch}.embedding_length": cfg["hidden_size"], f"{arch}.feed_forward_length": cfg["intermediate_size"],
            f"{arch}.attention.head_count": cfg["num_attention_heads"],
            f"{arch}.attention.head_count_kv": cfg["num_key_value_heads"],
            f"{arch}.context_length": cfg["max_position_embeddings"], f"{arch}.vocab_size": cfg["vocab_size"],
            f"{arch}.rope.dimension_count": cfg["hidden_size"] // cfg["num_attention_heads"],
            f"{arch}.hidden_activation": "relu2", "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 268,
            "tokenizer.ggml.eos_token_id": 269, "tokenizer.ggml.eot_token_id": 271,
            "tokenizer.ggml.add_bos_token": True}
    for k, v in want.items():
        if k not in r.fields or r.fields[k].contents() != v:
            errs.append(f"{what}: key {k} = {r.fields[k].contents() if k in r.fields else None}, want {v}")
    for k, v in ((f"{arch}.rope.freq_base", cfg["rope_theta"]), (f"{arch}.attention.layer_norm_rms_epsilon", cfg["rms_norm_eps"])):
        if abs(r.fields[k].contents() - v) > 1e-6 * abs(v):
            errs.append(f"{what}: key {k} = {r.fields[k].contents()}, want {v}")
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    vocab = {i: s for s, i in tok["model"]["vocab"].items()}
    vocab.update({a["id"]: a["content"] for a in tok["added_tokens"]})
    if tokens != [vocab[i] for i in range(len(vocab))]:
        errs.append(f"{what}: tokenizer.ggml.tokens differ from tokenizer.json")
    types = r.fields["tokenizer.ggml.token_type"].contents()
    if types[:268] != [1] * 268 or types[268:] != [3] * 4:
        errs.append(f"{what}: token types {types[260:]}")
    merges = r.fields["tokenizer.ggml.merges"].contents()
    if merges != [" ".join(m) for m in tok["model"]["merges"]]:
        errs.append(f"{what}: merges differ")
    if "tokenizer.chat_template" not in r.fields:
        errs.append(f"{what}: no chat template")
    names = {t.name for t in r.tensors}
    h, f, kv = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_key_value_heads"] * (cfg["hidden_size"] // cfg["num_attention_heads"])
    shapes = {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
              "self_attn.o_proj": (h, h), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h), "mlp.down_proj": (h, f)}
    for layer in range(cfg["num_hidden_layers"]):
        for n in ("attn_norm", "ffn_norm", "attn_sub_norm", "ffn_sub_norm"):
            if f"blk.{layer}.{n}.weight" not in names:
                errs.append(f"{what}: missing blk.{layer}.{n}.weight")
        for mod, g in LINEARS.items():
            rows, cols = shapes[mod]
            t_src, s_src = source_ternary(src, cfg, layer, mod)
            t_out, s_out = gguf_ternary(r, f"blk.{layer}.{g}.weight", typ, rows, cols)
            if not np.array_equal(t_src, t_out):
                errs.append(f"{what}: blk.{layer}.{g}: {np.sum(t_src != t_out)} ternary values differ")
            if typ != "f16" and s_src != s_out:
                errs.append(f"{what}: blk.{layer}.{g}: scale {s_out!r} want {s_src!r}")
    if "token_embd.weight" not in names or "output_norm.weight" not in names or "output.weight" in names:
        errs.append(f"{what}: embedding/output tensors wrong: {sorted(names)[:5]}")


def run(bitnet, *args):
    return subprocess.run([bitnet, *args], capture_output=True, text=True)


def main():
    bitnet, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    results = []
    packed, master = os.path.join(FIX, "tiny-bitnet-hf"), os.path.join(FIX, "tiny-bitnet-hf-bf16")
    for src, label in ((packed, "packed"), (master, "bf16 master")):
        for typ in ("tq2_0", "tq1_0", "i2_s", "f32"):
            out = os.path.join(work, f"{label.split()[0]}-{typ}.gguf")
            p = run(bitnet, "convert", src, out, "--type", typ)
            errs = [] if p.returncode == 0 else [f"exit {p.returncode}: {p.stderr.strip()}"]
            if not errs:
                check_file(errs, f"{label} -> {typ}", out, src, typ)
            results.append((f"convert {label} -> {typ}", errs))
    # bitlinear checkpoints store 1/gamma: made here with the fixture script
    bl = os.path.join(work, "bitlinear")
    subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_tiny_hf_bitnet.py"), bl, "--linear-class", "bitlinear"], check=True)
    out = os.path.join(work, "bitlinear.gguf")
    p = run(bitnet, "convert", bl, out)
    errs = [] if p.returncode == 0 else [f"exit {p.returncode}: {p.stderr.strip()}"]
    if not errs:
        check_file(errs, "bitlinear -> tq2_0", out, bl, "tq2_0")
    results.append(("convert bitlinear (inverted scale) -> tq2_0", errs))

    # the bf16 master variant against transformers' own online quantization (fixture made with
    # torch + transformers by scripts/make_online_quant_fixture.py)
    ref = np.load(os.path.join(FIX, "online-quant", "online_quant.npz"))
    r = GGUFReader(os.path.join(work, "bf16-tq2_0.gguf"))
    errs = []
    cfg = json.load(open(os.path.join(master, "config.json")))
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    shapes = {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
              "self_attn.o_proj": (h, h), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h), "mlp.down_proj": (h, f)}
    for layer in range(cfg["num_hidden_layers"]):
        for mod, g in LINEARS.items():
            name = f"model.layers.{layer}.{mod}.weight"
            t, gamma = gguf_ternary(r, f"blk.{layer}.{g}.weight", "tq2_0", *shapes[mod])
            if not np.array_equal(t, ref[name + ".t"]):
                errs.append(f"{name}: {np.sum(t != ref[name + '.t'])} codes differ from transformers'")
            # torch sums in float32 in its own order: allow its last-ulp difference in the mean
            if abs(gamma - ref[name + ".gamma"]) > 2 * np.spacing(ref[name + ".gamma"]):
                errs.append(f"{name}: gamma {gamma!r} vs transformers' {ref[name + '.gamma']!r}")
    results.append(("bf16 master -> tq2_0 equals transformers' online quantization", errs))

    # --report --json against numpy
    p = run(bitnet, "convert", master, os.path.join(work, "report.gguf"), "--type", "tq2_0", "--report", "--json")
    errs = [] if p.returncode == 0 else [f"exit {p.returncode}: {p.stderr.strip()}"]
    if not errs:
        rep = {t["name"]: t for t in json.loads(p.stdout)["tensors"]}
        src = read_safetensors(os.path.join(master, "model.safetensors"))
        for layer in range(2):
            for mod, g in LINEARS.items():
                w = src[f"model.layers.{layer}.{mod}.weight"].astype(np.float64)
                t, gamma = online_quant(src[f"model.layers.{layer}.{mod}.weight"])
                a = t.astype(np.float64) * np.float64(gamma)  # t * gamma is exact in float32
                e = w - a
                mse = np.mean(e * e)
                sqnr = 10 * np.log10(np.sum(w * w) / np.sum(e * e))
                cos = np.sum(w * a) / np.sqrt(np.sum(w * w) * np.sum(a * a))
                got = rep[f"blk.{layer}.{g}.weight"]
                for k, v in (("mse", mse), ("sqnr_db", sqnr), ("cosine", cos), ("max_abs_err", np.max(np.abs(e))),
                             ("frac_zero", np.mean(t == 0)), ("n_zero", np.sum(t == 0)), ("n_pos", np.sum(t > 0))):
                    if abs(got[k] - v) > 1e-6 * max(1.0, abs(v)):
                        errs.append(f"report {g}.{layer} {k}: {got[k]} want {v}")
                bpw = 8 * (t.size * 66 / 256 + 4) / t.size  # TQ2_0 blocks plus the f32 scale
                if abs(got["bits_per_weight"] - bpw) > 1e-9:
                    errs.append(f"report bits_per_weight {got['bits_per_weight']}")
    results.append(("--report --json numbers equal numpy", errs))

    # bad input: clear error, exit non-zero, no output file
    small = os.path.join(work, "hidden64")
    subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_tiny_hf_bitnet.py"), small, "--hidden", "64", "--intermediate", "128"], check=True)
    broken = os.path.join(work, "missing-tensor")
    shutil.copytree(packed, broken)
    st = read_safetensors(os.path.join(packed, "model.safetensors"))
    cases = [
        (["convert", packed, "X", "--type", "q9_9"], "unknown type", 2),
        # a known type that the option does not take is a usage error too (exit 2, not 1)
        (["convert", packed, "X", "--type", "q8_0"], "tq2_0, tq1_0, i2_s, f16, bf16 or f32", 2),
        (["convert", packed, "X", "--type", "q4_0"], "tq2_0, tq1_0, i2_s, f16, bf16 or f32", 2),
        (["convert", packed, "X", "--embed-type", "tq2_0"], "q8_0, f16, bf16", 2),
        (["convert", small, "X", "--type", "tq2_0"], "types that fit this shape: i2_s, f16, bf16, f32", 1),
        (["convert", small, "X", "--type", "tq1_0"], "cannot be stored as tq1_0", 1),
    ]
    for args, needle, code in cases:
        out = os.path.join(work, "bad.gguf")
        args = [out if a == "X" else a for a in args]
        p = run(bitnet, *args)
        e = []
        if p.returncode != code or needle not in p.stderr or len(p.stderr.strip().splitlines()) != 1:
            e.append(f"{args[2:]}: exit {p.returncode}, stderr {p.stderr.strip()!r}, want {needle!r}")
        if os.path.exists(out) or any(x.startswith("bad.gguf.tmp") for x in os.listdir(work)):
            e.append(f"{args[2:]}: left an output file")
        results.append((f"bad input: {needle}", e))
    # a missing tensor and a mismatched scale tensor, by rewriting the safetensors file
    for label, drop, reshape in (("missing tensor", "model.layers.1.mlp.up_proj.weight", None),
                                 ("mismatched scale", None, "model.layers.0.self_attn.k_proj.weight_scale")):
        d = os.path.join(work, label.replace(" ", "-"))
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(packed, d)
        write_modified(os.path.join(packed, "model.safetensors"), os.path.join(d, "model.safetensors"), drop, reshape)
        out = os.path.join(work, "bad.gguf")
        p = run(bitnet, "convert", d, out)
        needle = drop or reshape
        e = []
        if p.returncode != 1 or needle not in p.stderr:
            e.append(f"exit {p.returncode}, stderr {p.stderr.strip()!r}")
        if os.path.exists(out):
            e.append("left an output file")
        results.append((f"bad input: {label}", e))

    results += quantize_tests(bitnet, work, packed)
    results += variant_tests(bitnet, work)

    return report(results)


def check_variant(errs, out, src_dir):
    cfg = json.load(open(os.path.join(src_dir, "config.json")))
    src = read_safetensors(os.path.join(src_dir, "model.safetensors"))
    r = GGUFReader(out)
    tensors = {t.name: t for t in r.tensors}
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    for k, v in (("bitnet.hidden_activation", cfg["hidden_act"]), ("bitnet.rope.dimension_count", head_dim)):
        if r.fields[k].contents() != v:
            errs.append(f"key {k} = {r.fields[k].contents()}, want {v}")
    arch = cfg["architectures"][0]
    sub = {"BitNetForCausalLM": ("self_attn.attn_sub_norm", "mlp.ffn_sub_norm"),
           "BitnetForCausalLM": ("self_attn.inner_attn_ln", "mlp.ffn_layernorm")}.get(arch)
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * head_dim
    shapes = {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
              "self_attn.o_proj": (h, h), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h), "mlp.down_proj": (h, f)}
    for layer in range(cfg["num_hidden_layers"]):
        for g, hf in zip(("attn_sub_norm", "ffn_sub_norm"), sub or (None, None)):
            t = tensors.get(f"blk.{layer}.{g}.weight")
            want = None if hf is None else src[f"model.layers.{layer}.{hf}.weight"].astype(np.float32)
            if (t is None) != (want is None) or (t is not None and not np.array_equal(np.asarray(t.data), want)):
                errs.append(f"blk.{layer}.{g}.weight: {'missing' if t is None else 'present or different'}")
        for mod, g in LINEARS.items():
            t_src, s_src = source_ternary(src, cfg, layer, mod)
            t_out, s_out = gguf_ternary(r, f"blk.{layer}.{g}.weight", "tq2_0", *shapes[mod])
            if not np.array_equal(t_src, t_out) or s_src != s_out:
                errs.append(f"blk.{layer}.{g}: {np.sum(t_src != t_out)} codes differ, scale {s_out!r} want {s_src!r}")
    head = tensors.get("output.weight")
    if cfg["tie_word_embeddings"]:
        if head is not None:
            errs.append("tied model has output.weight")
    elif head is None or head.tensor_type != Q.BF16:
        errs.append(f"output.weight: {head.tensor_type.name if head else 'missing'}, want BF16 as the source")
    else:
        bits = np.asarray(head.data).reshape(-1).view(np.uint16).astype(np.uint32) << 16
        if not np.array_equal(bits.view(np.float32), src["lm_head.weight"].reshape(-1)):
            errs.append("output.weight differs from lm_head.weight")


def variant_tests(bitnet, work):
    results = []
    for name in ("variant-llama-bitlinear", "variant-bitnet-bitlinear", "variant-1bitllm"):
        out = os.path.join(work, name + ".gguf")
        p = run(bitnet, "convert", os.path.join(FIX, name), out)
        errs = [] if p.returncode == 0 else [f"exit {p.returncode}: {p.stderr.strip()}"]
        if not errs:
            check_variant(errs, out, os.path.join(FIX, name))
        results.append((f"convert {name} -> tq2_0", errs))
    return results


def quantize_tests(bitnet, work, packed):
    """`bitnet quantize`: ternary types among themselves are lossless (same values, same scale,
    and back to the starting bytes); per-block TQ scales refuse i2_s but survive TQ types."""
    results = []
    chain = ["tq2_0", "tq1_0", "i2_s", "f32", "tq2_0"]
    first = os.path.join(work, "chain-0.gguf")
    p = run(bitnet, "convert", packed, first, "--type", chain[0])
    errs = [] if p.returncode == 0 else [f"convert: {p.stderr.strip()}"]
    prev = first
    for i, typ in enumerate(chain[1:], 1):
        if errs:
            break
        out = os.path.join(work, f"chain-{i}.gguf")
        p = run(bitnet, "quantize", prev, out, "--type", typ)
        if p.returncode != 0:
            errs.append(f"quantize -> {typ}: {p.stderr.strip()}")
            break
        check_file(errs, f"quantize {chain[i - 1]} -> {typ}", out, packed, typ)
        prev = out
    if not errs:
        a = {t.name: bytes(np.asarray(t.data).tobytes()) for t in GGUFReader(first).tensors}  # tq2_0 files
        b = {t.name: bytes(np.asarray(t.data).tobytes()) for t in GGUFReader(prev).tensors}
        if a != b:
            errs.append("tq2_0 -> tq1_0 -> i2_s -> f32 -> tq2_0 does not give back the same tensors")
    results.append(("quantize chain " + " -> ".join(chain) + " is lossless", errs))

    # a llama.cpp-style TQ2_0 file: per-block scales, no .scale tensors
    from gguf import GGUFWriter
    from gguf.quants import quantize
    rng = np.random.default_rng(5)
    path = os.path.join(work, "perblock.gguf")
    w = GGUFWriter(path, "bitnet")
    w.add_uint32("bitnet.block_count", 1)
    vals = rng.integers(-1, 2, (4, 512)).astype(np.float32) * np.repeat(
        np.array([0.5, 0.25, 0.125, 0.75] * 2, np.float32), 256).reshape(4, 512)
    w.add_tensor("blk.0.attn_q.weight", quantize(vals, Q.TQ2_0), raw_dtype=Q.TQ2_0)
    w.add_tensor("token_embd.weight", rng.standard_normal((8, 16)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = os.path.join(work, "perblock-i2s.gguf")
    p = run(bitnet, "quantize", path, out, "--type", "i2_s")
    errs = []
    if p.returncode != 1 or "different scales per block" not in p.stderr or os.path.exists(out):
        errs.append(f"exit {p.returncode}, stderr {p.stderr.strip()!r}")
    results.append(("quantize per-block TQ2_0 -> i2_s is refused as lossy", errs))
    out = os.path.join(work, "perblock-tq1.gguf")
    p = run(bitnet, "quantize", path, out, "--type", "tq1_0")
    errs = [] if p.returncode == 0 else [p.stderr.strip()]
    if not errs:
        t = {x.name: x for x in GGUFReader(out).tensors}
        got = dequantize(np.asarray(t["blk.0.attn_q.weight"].data).reshape(-1).view(np.uint8), Q.TQ1_0)
        if not np.array_equal(got.reshape(4, 512), vals):
            errs.append("per-block values changed")
        if "token_embd.weight" not in t:
            errs.append("token_embd.weight was not copied")
    results.append(("quantize per-block TQ2_0 -> tq1_0 keeps every block's values", errs))
    return results


def write_modified(src, dst, drop, widen):
    """Copy a safetensors file, dropping one tensor or giving one scale 2 values."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    out_h, blobs, off = {}, [], 0
    for name in sorted(header):
        if name == drop:
            continue
        t = header[name]
        b, e = t["data_offsets"]
        blob = data[b:e]
        shape = t["shape"]
        if name == widen:
            blob, shape = blob + blob, [2]
        out_h[name] = {"dtype": t["dtype"], "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    if meta is not None:
        out_h = {"__metadata__": meta, **out_h}
    text = json.dumps(out_h, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    sys.exit(main())
