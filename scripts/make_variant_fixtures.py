#!/usr/bin/env python3
"""Tiny Hugging Face folders of the ternary checkpoint variants other than 2B-4T, and reference
logits for them from an independent float32 forward pass written here in numpy.

Variants (2 layers, hidden 256, 4 heads, 2 KV heads, the byte-level BPE tokenizer of
make_tiny_hf_bitnet.py), each written to tests/fixtures/<name>/:

  variant-llama-bitlinear  HF1BitLLM / tiiuae Falcon3-*-1.58bit: LlamaForCausalLM with
                           quantization_config {quant_method: bitnet, modules_to_not_convert:
                           [lm_head]} (linear_class absent = "bitlinear"): uint8 [out/4, in]
                           packed weights, bf16 weight_scale[1] = 1/gamma (the INVERSE: output =
                           y / (weight_scale * input_scale)), no sub-norms, SiLU-gated FFN, an
                           untied bf16 lm_head that is not quantized, explicit head_dim.
  variant-bitnet-bitlinear BitNetForCausalLM (2B-4T's graph: sub-norms, relu2, tied head) with
                           linear_class "bitlinear": the inverted-scale convention on the 2B-4T
                           graph. tests/test_variants.c rewrites it into a 2B-4T-style
                           (autobitlinear, weight_scale = gamma) twin and demands equal logits.
  variant-1bitllm          1bitLLM's BitnetForCausalLM (trust_remote_code modeling_bitnet.py):
                           model_type llama, no quantization_config, fp16 latent weights quantized
                           at every forward (weight: s = 1/clamp(mean|W|, 1e-5), round, clamp to
                           [-1, 1], divide by s; activations per-token absmax int8), sub-norms
                           named self_attn.inner_attn_ln (before o_proj) and mlp.ffn_layernorm
                           (before down_proj), SiLU, tied embeddings.

References go to tests/fixtures/variant-reference/: <variant>.npy (float32 [3, vocab], the
last-position logits of the 3 prompts) and reference.json (prompts, ids, settings, margins).

The reference forward pass reads the folders back (its own safetensors reader, bf16/fp16 decoded
here) and follows transformers' formulas in float32: LlamaForCausalLM / BitNetForCausalLM with
integrations/bitnet.py BitLinear (bitlinear: int8 codes times ternary, divided by input_scale *
weight_scale), and 1bitLLM's modeling_bitnet.py + utils_quant.py (activation_quant / weight_quant).
RMSNorm: x * rsqrt(mean(x^2) + eps) * weight. RoPE: default rope type, inv_freq = 1 /
theta^(2i/d), rotate_half (NEOX) pairing. Attention: softmax(q k^T * d^-0.5 + causal mask) v.

Why the check is robust. Activation quantization rounds x * (127 / max|x|) to an integer; a value
that lands within float rounding noise of a half-integer can round differently in an engine whose
float32 sums run in another order, and one flipped code moves this tiny model's logits by ~1%.
The float32 noise of x * s is measured here by running the same forward pass in float64: it is
about 1e-5 (x * s is up to 127), but reaches 1e-3 after attention, whose scores are large in these
random models. So prompts are picked from CANDIDATES: a prompt is used only if every quantized
activation of its forward pass stays at least MARGIN = 3 times its own noise (float32 - float64,
floored at NOISE_FLOOR = 2e-5) away from a rounding boundary -- another float32 implementation
differs from this one by about twice that noise -- and its top-1 logit leads the runner-up by at
least ARGMAX_GAP. Latent weights of variant-1bitllm are kept at least 1e-4 away from the +-0.5
boundary of weight quantization (nudged when not). reference.json records each prompt's margin.

usage: make_variant_fixtures.py [REPO_ROOT]             write the folders and references
       make_variant_fixtures.py [REPO_ROOT] --check     recompute, compare with the stored .npy
       make_variant_fixtures.py [REPO_ROOT] --torch     cross-check with PyTorch + transformers

--torch (needs torch and transformers; run on a machine that has them, e.g. the lent GPU machine,
everything on the CPU in float32): loads variant-llama-bitlinear and variant-bitnet-bitlinear with
transformers' AutoModelForCausalLM (dtype float32, eager attention, TORCH_COMPILE_DISABLE=1), and
variant-1bitllm with a plain-torch transcription of 1bitLLM's BitnetForCausalLM (its remote code is
not vendored here); prints each prompt's relative L2 and argmax against the stored references,
writes <variant>.torch.npy beside them, and exits non-zero above 1e-4.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_hf_bitnet import pack_weights, to_bf16, tokenizer_json, write_safetensors  # noqa: E402

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS = 272, 256, 2, 4, 2
BOS, EOS = 268, 269
MARGIN = 3.0  # times the float32 noise of each quantized activation (see tie_margin)
NOISE_FLOOR = 2e-5  # about the largest float32 - float64 difference of x * s seen here
ARGMAX_GAP = 0.05
WEIGHT_TIE_GAP = 1e-4
SEED_TRIES = 20
N_PROMPTS = 3
CANDIDATES = [
    "", "Hi", "The cat sat.", "Hello world", "ok", "1 + 2 = 3", "the end", "a b c", "Yes!",
    "go on", "in the mat", "What?", "sat on", "ring the bell", "at the inn", "we were here",
    "on and on", "There.", "seven", "Rain", "the heat", "winter", "Tea at ten", "one two",
    "It is.", "Stop", "ate", "the wing", "hat", "Then", "inner", "were", "so what", "see",
]
VARIANTS = {
    "variant-llama-bitlinear": dict(family="llama", intermediate=512, act="silu", seed=11,
                                    theta=1000042.0, tied=False),
    "variant-bitnet-bitlinear": dict(family="bitnet", intermediate=512, act="relu2", seed=12,
                                     theta=500000.0, tied=True),
    "variant-1bitllm": dict(family="1bitllm", intermediate=256, act="silu", seed=13,
                            theta=10000.0, tied=True),
}
HEAD_DIM = HIDDEN // HEADS
F32 = np.float32


# ---- writing the folders -----------------------------------------------------------------

def linear_shapes(inter):
    kv = KV_HEADS * HEAD_DIM
    return {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (kv, HIDDEN),
            "self_attn.v_proj": (kv, HIDDEN), "self_attn.o_proj": (HIDDEN, HIDDEN),
            "mlp.gate_proj": (inter, HIDDEN), "mlp.up_proj": (inter, HIDDEN),
            "mlp.down_proj": (HIDDEN, inter)}


def sub_norm_names(family):
    if family == "bitnet":
        return ("self_attn.attn_sub_norm", "mlp.ffn_sub_norm")
    if family == "1bitllm":
        return ("self_attn.inner_attn_ln", "mlp.ffn_layernorm")
    return None


def bf16_round(x):
    return (to_bf16(x).astype(np.uint32) << 16).view(F32)


def absmean_ternary(w):
    """transformers' WeightQuant in float32: s = 1 / max(mean|w|, 1e-5); round(w * s), clamp."""
    s = F32(1.0) / max(F32(np.mean(np.abs(w), dtype=F32)), F32(1e-5))
    return np.clip(np.round(w * s), -1, 1).astype(np.int8), F32(F32(1.0) / s)


