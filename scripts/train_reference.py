#!/usr/bin/env python3
"""PyTorch reference of the model and training step that BitNet-C's trainer (src/train) implements.

The model is the 2B-4T graph (docs: ../shared/reference/bitnet-facts.md §1) at any size, trained with
quantization-aware BitLinear layers (§4): latent float32 weights, an absmean-ternary weight and an
int8 absmax-per-token activation in the forward pass, straight-through gradients in the backward.
Everything is float32 on the CPU. The file is both the specification in executable form and the
tool that makes the C side's fixtures and comparisons:

  fixture OUT_DIR
      Gradient fixtures for the C tests (tests/fixtures/train-reference was made with this):
      OUT_DIR/<case>/{weights,batch,grads}.safetensors and meta.json, for two cases:
        bitnet-relu2  D 64, L 2, H 4, KV 2, F 128, V 256, T 16, B 2, relu2, linear "bitlinear"
        float-silu    D 32, L 2, H 4, KV 2, F 64,  V 128, T 16, B 2, silu,  linear "float"
      (the float case is smaller than the first so that the whole fixture stays under 1 MB).
      meta.json holds the config, the loss, every gradient's L2 norm, the float32-vs-float64
      relative difference of every gradient, how close the quantizers' inputs came to a
      rounding boundary (quant_margins: why 1e-4 per tensor is attainable at all; the weights
      get a guard band and the batch is chosen for its margin), and the same weights run
      through transformers' own BitNetForCausalLM (transformers_check: logits, loss and
      gradients compared; made only where transformers is installed). The files are the same
      bytes on every run.
  bench --config JSON [--steps N] [--warmup W] [--threads 2] [--modes eager,compile]
      Training throughput of a full step (forward, backward, AdamW update) at the config's
      model, batch and context: one subprocess per mode (eager, torch.compile), each printing
      one JSON line: median tokens/s over the steps after the warm-up, and its peak resident
      memory (ru_maxrss). The config is the C trainer's (`bitnet train` CONFIG): "model",
      "batch" (x "accumulate"), "optim" (lr, beta1, beta2, eps, weight_decay, grad_clip; the
      LR schedule is left out, a step costs the same at any LR); the rest is ignored.
      bench/train-shape.json is the comparison shape; `bitnet bench train` reads the same
      file (its "model" and "batch") and times the same step. A step is zero_grad, forward, backward,
      clip_grad_norm_ (when grad_clip > 0, as the C trainer's default 1.0), AdamW. Both modes
      use F.scaled_dot_product_attention and AdamW(fused=True), PyTorch's fastest CPU paths
      (fixture checks that the fused attention is the same function as the explicit one).
      Compile's first step includes compilation, which inductor caches on disk
      (/tmp/torchinductor_$USER): ~20 s cold, ~3 s warm for the comparison shape.
  hf-logits HF_DIR TOKENS_JSON OUT.npy [--compare OTHER.npy]
      transformers' float32 logits [T, vocab] for the token ids in TOKENS_JSON (a JSON list of
      ints, or {"ids": [...]}), from a Hugging Face BitNet folder (e.g. a packed autobitlinear
      checkpoint like microsoft/bitnet-b1.58-2B-4T, or what the C trainer exports). With
      --compare, prints the relative L2 and max |diff| against another [T, vocab] .npy (such as
      `bitnet logits --ids ... --all --out OTHER.npy`).

Run it with the virtual environment that holds torch (never the repository's .venv):
  /work/torchvenv/bin/python scripts/train_reference.py fixture tests/fixtures/train-reference
  /work/torchvenv/bin/python scripts/train_reference.py bench --config bench/train-shape.json
  /work/torchvenv/bin/python scripts/train_reference.py hf-logits tests/fixtures/tiny-bitnet-hf \\
      ids.json hf.npy --compare ours.npy
(made with: python3 -m venv /work/torchvenv && /work/torchvenv/bin/pip install torch numpy
safetensors transformers accelerate; transformers' BitNet loader wants accelerate). Without
torch (or, for hf-logits, transformers) the script prints "skipped: ..." and exits 77, so test
drivers can count it as skipped. Nothing here touches the network: transformers is run with
HF_HUB_OFFLINE=1 on local folders only.

The model, exactly (the C trainer implements the same; config keys in parentheses):
  dim D, layers L, heads H, kv_heads KV (H % KV == 0), ffn F, vocab V, context T, rope_theta
  (10000), norm_eps (1e-5), activation relu2|silu, linear bitlinear|float (the C trainer's
  names; eps and "bitnet" are accepted as aliases); head_dim hd = D / H.
  Sub-norms always, tied embeddings, no biases; parameter names are Hugging Face BitNet's.
  h = embed[tokens]; per layer:
    a = RMSNorm(h)*input_layernorm; q, k, v = BitLinear(a); RoPE on q, k (rotate_half pairs
    (i, i + hd/2), inv_freq[i] = 1/theta^(2i/hd), angle = pos*inv_freq, float32); causal GQA
    softmax(q k^T / sqrt(hd)) v with query head j on kv head j // (H/KV);
    h += BitLinear_o(RMSNorm(attn)*attn_sub_norm);
    b = RMSNorm(h)*post_attention_layernorm; m = act(BitLinear_gate(b)) * BitLinear_up(b)
    with act = relu(x)^2 or silu; h += BitLinear_down(RMSNorm(m)*ffn_sub_norm).
  logits = (RMSNorm(h)*norm) @ embed^T; loss = mean cross-entropy over all B*T positions.
  RMSNorm(x) = x * rsqrt(mean(x^2) + eps).
  BitLinear "bitlinear": gamma = max(mean|W|, 1e-5) over the tensor, Wq = clamp(round(W/gamma), -1, 1)
  * gamma; per row of x: s = 127 / max(max|x|, 1e-5), xq = clamp(round(x*s), -128, 127) / s;
  y = xq @ Wq^T; round is half to even; gradients pass straight through both quantizers to W
  and x. BitLinear "float": y = x @ W^T.
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

SKIP = 77

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the C test drivers run this where torch may be absent
    if __name__ == "__main__":
        print(f"skipped: {e.name} is not installed (use /work/torchvenv/bin/python; see the docstring)")
        sys.exit(SKIP)
    raise


# ----------------------------------------------------------------------------------------------
# Configuration

# The C trainer's names (src/train/net.c bn_net_config_read), so that a `bitnet train` config
# (bench/train-shape.json) reads here unchanged. The spec's names (eps, linear "bitnet")
# are accepted too, and are the ones meta.json's config uses (spec_config).
MODEL_KEYS = ("dim", "layers", "heads", "kv_heads", "ffn", "vocab", "context", "rope_theta",
              "norm_eps", "activation", "linear")
DEFAULTS = dict(context=256, rope_theta=10000.0, norm_eps=1e-5, activation="relu2", linear="bitlinear")


def model_config(obj):
    """The model fields of a config: the C trainer's config keeps them under "model"; a flat
    object is accepted too. Checked here so that a bad shape fails with its name, not deep in a
    matmul."""
    given = dict(obj.get("model", obj))
    if "eps" in given:
        given.setdefault("norm_eps", given.pop("eps"))
    if given.get("linear") == "bitnet":
        given["linear"] = "bitlinear"
    m = dict(DEFAULTS, kv_heads=given.get("heads"))
    m.update(given)
    m = {k: m[k] for k in MODEL_KEYS if k in m}
    missing = [k for k in MODEL_KEYS if m.get(k) is None]
    if missing:
        raise SystemExit(f"config: missing model field(s) {', '.join(missing)}")
    for k in ("dim", "layers", "heads", "kv_heads", "ffn", "vocab", "context"):
        if not isinstance(m[k], int) or m[k] <= 0:
            raise SystemExit(f"config: model.{k} must be a positive integer, not {m[k]!r}")
    if m["dim"] % m["heads"] or (m["dim"] // m["heads"]) % 2:
        raise SystemExit("config: dim must be heads x an even head_dim")
    if m["heads"] % m["kv_heads"]:
        raise SystemExit("config: heads must be a multiple of kv_heads")
    if m["activation"] not in ("relu2", "silu"):
        raise SystemExit(f"config: activation must be relu2 or silu, not {m['activation']!r}")
    if m["linear"] not in ("bitlinear", "float"):
        raise SystemExit(f"config: linear must be bitlinear or float, not {m['linear']!r}")
    m["rope_theta"], m["norm_eps"] = float(m["rope_theta"]), float(m["norm_eps"])
    return m


def train_batch(obj):
    """Rows per step: the C trainer config's top-level "batch" (its default 8) times
    "accumulate" (micro-batches per step, default 1)."""
    return int(obj.get("batch", 8)) * int(obj.get("accumulate", 1))


# ----------------------------------------------------------------------------------------------
# BitLinear quantizers

# When a fixture is being made, the quantizers record their inputs here (scaled to code units)
# so that the distance of every rounding decision from its boundary can be reported. None
# otherwise (always so under torch.compile).
_probe = None


def ste(x, q):
    """Straight-through estimator: the value of q, the gradient of x.

    Written q.detach() + (x - x.detach()) rather than the usual x + (q - x).detach(): both pass the
    gradient unchanged to x, but x - x.detach() is exactly 0, so the forward value is q to the
    bit, as in the C trainer, whereas x + (q - x) can land an ulp away from q (for weights with
    |W| > 2 gamma, where q - x is not exact)."""
    return q.detach() + (x - x.detach())


def weight_quant(w):
    """Absmean ternary over the whole tensor (facts §1.3): the dequantized value Wq."""
    gamma = w.abs().mean().clamp(min=1e-5)
    scaled = w / gamma
    if _probe is not None:
        _probe["weight"].append(scaled.detach().flatten())
    return scaled.round().clamp(-1, 1) * gamma


def act_quant(x):
    """int8 absmax per token (per row of the last dimension): the dequantized value xq."""
    s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    scaled = x * s
    if _probe is not None:
        _probe["act"].append(scaled.detach().flatten())
    return scaled.round().clamp(-128, 127) / s


class BitLinear(nn.Module):
    def __init__(self, n_in, n_out, mode):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.mode = mode

    def forward(self, x):
        if self.mode == "float":
            return F.linear(x, self.weight)
        w = self.weight
        return F.linear(ste(x, act_quant(x)), ste(w, weight_quant(w)))


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


# ----------------------------------------------------------------------------------------------
# The model (module names give the Hugging Face parameter names)

def rope_tables(T, hd, theta, dtype):
    """cos, sin [T, hd] as transformers' default RoPE makes them: inv_freq and the angles in
    float32 (float64 when the whole reference runs in float64), halves duplicated."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(dtype) / hd))
    angles = torch.arange(T, dtype=dtype)[:, None] * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H, KV = c["dim"], c["heads"], c["kv_heads"]
        hd = D // H
        self.H, self.KV, self.hd = H, KV, hd
        self.q_proj = BitLinear(D, H * hd, c["linear"])
        self.k_proj = BitLinear(D, KV * hd, c["linear"])
        self.v_proj = BitLinear(D, KV * hd, c["linear"])
        self.o_proj = BitLinear(H * hd, D, c["linear"])
        self.attn_sub_norm = RMSNorm(D, c["norm_eps"])

    def forward(self, x, cos, sin, sdpa):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if sdpa:
            # PyTorch's fused attention: the same function (enable_gqa maps query head j to kv
            # head j // (H/KV)); used by bench so that PyTorch is measured at its best.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.KV != self.H)
        else:
            group = self.H // self.KV
            k = k.repeat_interleave(group, dim=1)  # query head j reads kv head j // group
            v = v.repeat_interleave(group, dim=1)
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            y = scores.masked_fill(mask, float("-inf")).softmax(dim=-1) @ v
        y = y.transpose(1, 2).reshape(B, T, self.H * self.hd)
        return self.o_proj(self.attn_sub_norm(y))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, Fh = c["dim"], c["ffn"]
        self.gate_proj = BitLinear(D, Fh, c["linear"])
        self.up_proj = BitLinear(D, Fh, c["linear"])
        self.down_proj = BitLinear(Fh, D, c["linear"])
        self.ffn_sub_norm = RMSNorm(Fh, c["norm_eps"])
        self.activation = c["activation"]

    def forward(self, x):
        g = self.gate_proj(x)
        g = F.relu(g).square() if self.activation == "relu2" else F.silu(g)
        return self.down_proj(self.ffn_sub_norm(g * self.up_proj(x)))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["dim"], c["norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["dim"], c["norm_eps"])
        self.mlp = MLP(c)

    def forward(self, h, cos, sin, sdpa):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, sdpa)
        return h + self.mlp(self.post_attention_layernorm(h))


class Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab"], c["dim"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"], c["norm_eps"])


class BitNetTrain(nn.Module):
    """forward(tokens [B, T], targets [B, T]) -> mean cross-entropy loss (a 0-d tensor)."""

    def __init__(self, c, sdpa=False):
        super().__init__()
        self.c = c
        self.sdpa = sdpa
        self.model = Backbone(c)

    def logits(self, tokens):
        c = self.c
        T = tokens.shape[1]
        dtype = self.model.embed_tokens.weight.dtype
        cos, sin = rope_tables(T, c["dim"] // c["heads"], c["rope_theta"], dtype)
        h = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            h = layer(h, cos, sin, self.sdpa)
        h = self.model.norm(h)
        return h @ self.model.embed_tokens.weight.t()  # tied head

    def forward(self, tokens, targets):
        logits = self.logits(tokens)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())


def init_weights(model, seed, linear_std=0.1, embed_std=0.02, norm_std=0.1):
    """Seeded initialisation in named_parameters order (the order is part of the fixture's
    recipe): linears N(0, linear_std^2) so that ternarization is far from trivial (gamma ~ 0.08:
    about a third of the weights 0, the rest +-1), embeddings N(0, embed_std^2), RMSNorm weights
    1 + norm_std N(0, 1) so that a swapped or missing norm weight shows in the gradients."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("embed_tokens.weight"):
                p.copy_(z * embed_std)
            elif p.ndim == 1:
                p.copy_(1.0 + norm_std * z)
            else:
                p.copy_(z * linear_std)


def guard_weights(model, delta):
    """Moves the few latent weights whose |W|/gamma lies within delta of the ternary rounding
    boundary 0.5 to exactly delta*1.5 from it (on the side where they were), recomputing gamma
    until none is left inside the band. A fixture needs it: gamma is a mean over thousands of
    values, which the C side sums in another order, so a weight a millionth from the boundary
    could round the other way there and change the forward pass itself. About 0.2% of the weights
    move, by at most 0.0015 gamma; weights outside the band are untouched."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("_proj.weight"):
                continue
            for _ in range(100):
                gamma = p.abs().mean().clamp(min=1e-5)
                r = p.abs() / gamma - 0.5
                near = r.abs() < delta
                if not near.any():
                    break
                side = torch.where(r[near] >= 0, 1.0, -1.0)
                p[near] = p[near].sign() * (0.5 + 1.5 * delta * side) * gamma
            else:
                raise RuntimeError(f"{name}: guard band did not settle")


