#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/fuzz_tokenizer.c into tests/fuzz/corpus_tokenizer.

Each seed is one harness input: tokenizer.json, 0x00, [tokenizer_config.json, 0x00,] text.
  - the fixture tokenizers of tests/fixtures/tokenizer, cut down to a few KB (the base tokens,
    the added tokens and the first merges whose pieces and result are kept), each with texts
    that reach different paths: ASCII, CJK, emoji, special tokens, ill-formed UTF-8;
  - small hand-written tokenizers for what the fixtures do not use: every Split behaviour,
    string patterns, lstrip/rstrip/single_word added tokens, unk with fuse_unk, ignore_merges,
    add_prefix_space, Metaspace with split, prefix and suffix templates, chat templates;
  - the refused files of tests/fixtures/tokenizer/bad as they are.
The crash-* files already there (inputs that once crashed the harness) are left alone.
Run from the repository root: python3 scripts/make_tokenizer_fuzz_seeds.py
"""
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus_tokenizer")
N_MERGES = 120

TEXTS = {
    "ascii": "Hello, world! It's 2024; isn't it?  Tabs\tand\nnewlines   end ",
    "cjk": "日本語のテキスト、中文文本。한국어 텍스트",
    "emoji": "hi 👋🏽 family 👨‍👩‍👧 flag 🇯🇵 é e\u0301 \u00a0\u3000▁x",
    "special": "<|begin_of_text|><s>Hi</s><|eot_id|> <|endoftext|>x<tool>y <unk>",
    "badutf8": b"\xff\xfe abc \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf caf\xc3\xa9 \xf0\x9f",
}


def text_bytes(t):
    return t if isinstance(t, bytes) else t.encode()


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def seed(name, tokenizer, text, config=None):
    data = dump(tokenizer) + b"\0"
    if config is not None:
        data += dump(config) + b"\0"
    data += text_bytes(text)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def pair(m):
    return m if isinstance(m, list) else m.split(" ", 1)


def shrink(tok):
    """The base tokens, the added tokens and the first N_MERGES merges closed over them,
    renumbered from 0 in the original order."""
    model = tok["model"]
    vocab = model["vocab"]
    keep = {t for t in vocab if len(t) == 1 or (t.startswith("<0x") and len(t) == 6)}
    keep |= {"▁"} & vocab.keys()
    merges = []
    for m in model["merges"]:
        a, b = pair(m)
        if a in keep and b in keep and a + b in vocab:
            keep.add(a + b)
            merges.append(m)
            if len(merges) == N_MERGES:
                break
    old_ids = sorted({vocab[t] for t in keep} | {a["id"] for a in tok.get("added_tokens") or []})
    new_id = {old: new for new, old in enumerate(old_ids)}
    out = json.loads(json.dumps(tok))
    out["model"]["vocab"] = {t: new_id[vocab[t]] for t in sorted(keep, key=vocab.get)}
    out["model"]["merges"] = merges
    for a in out.get("added_tokens") or []:
        a["id"] = new_id[a["id"]]
        out["model"]["vocab"].pop(a["content"], None)
        if a["content"] in vocab:  # the fixture lists it in the vocab too: keep it there
            out["model"]["vocab"][a["content"]] = a["id"]

    def remap(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "ids" and isinstance(v, list):
                    node[k] = [new_id[i] for i in v]
                else:
                    remap(v)
        elif isinstance(node, list):
            for v in node:
                remap(v)

    remap(out.get("post_processor"))
    return out


def load(name, file="tokenizer.json"):
    with open(os.path.join(FIXTURES, name, file), encoding="utf-8") as f:
        return json.load(f)


def byte_level(vocab, merges, **extra):
    """A small byte-level tokenizer over the given vocabulary (GPT-2 character form)."""
    tok = {
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges},
    }
    for k, v in extra.items():
        if k in ("unk_token", "fuse_unk", "ignore_merges", "byte_fallback"):
            tok["model"][k] = v
        else:
            tok[k] = v
    return tok


def added(id, content, special=True, **flags):
    token = dict(id=id, content=content, special=special, single_word=False, lstrip=False,
                 rstrip=False, normalized=False)
    token.update(flags)
    return token


def template(prefix, suffix):
    single = [{"SpecialToken": {"id": p, "type_id": 0}} for p, _ in prefix]
    single.append({"Sequence": {"id": "A", "type_id": 0}})
    single += [{"SpecialToken": {"id": s, "type_id": 0}} for s, _ in suffix]
    specials = {n: {"id": n, "ids": [i], "tokens": [n]} for n, i in prefix + suffix}
    return {"type": "TemplateProcessing", "single": single, "special_tokens": specials}


def hand_made():
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789 ,.!'Ġ")
    words = ["ab", "abc", "Ġa", "Ġab", "he", "hel", "hell", "hello", "Ġhello", "ll", "lo"]
    merges = [["a", "b"], ["ab", "c"], ["Ġ", "a"], ["Ġa", "b"], ["h", "e"], ["he", "l"],
              ["l", "l"], ["l", "o"], ["hel", "l"], ["hell", "o"], ["Ġ", "hello"]]
    base = letters + words
    n = len(base)
    seeds = {}

    def split_seq(*splits):
        return {"type": "Sequence", "pretokenizers": list(splits) +
                [{"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}

    def split(pattern, behavior, literal=False):
        return {"type": "Split", "pattern": {"String" if literal else "Regex": pattern},
                "behavior": behavior, "invert": False}

    seeds["splits"] = byte_level(base, merges, pre_tokenizer=split_seq(
        split("\\s+", "Removed"), split(",", "MergedWithPrevious", literal=True),
        split("\\d", "MergedWithNext"), split("[aeiou]", "Contiguous")))
    seeds["split-empty-match"] = byte_level(base, merges, pre_tokenizer=split_seq(
        split("(?=a)|x*|\\b", "Isolated"), split("\\S+", "MergedWithPrevious")))
    seeds["added-flags"] = byte_level(
        base + ["<|a|>", "<b>", "word", "[sp]"], merges,
        added_tokens=[added(n, "<|a|>", lstrip=True), added(n + 1, "<b>", rstrip=True),
                      added(n + 2, "word", special=False, single_word=True),
                      added(n + 3, "[sp]", special=False, lstrip=True, rstrip=True)],
        post_processor=template([("<|a|>", n)], [("<b>", n + 1)]))
    seeds["unk-fuse"] = byte_level(
        ["<unk>"] + letters, [["a", "b"]], unk_token="<unk>", fuse_unk=True,
        added_tokens=[added(0, "<unk>")],
        pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True})
    seeds["ignore-merges"] = byte_level(base, [" ".join(m) for m in merges],
                                        ignore_merges=True)  # merges in the "a b" form

    spm_vocab = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + \
        ["▁", "a", "b", "c", "h", "e", "l", "o", "▁h", "he", "ll", "▁he", "▁hell", "▁hello",
         "日", "本"]
    spm_merges = [["h", "e"], ["▁", "h"], ["l", "l"], ["▁h", "e"], ["▁he", "ll"],
                  ["▁hell", "o"]]
    spm_added = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
    spm_model = {"type": "BPE", "vocab": {t: i for i, t in enumerate(spm_vocab)},
                 "merges": spm_merges, "unk_token": "<unk>", "fuse_unk": True,
                 "byte_fallback": True}
    seeds["metaspace-split"] = {
        "added_tokens": spm_added, "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                          "split": True},
        "post_processor": template([("<s>", 1)], [("</s>", 2)]),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": spm_model}
    seeds["metaspace-old"] = {
        "added_tokens": spm_added, "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True},
        "post_processor": None,
        "decoder": {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True},
        "model": dict(spm_model, byte_fallback=False)}
    return seeds


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):  # crash-* files are findings of the fuzzer: they stay
        if not name.startswith("crash-"):
            os.remove(os.path.join(OUT, name))
    bitnet_config = load("bpe", "tokenizer_config.json")
    spm_config = load("spm", "tokenizer_config.json")
    chatml_config = {"bos_token": None, "eos_token": "<|im_end|>",
                     "chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n"
                                      "{{ m.content }}<|im_end|>\n{% endfor %}"}
    llama3_config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                     "chat_template": [{"name": "default", "template":
                                        "<|start_header_id|>{{ role }}<|end_header_id|>"}]}

    for name in ("gpt2", "spm", "spm-metaspace", "bpe", "bpe-strmerges"):
        tok = shrink(load(name))
        for text_name in ("ascii", "cjk", "emoji", "special", "badutf8"):
            if name in ("spm-metaspace", "bpe-strmerges") and text_name in ("cjk", "emoji"):
                continue
            seed("%s-%s" % (name, text_name), tok, TEXTS[text_name])
    seed("bpe-config-bitnet", shrink(load("bpe")), "What is 1+1?  ", bitnet_config)
    seed("bpe-config-llama3", shrink(load("bpe")), "Hi <|eot_id|> there\n", llama3_config)
    seed("gpt2-config-chatml", shrink(load("gpt2")), "  trim me \u3000", chatml_config)
    seed("spm-config", shrink(load("spm")), "hello world", spm_config)
    seed("gpt2-no-text", shrink(load("gpt2")), "")

    texts = "hello, a1b2 abc  aeiou!! x,y 日本 <|a|> <b>word words [sp] 👋 \xe9"
    for name, tok in hand_made().items():
        seed(name, tok, texts)
        seed(name + "-badutf8", tok, TEXTS["badutf8"])
        seed(name + "-special", tok, "<|a|>  <b> word [sp]  <s></s><unk>zz hello")

    bad = os.path.join(FIXTURES, "bad")
    for case in sorted(os.listdir(bad)):
        path = os.path.join(bad, case, "tokenizer.json")
        if os.path.isfile(path):
            shutil.copy(path, os.path.join(OUT, "bad-" + case))


if __name__ == "__main__":
    main()