def latent_far_from_ties(w):
    """Nudge fp16 latent weights whose w * s sits within WEIGHT_TIE_GAP of +-0.5 (see top)."""
    for _ in range(8):
        w32 = w.astype(F32)
        s = F32(1.0) / max(F32(np.mean(np.abs(w32), dtype=F32)), F32(1e-5))
        near = np.abs(np.abs(w32 * s) - F32(0.5)) < WEIGHT_TIE_GAP
        if not near.any():
            return w
        w = np.where(near, (w32 * F32(1.01)).astype(np.float16), w)
    raise RuntimeError("latent weights keep landing near a rounding tie")


def make_tensors(spec, rng):
    fam, inter = spec["family"], spec["intermediate"]
    t = {}

    def put_float(name, arr):
        if fam == "1bitllm":  # 1bitLLM ships float16 checkpoints
            t[name] = ("F16", arr.shape, arr.astype(np.float16).tobytes())
        else:
            t[name] = ("BF16", arr.shape, to_bf16(arr).tobytes())

    put_float("model.embed_tokens.weight", rng.standard_normal((VOCAB, HIDDEN)).astype(F32))
    put_float("model.norm.weight", (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(F32))
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        norms = [("input_layernorm", HIDDEN), ("post_attention_layernorm", HIDDEN)]
        sub = sub_norm_names(fam)
        if sub:
            norms += [(sub[0], HIDDEN), (sub[1], inter)]
        for norm, n in norms:
            put_float(p + norm + ".weight", (1 + 0.1 * rng.standard_normal(n)).astype(F32))
        for lin, shape in linear_shapes(inter).items():
            # Small q/k keep attention scores O(1..10): saturated softmaxes of large scores make
            # float32 noise large (see "Why the check is robust").
            scale = rng.uniform(0.02, 0.06) if lin[-6:] in ("q_proj", "k_proj") else rng.uniform(0.1, 0.5)
            master = (rng.standard_normal(shape) * scale).astype(F32)
            if fam == "1bitllm":
                w = latent_far_from_ties(master.astype(np.float16))
                t[p + lin + ".weight"] = ("F16", shape, w.tobytes())
                continue
            ternary, gamma = absmean_ternary(bf16_round(master))
            packed = pack_weights(ternary)
            t[p + lin + ".weight"] = ("U8", packed.shape, packed.tobytes())
            # linear_class bitlinear: weight_scale holds 1/gamma (facts Trap 1)
            inv = np.array([F32(1.0) / gamma], dtype=F32)
            t[p + lin + ".weight_scale"] = ("BF16", (1,), to_bf16(inv).tobytes())
    if not spec["tied"]:
        lm = (0.5 * rng.standard_normal((VOCAB, HIDDEN))).astype(F32)
        put_float("lm_head.weight", lm)
    return t


def config_of(spec):
    fam = spec["family"]
    c = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=spec["intermediate"],
             num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
             max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=spec["theta"],
             rope_scaling=None, hidden_act=spec["act"], tie_word_embeddings=spec["tied"],
             bos_token_id=BOS, eos_token_id=EOS, attention_bias=False, initializer_range=0.02)
    if fam == "llama":
        c.update(architectures=["LlamaForCausalLM"], model_type="llama", head_dim=HEAD_DIM,
                 mlp_bias=False, torch_dtype="bfloat16",
                 quantization_config={"quant_method": "bitnet", "modules_to_not_convert": ["lm_head"]})
    elif fam == "bitnet":
        c.update(architectures=["BitNetForCausalLM"], model_type="bitnet", torch_dtype="bfloat16",
                 quantization_config={"quant_method": "bitnet", "linear_class": "bitlinear",
                                      "quantization_mode": "offline"})
    else:  # 1bitLLM's config.json: LlamaConfig keys plus weight_bits / input_bits
        c.update(architectures=["BitnetForCausalLM"], model_type="llama", torch_dtype="float16",
                 weight_bits=1, input_bits=8, pad_token_id=270)
    return c


