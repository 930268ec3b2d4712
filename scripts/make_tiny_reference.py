#!/usr/bin/env python3
"""Reference outputs from PyTorch + Hugging Face transformers for the tiny BitNet fixture models,
for the inference engine's fidelity tests (issue 7). Run where torch + transformers are installed
(e.g. the lent GPU machine); everything is computed on the CPU in float32:
from_pretrained(dtype=float32, attn_implementation="eager"), model.eval(), torch.no_grad(), one
thread, torch.compile disabled (TORCH_COMPILE_DISABLE=1, so transformers' @torch.compile'd
quantizers run eagerly).

Models: tests/fixtures/tiny-bitnet-hf (packed ternary, autobitlinear/offline) and
tests/fixtures/tiny-bitnet-hf-bf16 (bf16 master weights, autobitlinear/online).

Writes to OUT_DIR:
  prompts.json          versions, settings, the short prompts (text + ids, BOS first) and the long
                        prompt, which prompt hidden.npy is, what each hidden slice is, and the
                        max |diff| against an independent float32 re-implementation (below).
  last_logits.npy       float32 [n_prompts, vocab]: last-position logits, packed model.
  all_logits.npy        float32 [T_long, vocab]: logits at every position of the long prompt.
  hidden.npy            float32 [n_hidden_states, T_h, hidden] from output_hidden_states=True.
  bf16_last_logits.npy  float32 [n_prompts, vocab]: last-position logits, bf16 model (online quant).
  greedy.json           24 greedy tokens for 2 prompts: generate(use_cache=True) and a full
                        re-run of the sequence per step without cache (argmax), and whether they agree.

As a check that transformers loaded what the checkpoint holds, the script also runs its own
float32 forward pass (plain torch ops, weights unpacked from model.safetensors here, not by
transformers) and records the largest differences; the loaded ternary weights and scales are
compared with the checkpoint too.

usage: make_tiny_reference.py REPO_ROOT OUT_DIR
"""
import os

os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

PACKED = "tests/fixtures/tiny-bitnet-hf"
BF16 = "tests/fixtures/tiny-bitnet-hf-bf16"
PROMPTS = [
    "",  # BOS alone: 1 token
    "Hi",
    "The cat sat on the mat.",
    "The quick brown fox.",  # ~20 tokens: hidden.npy
    "What is 12 + 30?\nAnswer: 42",
    "Grüße aus München! Ça va? 東京",
]
HIDDEN_PROMPT = 3
GREEDY_PROMPTS = [2, 5]
NEW_TOKENS = 24
LONG = ("In the spring of 1887, a young engineer named Clara left her village by the river and walked "
        "north toward the city. She carried a notebook of drawings: bridges, water wheels, and a loom "
        "that wove cloth by itself. On the third day she met an old merchant.")
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def load_model(path):
    kw = dict(attn_implementation="eager")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw)
    except TypeError:  # transformers before the torch_dtype -> dtype rename
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, **kw)
    model = model.to("cpu").eval()
    assert model.dtype == torch.float32, model.dtype
    return model


# ---- independent float32 reference (plain torch ops, no transformers code) -------------------

def unpack(packed):
    """uint8 [R, in] -> float32 ternary [4R, in]: row i*R+p sits in bits 2i of packed row p."""
    p = packed.to(torch.int32)
    return torch.cat([((p >> (2 * i)) & 3) - 1 for i in range(4)], 0).float()


def ref_weights(folder, cfg):
    st = load_file(os.path.join(folder, "model.safetensors"))
    online = cfg["quantization_config"]["quantization_mode"] == "online"
    w = {k: v.float() for k, v in st.items() if v.dtype != torch.uint8}
    for k, v in st.items():
        if v.dtype == torch.uint8:
            w[k] = unpack(v)
    lin = {}
    for layer in range(cfg["num_hidden_layers"]):
        for name in LINEARS:
            key = f"model.layers.{layer}.{name}"
            if online:  # integrations/bitnet.py WeightQuant, in float32
                m = w[key + ".weight"]
                s = 1.0 / m.abs().mean().clamp(min=1e-5)
                lin[key] = ((m * s).round().clamp(-1, 1) / s, None)
            else:
                lin[key] = (w[key + ".weight"], w[key + ".weight_scale"])
    return w, lin