# ----------------------------------------------------------------------------------------------
# fixture

FIXTURE_CASES = {
    "bitnet-relu2": dict(dim=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=256, context=16,
                         rope_theta=10000.0, norm_eps=1e-5, activation="relu2", linear="bitlinear"),
    # Smaller than the first case: the two at the same shape would be 1.5 MB of float32.
    "float-silu": dict(dim=32, layers=2, heads=4, kv_heads=2, ffn=64, vocab=128, context=16,
                       rope_theta=10000.0, norm_eps=1e-5, activation="silu", linear="float"),
}
FIXTURE_BATCH = 2
WEIGHT_SEED = 1234
BATCH_SEEDS = range(1000, 2024)  # the batch seed is chosen from these (see choose_batch)
WEIGHT_GUARD = 1e-3  # see guard_weights


def save_safetensors(path, tensors, metadata):
    """A safetensors file with a byte-stable header: the safetensors package orders metadata
    keys by hash, so two runs would differ. Tensors sorted by name, data back to back, the
    header padded with spaces to 8 bytes (as the package does); read back with the package to
    prove it valid."""
    from safetensors.torch import load_file
    codes = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        data = t.numpy().tobytes()  # little-endian on every machine this runs on
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)
    back = load_file(path)
    assert all(torch.equal(back[n], tensors[n]) for n in tensors), path