def write_folder(root, name, spec):
    out = os.path.join(root, "tests", "fixtures", name)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(spec["seed"])
    write_safetensors(os.path.join(out, "model.safetensors"), make_tensors(spec, rng), {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_of(spec), f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
                   "model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    return out


# ---- reading a folder back (independent of the writer above) -------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        raw = data[a:b]
        if h["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(F32)
        elif h["dtype"] == "F16":
            arr = np.frombuffer(raw, np.float16).astype(F32)
        elif h["dtype"] == "F32":
            arr = np.frombuffer(raw, F32).copy()
        elif h["dtype"] == "U8":
            arr = np.frombuffer(raw, np.uint8).copy()
        else:
            raise ValueError(f"{name}: dtype {h['dtype']}")
        out[name] = arr.reshape(h["shape"])
    return out


def unpack(packed):
    """integrations/bitnet.py unpack_weights: packed row p holds rows i*R + p in bits 2i."""
    return np.concatenate([((packed >> (2 * i)) & 3).astype(np.int8) - 1 for i in range(4)], 0)


# ---- the reference forward pass ------------------------------------------------------------
# Written once over a float type `dt`: float32 is the reference (transformers runs the fixtures in
# float32); float64 only measures how far float32 rounding moves each quantized activation.

def act_codes(x, dt, trace):
    """Per-token absmax to int8 (ActQuant / activation_quant): s = 127 / max(max|x|, 1e-5),
    codes = clamp(round(x * s), -128, 127). trace collects every x * s."""
    s = (dt(127.0) / np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), dt(1e-5))).astype(dt)
    v = (x * s).astype(dt)
    trace.append(v)
    return np.clip(np.round(v), -128, 127), s


def bitlinear(x, w_t, weight_scale, dt, trace):
    """transformers BitLinear: int8 codes times ternary, then / (input_scale * weight_scale)."""
    codes, s = act_codes(x, dt, trace)
    y = (codes.astype(np.float64) @ w_t.T.astype(np.float64)).astype(dt)  # exact integers
    return (y / (s * dt(weight_scale))).astype(dt)


def autobitlinear(x, w_t, weight_scale, dt, trace):
    """transformers AutoBitLinear, offline (2B-4T): F.linear(ActQuant(x), W_t) * weight_scale.
    Only for --check against the transformers-made tests/fixtures/tiny-reference."""
    codes, s = act_codes(x, dt, trace)
    xq = (codes / s).astype(dt)
    y = (xq.astype(np.float64) @ w_t.T.astype(np.float64)).astype(dt)
    return (y * dt(weight_scale)).astype(dt)


def onebit_linear(x, w_latent, dt, trace):
    """1bitLLM utils_quant BitLinear: activation_quant(x) @ weight_quant(W)^T."""
    codes, s = act_codes(x, dt, trace)
    xq = (codes / s).astype(dt)
    w = w_latent.astype(dt)
    sw = dt(1.0) / max(dt(np.mean(np.abs(w), dtype=dt)), dt(1e-5))
    wq = (np.clip(np.round(w * sw), -1, 1) / sw).astype(dt)
    return (xq.astype(np.float64) @ wq.T.astype(np.float64)).astype(dt)


def rms(x, g, eps, dt):
    var = np.mean(x * x, axis=-1, keepdims=True, dtype=dt)
    return (g.astype(dt) * (x * (dt(1.0) / np.sqrt(var + dt(eps))))).astype(dt)


def rope_tables(n, d, theta, dt):
    inv = (dt(1.0) / (dt(theta) ** (np.arange(0, d, 2, dtype=np.int64).astype(dt) / dt(d)))).astype(dt)
    ang = (np.arange(n, dtype=dt)[:, None] * inv[None, :]).astype(dt)
    ang = np.concatenate([ang, ang], -1)
    return np.cos(ang).astype(dt), np.sin(ang).astype(dt)


def rope(x, cos, sin):  # x [heads, T, d], rotate_half: element i pairs with i + d/2
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], -1)
    return (x * cos + rot * sin).astype(x.dtype)