def ref_forward(w, lin, cfg, ids):
    """Returns (logits [T, V], embedding, [output of each layer], final-normed)."""
    eps, H, KV = cfg["rms_norm_eps"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hid = cfg["hidden_size"]
    d = hid // H
    T = len(ids)

    def rms(x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def bitlinear(x, key):
        wt, scale = lin[key]
        s = 127.0 / x.abs().amax(-1, keepdim=True).clamp(min=1e-5)
        xq = (x * s).round().clamp(-128, 127) / s
        y = xq @ wt.t()
        return y * scale if scale is not None else y

    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], -1)
    cos, sin = ang.cos(), ang.sin()

    def rope(x):  # x [heads, T, d], NEOX / rotate_half pairing (i, i + d/2)
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    emb, outs = x, []
    mask = torch.full((T, T), float("-inf")).triu(1)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope(bitlinear(h, p + "self_attn.q_proj").view(T, H, d).transpose(0, 1))
        k = rope(bitlinear(h, p + "self_attn.k_proj").view(T, KV, d).transpose(0, 1))
        v = bitlinear(h, p + "self_attn.v_proj").view(T, KV, d).transpose(0, 1)
        k = k.repeat_interleave(H // KV, 0)  # query head j uses KV head j // (H/KV)
        v = v.repeat_interleave(H // KV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) * d ** -0.5 + mask, -1)
        a = (att @ v).transpose(0, 1).reshape(T, hid)
        a = rms(a, w[p + "self_attn.attn_sub_norm.weight"])
        x = x + bitlinear(a, p + "self_attn.o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = F.relu(bitlinear(h, p + "mlp.gate_proj")) ** 2 * bitlinear(h, p + "mlp.up_proj")
        x = x + bitlinear(rms(g, w[p + "mlp.ffn_sub_norm.weight"]), p + "mlp.down_proj")
        outs.append(x)
    normed = rms(x, w["model.norm.weight"])
    return normed @ w["model.embed_tokens.weight"].t(), emb, outs, normed


def maxdiff(a, b):
    return float((a.float() - b.float()).abs().max())


# ---- main -------------------------------------------------------------------------------------

def check_loaded(model, w, lin, cfg):
    """Largest differences between what transformers loaded and the checkpoint."""
    sd = model.state_dict()
    worst = {"linear_weight": 0.0, "weight_scale": 0.0, "other": 0.0}
    for key, (wt, scale) in lin.items():
        got = sd[key + ".weight"]
        if scale is None:  # online: compare the master weight
            worst["linear_weight"] = max(worst["linear_weight"], maxdiff(got, w[key + ".weight"]))
        elif got.shape != wt.shape:
            worst["linear_weight"] = float("inf")
            worst.setdefault("problems", []).append(f"{key}: loaded {tuple(got.shape)} {got.dtype}")
        else:
            d = maxdiff(got, wt)
            if d != 0.0:
                worst.setdefault("problems", []).append(
                    f"{key}: loaded {got.dtype} values {sorted(set(got.flatten().tolist()))[:8]}")
            worst["linear_weight"] = max(worst["linear_weight"], d)
            worst["weight_scale"] = max(worst["weight_scale"], maxdiff(sd[key + ".weight_scale"], scale))
    for k, v in w.items():
        if k in sd and not any(k.startswith(p) for p in lin):
            worst["other"] = max(worst["other"], maxdiff(sd[k], v))
    lm = model.get_output_embeddings().weight
    worst["lm_head_tied"] = maxdiff(lm, w["model.embed_tokens.weight"])
    return worst


@torch.no_grad()
def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    packed_dir, bf16_dir = os.path.join(root, PACKED), os.path.join(root, BF16)
    with open(os.path.join(packed_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(bf16_dir, "config.json")) as f:
        cfg_bf16 = json.load(f)
    V, L = cfg["vocab_size"], cfg["num_hidden_layers"]

    tok = AutoTokenizer.from_pretrained(packed_dir)
    tok_bf16 = AutoTokenizer.from_pretrained(bf16_dir)
    enc = lambda t, s: list(t(s, add_special_tokens=True)["input_ids"])  # noqa: E731
    prompts = [{"text": s, "ids": enc(tok, s)} for s in PROMPTS]
    long_ids = enc(tok, LONG)
    for p in prompts + [{"text": LONG, "ids": long_ids}]:
        assert p["ids"][0] == cfg["bos_token_id"], p
        assert enc(tok_bf16, p["text"]) == p["ids"], p
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, tokenizer {type(tok).__name__}")
    for i, p in enumerate(prompts):
        print(f"prompt {i}: {len(p['ids'])} tokens {p['text']!r}")
    print(f"long prompt: {len(long_ids)} tokens, {len(LONG)} chars")

    model = load_model(packed_dir)
    print(f"packed model: {type(model).__name__}, {type(model.model.layers[0].self_attn.q_proj).__name__}, "
          f"attn {model.config._attn_implementation}")
    w, lin = ref_weights(packed_dir, cfg)
    loaded = check_loaded(model, w, lin, cfg)
    print("packed model vs checkpoint:", loaded)
    checks = {"packed_loaded_vs_checkpoint": loaded}

    # last-position logits, packed
    last, ref_last_diff = [], 0.0
    for p in prompts:
        ids = torch.tensor([p["ids"]])
        lg = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0]
        last.append(lg[-1])
        ref_last_diff = max(ref_last_diff, maxdiff(lg, ref_forward(w, lin, cfg, p["ids"])[0]))
    last = torch.stack(last).float().numpy()
    assert last.shape == (len(prompts), V)
    np.save(os.path.join(out, "last_logits.npy"), last)
    checks["packed_logits_vs_independent_ref_max_abs"] = ref_last_diff

    # every position of the long prompt
    ids = torch.tensor([long_ids])
    all_logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0]
    ref_all = ref_forward(w, lin, cfg, long_ids)[0]
    checks["long_logits_vs_independent_ref_max_abs"] = maxdiff(all_logits, ref_all)
    checks["long_logits_vs_independent_ref_argmax_agree"] = int(
        (all_logits.argmax(-1) == ref_all.argmax(-1)).sum()), len(long_ids)
    np.save(os.path.join(out, "all_logits.npy"), all_logits.float().numpy())

    # hidden states of the ~20-token prompt: identify each slice against the reference
    hp = prompts[HIDDEN_PROMPT]["ids"]
    ids = torch.tensor([hp])
    o = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, output_hidden_states=True)
    hs = torch.stack([h[0] for h in o.hidden_states]).float()
    _, emb, outs, normed = ref_forward(w, lin, cfg, hp)
    cands = {"embedding output (embed_tokens[ids], before layer 0)": emb}
    for layer, x in enumerate(outs):
        cands[f"output of decoder layer {layer} (residual stream after its MLP add, no norm)"] = x
    cands[f"final RMSNorm (model.norm) applied to the output of decoder layer {L - 1}"] = normed
    slices = []
    for i in range(hs.shape[0]):
        diffs = {name: maxdiff(hs[i], c) for name, c in cands.items()}
        best = min(diffs, key=diffs.get)
        slices.append({"index": i, "is": best, "max_abs_diff_vs_independent_ref": diffs[best]})
        print(f"hidden[{i}] = {best} (max |diff| {diffs[best]:.3g})")
    checks["last_hidden_state_equals_last_slice"] = maxdiff(o.hidden_states[-1], model.model(
        input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).last_hidden_state) == 0.0
    np.save(os.path.join(out, "hidden.npy"), hs.numpy())

    # greedy: generate with cache vs full recompute per step
    greedy = {"max_new_tokens": NEW_TOKENS, "eos_disabled": True,
              "note": "generation_config.eos_token_id set to None so generation never stops early; "
                      "recomputed = argmax of the last-position logits of a full forward pass "
                      "(use_cache=False) over prompt + tokens so far, each step",
              "runs": []}
    model.generation_config.eos_token_id = None
    for pi in GREEDY_PROMPTS:
        pids = prompts[pi]["ids"]
        ids = torch.tensor([pids])
        gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=NEW_TOKENS, use_cache=True, pad_token_id=cfg["eos_token_id"])
        cached = gen[0, len(pids):].tolist()
        seq, recomputed, margins = list(pids), [], []
        for _ in range(NEW_TOKENS):
            x = torch.tensor([seq])
            lg = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits[0, -1]
            top = torch.topk(lg, 2)
            recomputed.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(recomputed[-1])
        ref_seq = ref_forward(w, lin, cfg, seq[:-1])[0][len(pids) - 1:].argmax(-1).tolist()
        run = {"prompt_index": pi, "prompt_ids": pids, "cached_generate": cached, "recomputed": recomputed,
               "agree": cached == recomputed, "top1_minus_top2_logit": margins,
               "independent_ref_agrees": ref_seq == recomputed}
        greedy["runs"].append(run)
        print(f"greedy prompt {pi}: agree={run['agree']} ref={run['independent_ref_agrees']} "
              f"min margin {min(margins):.3g}\n  cached     {cached}\n  recomputed {recomputed}")
    greedy["all_agree"] = all(r["agree"] for r in greedy["runs"])
    with open(os.path.join(out, "greedy.json"), "w") as f:
        json.dump(greedy, f, indent=1)
    del model

    # bf16 master weights, online quantization at load
    model = load_model(bf16_dir)
    wb, linb = ref_weights(bf16_dir, cfg_bf16)
    checks["bf16_loaded_vs_checkpoint"] = check_loaded(model, wb, linb, cfg_bf16)
    print(f"bf16 model: {type(model.model.layers[0].self_attn.q_proj).__name__}; vs checkpoint:",
          checks["bf16_loaded_vs_checkpoint"])
    bl, bdiff = [], 0.0
    for p in prompts:
        ids = torch.tensor([p["ids"]])
        lg = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0]
        bl.append(lg[-1])
        bdiff = max(bdiff, maxdiff(lg, ref_forward(wb, linb, cfg_bf16, p["ids"])[0]))
    bl = torch.stack(bl).float().numpy()
    np.save(os.path.join(out, "bf16_last_logits.npy"), bl)
    checks["bf16_logits_vs_independent_ref_max_abs"] = bdiff
    checks["bf16_vs_packed_last_logits_max_abs"] = float(np.abs(bl - last).max())
    print("checks:", json.dumps(checks))

    meta = {
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "settings": {"device": "cpu", "dtype": "float32", "attn_implementation": "eager", "eval": True,
                     "no_grad": True, "torch_threads": torch.get_num_threads(),
                     "torch_compile_disabled": os.environ.get("TORCH_COMPILE_DISABLE") == "1",
                     "add_special_tokens": True, "tokenizer": type(tok).__name__},
        "models": {"packed": PACKED, "bf16": BF16},
        "prompts": prompts,
        "long": {"text": LONG, "ids": long_ids},
        "files": {
            "last_logits.npy": f"float32 [{len(prompts)}, {V}]: packed model, logits at the last position of each prompt",
            "all_logits.npy": f"float32 [{len(long_ids)}, {V}]: packed model, logits at every position of the long prompt",
            "hidden.npy": f"float32 {list(hs.shape)}: packed model, output_hidden_states=True for prompt "
                          f"{HIDDEN_PROMPT}; slices below",
            "bf16_last_logits.npy": f"float32 [{len(prompts)}, {V}]: {BF16} (online quantization), last position",
            "greedy.json": f"{NEW_TOKENS} greedy tokens for prompts {GREEDY_PROMPTS}, cached generate vs recompute",
        },
        "hidden": {"prompt_index": HIDDEN_PROMPT, "shape": list(hs.shape), "slices": slices},
        "checks": checks,
    }
    with open(os.path.join(out, "prompts.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    ok = greedy["all_agree"] and loaded["linear_weight"] == 0.0 and loaded["weight_scale"] == 0.0
    print("done" if ok else "done, WITH MISMATCHES (see checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