def draw_batch(c, seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, c["vocab"], (FIXTURE_BATCH, c["context"]), generator=g)
    targets = torch.randint(0, c["vocab"], (FIXTURE_BATCH, c["context"]), generator=g)
    return tokens, targets


def run(model, tokens, targets, probe=False):
    """Loss and gradients (name -> tensor), and the quantizers' scaled inputs when probe."""
    global _probe
    model.zero_grad(set_to_none=True)
    _probe = {"act": [], "weight": []} if probe else None
    try:
        loss = model(tokens, targets)
        loss.backward()
    finally:
        seen, _probe = _probe, None
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    if seen is not None:
        seen = {k: torch.cat(v).double() if v else torch.zeros(0, dtype=torch.float64)
                for k, v in seen.items()}
    return loss.detach(), grads, seen


def boundary_distance(scaled):
    """How far each scaled value is from the nearest half-integer (a rounding boundary), in
    code units: 0.5 is the safest, 0 means a tie."""
    return (scaled - scaled.floor() - 0.5).abs()


def rel_l2(a, b):
    a, b = a.double(), b.double()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def choose_batch(c, model64):
    """The C side computes in float32 with its own summation orders, so its quantizer inputs
    differ from torch's by float32 noise; an int8 activation code that sits within that noise of
    a rounding boundary can round the other way there and move a gradient by far more than 1e-4
    (one code is 1/127 of a row's largest value). In code units that noise is roughly absolute,
    not relative (a product's rounding error follows the size of its terms, which the row's
    largest value bounds): up to ~1e-4 here between float32 and float64. With ~20k distinct
    activation values the smallest margin of a random batch is ~2e-5, inside that noise, and
    some batches do flip a code between float32 and float64. So among BATCH_SEEDS the batch
    whose smallest activation margin (float64 run) is the largest is kept; meta.json records the
    margin beside the noise. (Weights get a guard band instead: guard_weights.)"""
    global _probe
    best = None
    for seed in BATCH_SEEDS:
        tokens, targets = draw_batch(c, seed)
        _probe = {"act": [], "weight": []}
        with torch.no_grad():
            model64(tokens, targets)
        acts = torch.cat(_probe["act"])
        _probe = None
        margin = boundary_distance(acts).min().item()
        if best is None or margin > best[0]:
            best = (margin, seed)
    return best[1]