def silu(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for very negative x gives -0, as torch does
        return (x / (x.dtype.type(1.0) + np.exp(-x))).astype(x.dtype)


class Model:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = json.load(f)
        self.w = read_safetensors(os.path.join(folder, "model.safetensors"))
        arch = self.cfg["architectures"][0]
        self.family = {"LlamaForCausalLM": "llama", "BitNetForCausalLM": "bitnet",
                       "BitnetForCausalLM": "1bitllm"}[arch]
        self.sub = sub_norm_names(self.family)
        q = self.cfg.get("quantization_config") or {}
        self.auto = q.get("linear_class", "bitlinear") == "autobitlinear"

    def linear(self, x, key, dt, trace):
        if self.family == "1bitllm":
            return onebit_linear(x, self.w[key + ".weight"], dt, trace)
        f = autobitlinear if self.auto else bitlinear
        return f(x, unpack(self.w[key + ".weight"]), self.w[key + ".weight_scale"][0], dt, trace)

    def act(self, g):
        if self.cfg["hidden_act"] == "relu2":
            return (np.maximum(g, 0) ** 2).astype(g.dtype)
        return silu(g)

    def attention(self, h, p, cos, sin, dt, trace):
        c, T = self.cfg, h.shape[0]
        H, KV = c["num_attention_heads"], c["num_key_value_heads"]
        d = c.get("head_dim") or c["hidden_size"] // H

        def heads(key, n):
            return self.linear(h, p + key, dt, trace).reshape(T, n, d).transpose(1, 0, 2)

        q, k, v = heads("self_attn.q_proj", H), heads("self_attn.k_proj", KV), heads("self_attn.v_proj", KV)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k, v = np.repeat(k, H // KV, 0), np.repeat(v, H // KV, 0)  # head j uses KV head j // (H/KV)
        mask = np.triu(np.full((T, T), -np.inf, dtype=dt), 1)
        scores = (q @ k.transpose(0, 2, 1) * dt(d ** -0.5) + mask).astype(dt)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = (scores / scores.sum(-1, keepdims=True)).astype(dt)
        return (att @ v).transpose(1, 0, 2).reshape(T, H * d).astype(dt)

    def forward(self, ids, dt=F32, trace=None):
        """Last-position logits [vocab]; trace (a list) receives every quantized x * s."""
        c, w = self.cfg, self.w
        trace = [] if trace is None else trace
        eps = c["rms_norm_eps"]
        d = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        cos, sin = rope_tables(len(ids), d, c["rope_theta"], dt)
        x = w["model.embed_tokens.weight"][np.array(ids)].astype(dt)
        for layer in range(c["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            a = self.attention(rms(x, w[p + "input_layernorm.weight"], eps, dt), p, cos, sin, dt, trace)
            if self.sub:
                a = rms(a, w[p + self.sub[0] + ".weight"], eps, dt)
            x = (x + self.linear(a, p + "self_attn.o_proj", dt, trace)).astype(dt)
            h = rms(x, w[p + "post_attention_layernorm.weight"], eps, dt)
            g = (self.act(self.linear(h, p + "mlp.gate_proj", dt, trace)) *
                 self.linear(h, p + "mlp.up_proj", dt, trace)).astype(dt)
            if self.sub:
                g = rms(g, w[p + self.sub[1] + ".weight"], eps, dt)
            x = (x + self.linear(g, p + "mlp.down_proj", dt, trace)).astype(dt)
        normed = rms(x[-1:], w["model.norm.weight"], eps, dt)
        head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
        return (normed.astype(np.float64) @ head.T.astype(np.float64)).astype(dt)[0]


def tie_margin(model, ids):
    """Smallest (distance of a quantized activation from a rounding boundary) / (its float32
    noise), over the forward pass. The noise of each value is its float32 - float64 difference,
    floored at NOISE_FLOOR: another float32 implementation rounds as differently again."""
    t32, t64 = [], []
    model.forward(ids, F32, t32)
    model.forward(ids, np.float64, t64)
    worst = np.inf
    for a, b in zip(t32, t64):
        a = a.astype(np.float64)
        dist = np.abs(np.abs(a) - np.floor(np.abs(a)) - 0.5)
        noise = np.maximum(np.abs(a - b), NOISE_FLOOR)
        worst = min(worst, float(np.min(dist / noise)))
    return worst


# ---- choosing prompts, writing references ----------------------------------------------------

def encode(folder, text):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).encode(text).ids


def pick_prompts(folder, model):
    """The N_PROMPTS longest candidates that keep clear of rounding ties (None if too few)."""
    chosen = []
    for text in CANDIDATES:
        ids = encode(folder, text)
        logits = model.forward(ids)
        top = np.sort(logits)[::-1]
        margin = tie_margin(model, ids)
        if margin >= MARGIN and top[0] - top[1] >= ARGMAX_GAP:
            chosen.append(dict(text=text, ids=ids, min_margin=margin,
                               argmax=int(np.argmax(logits)), top_gap=float(top[0] - top[1]),
                               logits=logits))
    chosen.sort(key=lambda p: -len(p["ids"]))  # stable: ties keep CANDIDATES order
    return chosen[:N_PROMPTS] if len(chosen) >= N_PROMPTS else None


def ref_dir(root):
    return os.path.join(root, "tests", "fixtures", "variant-reference")


def generate(root):
    os.makedirs(ref_dir(root), exist_ok=True)
    summary = dict(version=1, generator="scripts/make_variant_fixtures.py", numpy=np.__version__,
                   margin=MARGIN, noise_floor=NOISE_FLOOR, argmax_gap=ARGMAX_GAP, variants={})
    for name, spec in VARIANTS.items():
        spec = dict(spec)
        for _ in range(SEED_TRIES):  # a model whose first token (BOS) sits near a tie is skipped
            folder = write_folder(root, name, spec)
            prompts = pick_prompts(folder, Model(folder))
            if prompts:
                break
            spec["seed"] += 100
        else:
            raise RuntimeError(f"{name}: no seed gives {N_PROMPTS} prompts clear of rounding ties")
        np.save(os.path.join(ref_dir(root), name + ".npy"), np.stack([p.pop("logits") for p in prompts]))
        summary["variants"][name] = dict(spec, logits=name + ".npy", prompts=prompts)
        print(f"{name} (seed {spec['seed']}): " + ", ".join(
            f"{p['text']!r} ({len(p['ids'])} tokens, margin {p['min_margin']:.1f})" for p in prompts))
    with open(os.path.join(ref_dir(root), "reference.json"), "w") as f:
        json.dump(summary, f, indent=1)


def stored(root):
    with open(os.path.join(ref_dir(root), "reference.json")) as f:
        ref = json.load(f)
    for name, v in ref["variants"].items():
        yield name, os.path.join(root, "tests", "fixtures", name), v, np.load(
            os.path.join(ref_dir(root), v["logits"]))


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64)))


def check_against_transformers(root):
    """This reference on the 2B-4T-layout fixture, against logits transformers itself computed
    (tests/fixtures/tiny-reference, scripts/make_tiny_reference.py): the shared parts of the
    graph (RMSNorm, RoPE, attention, BitLinear's activation quantization) follow transformers.
    Prompts with an int8 flip between the two are reported, not failed (see the top)."""
    fx = os.path.join(root, "tests", "fixtures")
    with open(os.path.join(fx, "tiny-reference", "prompts.json")) as f:
        prompts = json.load(f)["prompts"]
    want = np.load(os.path.join(fx, "tiny-reference", "last_logits.npy"))
    model = Model(os.path.join(fx, "tiny-bitnet-hf"))
    close = 0
    for i, p in enumerate(prompts):
        err = rel_l2(model.forward(p["ids"]), want[i])
        close += err <= 1e-4
        print(f"tiny-bitnet-hf (transformers) prompt {i}: relative L2 {err:.3g}, margin "
              f"{tie_margin(model, p['ids']):.1f}")
    return close


def check(root):
    """Recompute the stored references (must be identical) and compare with transformers."""
    worst = 0.0
    for name, folder, v, want in stored(root):
        model = Model(folder)
        for i, p in enumerate(v["prompts"]):
            err = rel_l2(model.forward(p["ids"]), want[i])
            worst = max(worst, err)
            print(f"{name} prompt {i}: relative L2 {err:.3g}")
    close = check_against_transformers(root)
    return 0 if worst == 0.0 and close >= 3 else 1