def flip_sensitivity(model64, tokens, targets, index):
    """What one activation code rounded the other way does to the gradients: the float64 run
    again with the index-th quantized activation value (probe order) pushed across its nearest
    boundary; the largest per-tensor relative change. Compared with the 1e-4 tolerance it says
    why the margins matter."""
    global act_quant
    original, seen = act_quant, [0]

    def flipped(x):
        s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
        scaled = (x * s).clone()
        flat, j = scaled.view(-1), index - seen[0]
        seen[0] += flat.numel()
        if 0 <= j < flat.numel():
            flat[j] = flat[j].round() + (0.5 if flat[j] < flat[j].round() else -0.5) * 1.02
        return scaled.round().clamp(-128, 127) / s

    _, base, _ = run(model64, tokens, targets)
    act_quant = flipped
    try:
        _, moved, _ = run(model64, tokens, targets)
    finally:
        act_quant = original
    return max(rel_l2(moved[n], base[n]) for n in base)


def spec_config(c):
    """meta.json's config, in the names of the spec the C test was written to (eps, linear
    "bitnet"; tests/test_train_model.c maps them to its norm_eps and "bitlinear")."""
    names = {"norm_eps": "eps"}
    out = {names.get(k, k): v for k, v in c.items()}
    out["linear"] = "bitnet" if c["linear"] == "bitlinear" else c["linear"]
    return out


def hf_config(c):
    """The config.json of a Hugging Face BitNet folder holding this model's float32 latent
    weights: quantized online by transformers (autobitlinear, as 2B-4T-bf16) for bitlinear,
    plain nn.Linear (no quantization_config) for linear float."""
    cfg = {"architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "torch_dtype": "float32",
           "vocab_size": c["vocab"], "hidden_size": c["dim"], "intermediate_size": c["ffn"],
           "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
           "num_key_value_heads": c["kv_heads"], "max_position_embeddings": c["context"],
           "rms_norm_eps": c["norm_eps"], "rope_theta": c["rope_theta"], "hidden_act": c["activation"],
           "tie_word_embeddings": True, "attention_bias": False, "bos_token_id": 0, "eos_token_id": 1}
    if c["linear"] == "bitlinear":
        cfg["quantization_config"] = {"quant_method": "bitnet", "linear_class": "autobitlinear",
                                      "quantization_mode": "online"}
    return cfg


def check_transformers(c, model32, tokens, targets):
    """An independent check of this reference: the same weights loaded into transformers'
    BitNetForCausalLM, and its float32 logits, loss (same mean cross-entropy over the targets)
    and gradients compared with ours. transformers' online quantizer multiplies by 1/gamma where
    we divide by gamma, so its Wq can differ in the last bit; nothing else should."""
    import tempfile
    try:
        import transformers
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        return {"run": False, "why": f"{e.name} is not installed"}
    os.environ["HF_HUB_OFFLINE"] = "1"
    dynamo_was = torch._dynamo.config.disable
    torch._dynamo.config.disable = True  # its quantizers are @torch.compile'd: run them eagerly
    try:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(hf_config(c), f)
            save_file({n: p.detach().contiguous() for n, p in model32.named_parameters()},
                      os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
            try:
                hf = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager",
                                                          local_files_only=True)
            except ImportError as e:  # transformers' BitNet quantizer also wants accelerate
                return {"run": False, "why": str(e)}
        hf.train()  # dropout is 0; train mode only so that nothing is skipped for inference
        ours_logits = model32.logits(tokens).detach()
        loss_ours, g_ours, _ = run(model32, tokens, targets)
        hf.zero_grad(set_to_none=True)
        logits = hf(tokens).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        g_hf = {n: p.grad for n, p in hf.named_parameters() if p.grad is not None}
        missing = sorted(set(g_ours) - set(g_hf))
        grad_rel = {n: rel_l2(g_ours[n], g_hf[n]) for n in g_ours if n in g_hf}
        return {"run": True, "transformers": transformers.__version__,
                "model_class": type(hf).__name__,
                "linear_class": type(hf.model.layers[0].mlp.up_proj).__name__,
                "logits_rel_l2": rel_l2(ours_logits, logits.detach()),
                "loss_abs_diff": abs(loss.item() - loss_ours.item()),
                "grad_rel_l2_max": max(grad_rel.values()), "params_without_grad_in_hf": missing}
    finally:
        torch._dynamo.config.disable = dynamo_was