# ---- --torch: the same logits from PyTorch + transformers -------------------------------------

def torch_1bitllm(folder, ids):
    """1bitLLM's BitnetForCausalLM (modeling_bitnet.py + utils_quant.py) in plain torch ops."""
    import torch
    from safetensors.torch import load_file
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    w = {k: t.float() for k, t in load_file(os.path.join(folder, "model.safetensors")).items()}
    eps, H, KV = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"]
    d, T = c["hidden_size"] // H, len(ids)

    def norm(x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def lin(x, key):
        s = 127 / x.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5)
        xq = (x * s).round().clamp(-128, 127) / s
        m = w[key + ".weight"]
        sw = 1 / m.abs().mean().clamp(min=1e-5)
        return torch.nn.functional.linear(xq, (m * sw).round().clamp(-1, 1) / sw)

    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], -1)
    cos, sin = ang.cos(), ang.sin()

    def rot(x):
        return x * cos + torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1) * sin

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = norm(x, w[p + "input_layernorm.weight"])
        q = rot(lin(h, p + "self_attn.q_proj").view(T, H, d).transpose(0, 1))
        k = rot(lin(h, p + "self_attn.k_proj").view(T, KV, d).transpose(0, 1)).repeat_interleave(H // KV, 0)
        v = lin(h, p + "self_attn.v_proj").view(T, KV, d).transpose(0, 1).repeat_interleave(H // KV, 0)
        a = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5 + mask, -1) @ v
        a = norm(a.transpose(0, 1).reshape(T, H * d), w[p + "self_attn.inner_attn_ln.weight"])
        x = x + lin(a, p + "self_attn.o_proj")
        h = norm(x, w[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
        x = x + lin(norm(g, w[p + "mlp.ffn_layernorm.weight"]), p + "mlp.down_proj")
    return (norm(x[-1:], w["model.norm.weight"]) @ w["model.embed_tokens.weight"].t())[0]


def torch_check(root):
    os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    worst = 0.0
    for name, folder, v, want in stored(root):
        model = None
        if not name.endswith("1bitllm"):
            try:
                model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
            except TypeError:  # transformers before the torch_dtype -> dtype rename
                model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                             attn_implementation="eager")
            model = model.to("cpu").eval()
            print(f"{name}: {type(model).__name__}, linear {type(model.model.layers[0].self_attn.q_proj).__name__}")
        got = []
        with torch.no_grad():
            for p in v["prompts"]:
                if model is None:
                    got.append(torch_1bitllm(folder, p["ids"]).numpy())
                else:
                    got.append(model(torch.tensor([p["ids"]])).logits[0, -1].float().numpy())
        np.save(os.path.join(ref_dir(root), name + ".torch.npy"), np.stack(got))
        for i, g in enumerate(got):
            err = rel_l2(g, want[i])
            worst = max(worst, err)
            print(f"{name} prompt {i}: relative L2 {err:.3g}, argmax {int(np.argmax(g))} "
                  f"(numpy {int(np.argmax(want[i]))})")
    return 0 if worst <= 1e-4 else 1


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if "--torch" in sys.argv:
        return torch_check(root)
    if "--check" in sys.argv:
        return check(root)
    generate(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