def make_case(name, c, out_dir):
    model32 = BitNetTrain(c)
    init_weights(model32, WEIGHT_SEED)
    if c["linear"] == "bitlinear":
        guard_weights(model32, WEIGHT_GUARD)
    model64 = BitNetTrain(c).double()
    model64.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})
    quantized = c["linear"] == "bitlinear"
    seed = choose_batch(c, model64) if quantized else BATCH_SEEDS[0]
    tokens, targets = draw_batch(c, seed)

    loss32, g32, p32 = run(model32, tokens, targets, probe=quantized)
    loss64, g64, p64 = run(model64, tokens, targets, probe=quantized)

    # The fused attention must be the same function as the explicit one (bench uses it).
    sdpa = BitNetTrain(c, sdpa=True).double()
    sdpa.load_state_dict(model64.state_dict())
    loss_sdpa, g_sdpa, _ = run(sdpa, tokens, targets)
    sdpa_check = max(rel_l2(g_sdpa[n], g64[n]) for n in g64)
    assert sdpa_check < 1e-9 and abs(loss_sdpa.item() - loss64.item()) < 1e-12, sdpa_check

    hf_check = check_transformers(c, model32, tokens, targets)
    if hf_check["run"] and (hf_check["grad_rel_l2_max"] > 1e-5 or hf_check["params_without_grad_in_hf"]):
        raise SystemExit(f"{name}: this reference disagrees with transformers: {hf_check}")

    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    meta_st = {"format": "bitnet-c-train-reference", "version": "1", "case": name}
    save_safetensors(os.path.join(case_dir, "weights.safetensors"),
                     {n: p.detach() for n, p in model32.named_parameters()}, meta_st)
    save_safetensors(os.path.join(case_dir, "batch.safetensors"),
                     {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}, meta_st)
    save_safetensors(os.path.join(case_dir, "grads.safetensors"), g32, meta_st)

    f64 = {
        "what": "the same reference run in float64 from the same (float32) weights: per tensor "
                "||g32 - g64|| / ||g64||, i.e. how far float32 rounding alone moves each gradient",
        "loss_f64": loss64.item(),
        "loss_rel": abs(loss32.item() - loss64.item()) / abs(loss64.item()),
        "grad_rel_l2": {n: rel_l2(g32[n], g64[n]) for n in g32},
    }
    f64["grad_rel_l2_max"] = max(f64["grad_rel_l2"].values())
    f64["grad_rel_l2_max_tensor"] = max(f64["grad_rel_l2"], key=f64["grad_rel_l2"].get)
    meta = {
        "format": "bitnet-c-train-reference",
        "version": 1,
        "case": name,
        "config": spec_config(c),
        "batch": {"B": FIXTURE_BATCH, "T": c["context"], "seed": seed,
                  "tokens": "batch.safetensors tokens int32 [B, T], positions 0..T-1 in each row",
                  "targets": "batch.safetensors targets int32 [B, T]"},
        "loss": loss32.item(),
        "loss_reduction": "mean over all B*T positions",
        "grad_norms": {n: g.double().norm().item() for n, g in g32.items()},
        "float32_vs_float64": f64,
        "transformers_check": hf_check,
        "tolerance": "the C test compares each gradient with relative L2 error <= 1e-4 "
                     "(float32_vs_float64.grad_rel_l2 shows the float32 noise is far below that)",
        "init": {"seed": WEIGHT_SEED, "generator": "torch.Generator().manual_seed(seed), one torch.randn "
                 "per parameter in named_parameters order", "linear_std": 0.1, "embed_std": 0.02,
                 "norm": "1 + 0.1 * N(0, 1)",
                 "guard_band": WEIGHT_GUARD if quantized else None},
        "made_by": "scripts/train_reference.py fixture " + out_dir,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "dtype": "float32 everywhere (weights, activations, gradients)",
    }
    if quantized:
        act64, act32 = p64["act"], p32["act"]
        w64, w32 = p64["weight"], p32["weight"]
        meta["quant_margins"] = {
            "what": "distance of the quantizers' inputs (x*s for activations, W/gamma for weights, "
                    "in code units, float64 run) from the nearest rounding boundary, and the "
                    "largest float32-vs-float64 difference of those inputs: a C float32 "
                    "implementation stays on the same codes while its noise is well below the "
                    "margin. The batch seed was chosen for the largest activation margin; "
                    "weights within weight_guard_band of 0.5 were moved out of it at init.",
            "activation_values": act64.numel(),
            "activation_min_margin": boundary_distance(act64).min().item(),
            "activation_f32_noise_max": (act32 - act64).abs().max().item(),
            "activation_code_flips_f32_vs_f64": int((act32.round() != act64.round()).sum()),
            "activation_min_margin_over_own_noise": (boundary_distance(act64)
                                                     / (act32 - act64).abs().clamp(min=1e-12)).min().item(),
            "one_code_flip_grad_rel_l2_max": flip_sensitivity(model64, tokens, targets,
                                                              int(boundary_distance(act64).argmin())),
            "weight_values": w64.numel(),
            "weight_min_margin": (w64.abs() - 0.5).abs().min().item(),
            "weight_guard_band": WEIGHT_GUARD,
            "weight_f32_noise_max": (w32 - w64).abs().max().item(),
            "weight_code_flips_f32_vs_f64": int((w32.round().clamp(-1, 1) != w64.round().clamp(-1, 1)).sum()),
            "weight_fractions": {str(v): (w64.round().clamp(-1, 1) == v).double().mean().item()
                                 for v in (-1, 0, 1)},
        }
    with open(os.path.join(case_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return meta


def cmd_fixture(args):
    torch.set_num_threads(1)  # one thread: the same reduction orders on every machine
    torch.use_deterministic_algorithms(True)
    out = args.out_dir
    summary = {}
    for name, c in FIXTURE_CASES.items():
        meta = make_case(name, c, out)
        s = {"loss": meta["loss"],
             "f32_vs_f64_grad_rel_l2_max": meta["float32_vs_float64"]["grad_rel_l2_max"]}
        if "quant_margins" in meta:
            q = meta["quant_margins"]
            s.update({k: q[k] for k in ("activation_min_margin", "activation_f32_noise_max",
                                        "activation_code_flips_f32_vs_f64",
                                        "activation_min_margin_over_own_noise",
                                        "one_code_flip_grad_rel_l2_max", "weight_min_margin",
                                        "weight_f32_noise_max", "weight_code_flips_f32_vs_f64")})
        h = meta["transformers_check"]
        s["transformers_check"] = {k: h[k] for k in ("logits_rel_l2", "loss_abs_diff", "grad_rel_l2_max")
                                   } if h["run"] else h["why"]
        summary[name] = s
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(json.dumps(summary, indent=1))
    print(f"fixture: {out}, {total} bytes")
    if total >= 1 << 20:
        raise SystemExit(f"fixture is {total} bytes, over the 1 MiB budget")


# ----------------------------------------------------------------------------------------------
# bench

def busy_cpu_seconds():
    """All CPUs' non-idle time since boot, from /proc/stat (Linux); None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cmd_bench(args):
    """Parent: one fresh subprocess per mode, so each mode's peak RSS is its own. Beside each
    result goes the share of the machine's CPU time that other processes used meanwhile:
    timings taken while something else ran mean little (2 cores are easily disturbed)."""
    for mode in args.modes.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "_bench-one", "--config", args.config,
               "--mode", mode, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        busy0, own0, t0 = busy_cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        busy1, own1, wall = busy_cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time() - t0
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if r.returncode != 0 or not line:
            print(json.dumps({"mode": mode, "error": f"exit {r.returncode}"}), flush=True)
            continue
        result = json.loads(line[-1])
        if busy0 is not None:
            own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
            other = max(0.0, (busy1 - busy0) - own) / (wall * os.cpu_count())
            result["other_processes_cpu_share"] = round(other, 3)
            if other > 0.05:
                print(f"warning: other processes used {other:.0%} of the CPUs during the {mode} run",
                      file=sys.stderr)
        print(json.dumps(result), flush=True)


def cmd_bench_one(args):
    with open(args.config) as f:
        cfg = json.load(f)
    c = model_config(cfg)
    B, T = train_batch(cfg), c["context"]
    # The C trainer's "optim" keys; its LR schedule (warm-up, cooldown) is left out: the step's
    # cost does not depend on the LR's value.
    o = cfg.get("optim", {})
    opt_cfg = dict(lr=float(o.get("lr", 1e-3)),
                   betas=(float(o.get("beta1", 0.9)), float(o.get("beta2", 0.95))),
                   weight_decay=float(o.get("weight_decay", 0.1)), eps=float(o.get("eps", 1e-8)))
    grad_clip = float(o.get("grad_clip", 1.0))  # the C trainer clips the global norm by default
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = BitNetTrain(c, sdpa=True)
    init_weights(model, WEIGHT_SEED, linear_std=0.02)
    # fused=True: PyTorch's fastest CPU AdamW (one kernel over each tensor), the same in both modes.
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, fused=True, **opt_cfg)
    fwd = torch.compile(model) if args.mode == "compile" else model
    g = torch.Generator().manual_seed(7)
    batches = [(torch.randint(0, c["vocab"], (B, T), generator=g),
                torch.randint(0, c["vocab"], (B, T), generator=g)) for _ in range(4)]

    def step(i):
        tokens, targets = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = fwd(tokens, targets)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
        opt.step()
        return loss.item()  # .item() waits for the step to finish

    times, losses = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        losses.append(step(i))
        times.append(time.perf_counter() - t0)
    timed = times[args.warmup:]
    med = statistics.median(timed)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "mode": args.mode, "tokens_per_s": round(B * T / med, 1), "step_s_median": round(med, 4),
        "step_s_min": round(min(timed), 4), "step_s_max": round(max(timed), 4),
        "first_step_s": round(times[0], 2), "step_s": [round(t, 3) for t in times],
        "steps": args.steps, "warmup": args.warmup,
        "threads": args.threads, "batch": B, "context": T, "params": n_params,
        "peak_rss_mb": round(rss_kb / 1024, 1), "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4), "optimizer": "AdamW(fused) " + json.dumps(opt_cfg),
        "grad_clip": grad_clip,
        "attention": "scaled_dot_product_attention", "torch": torch.__version__,
        "model": {k: c[k] for k in MODEL_KEYS},
    }), flush=True)


# ----------------------------------------------------------------------------------------------
# hf-logits

def cmd_hf_logits(args):
    os.environ["HF_HUB_OFFLINE"] = "1"  # local folders only: never the network
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import transformers
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        print(f"skipped: {e.name} is not installed (pip install transformers into the torch venv)")
        sys.exit(SKIP)
    # transformers wraps its BitNet quantizers in torch.compile; run them eagerly (exact, and no
    # compiler start-up for one forward pass).
    torch._dynamo.config.disable = True
    torch.set_num_threads(1)
    with open(args.tokens_json) as f:
        ids = json.load(f)
    if isinstance(ids, dict):
        ids = ids["ids"]
    if not ids or not all(isinstance(i, int) for i in ids):
        raise SystemExit(f"{args.tokens_json}: expected a non-empty JSON list of token ids")
    kw = dict(attn_implementation="eager", local_files_only=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(args.hf_dir, dtype=torch.float32, **kw)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(args.hf_dir, torch_dtype=torch.float32, **kw)
    # transformers 5.x leaves the unquantized tensors of a quantized checkpoint (embeddings,
    # norms) in the file's dtype (bf16) whatever dtype= says; widening them is exact, and the
    # comparison wants every operation in float32.
    widened = sorted({str(t.dtype) for t in list(model.parameters()) + list(model.buffers())
                      if t.is_floating_point() and t.dtype != torch.float32})
    with torch.no_grad():  # (model.float() is refused for quantized models: tensor by tensor)
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.data = t.data.float()
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long)).logits[0].float().numpy()
    np.save(args.out, logits)
    result = {"hf_dir": args.hf_dir, "tokens": len(ids), "shape": list(logits.shape),
              "transformers": transformers.__version__, "torch": torch.__version__,
              "architecture": type(model).__name__, "widened_to_float32": widened}
    if args.compare:
        other = np.load(args.compare).astype(np.float64)
        if other.shape != logits.shape:
            raise SystemExit(f"--compare: shape {list(other.shape)} != {list(logits.shape)}")
        diff = other - logits.astype(np.float64)
        result.update({
            "compare": args.compare,
            "rel_l2": float(np.linalg.norm(diff) / np.linalg.norm(logits.astype(np.float64))),
            "max_abs_diff": float(np.abs(diff).max()),
            "rel_l2_per_position_max": float(max(np.linalg.norm(d) / np.linalg.norm(r)
                                                 for d, r in zip(diff, logits.astype(np.float64)))),
            "argmax_agree": float((other.argmax(-1) == logits.argmax(-1)).mean()),
        })
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fixture", help="write the gradient fixtures")
    p.add_argument("out_dir")
    p.set_defaults(fn=cmd_fixture)
    for name, fn in (("bench", cmd_bench), ("_bench-one", cmd_bench_one)):
        p = sub.add_parser(name, help="training tokens/s, eager and torch.compile"
                           if name == "bench" else None)
        p.add_argument("--config", required=True)
        p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
        p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3; "
                       "torch.compile compiles in the first)")
        p.add_argument("--threads", type=int, default=2)
        if name == "bench":
            p.add_argument("--modes", default="eager,compile")
        else:
            p.add_argument("--mode", choices=["eager", "compile"], required=True)
        p.set_defaults(fn=fn)
    p = sub.add_parser("hf-logits", help="transformers' logits of a Hugging Face folder")
    p.add_argument("hf_dir")
    p.add_argument("tokens_json")
    p.add_argument("out")
    p.add_argument("--compare", help="another [T, vocab] .npy: print the relative L2 against it")
    p.set_defaults(fn=cmd_hf_logits)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
