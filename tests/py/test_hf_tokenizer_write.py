"""The tokenizer.json that `bitnet train-tokenizer` writes (io/hf_tokenizer_write.c), checked with
Hugging Face `tokenizers`:

- tokenizers loads the folder's tokenizer.json;
- it encodes sample texts (ASCII, punctuation, digits, whitespace runs, accented letters, CJK,
  emoji, special-token text, invalid-looking surrogates of real text) to the same ids as
  `bitnet tokenize --json`, with and without the special tokens (BOS, parsing of <|eot_id|>);
- decoding gives the text back, and the special tokens are flagged special;
- tokenizer_config.json names bos/eos and carries a chat template that Jinja2 renders into the
  2B-4T chat format.

usage: test_hf_tokenizer_write.py BITNET WORKDIR
"""
import json
import os
import random
import shutil
import subprocess
import sys

from harness import report
from tokenizers import Tokenizer

SAMPLES = [
    "Hello world",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune",
    "Punctuation!? (brackets) [more] {braces} -- dashes... 'quotes' \"double\" #hash @at $5.00",
    "Digits 0 12 345 6789 3.14159 1,000,000 2026-12-07",
    "  leading spaces, trailing   \n\n\ttabs\r\nand CRLF\n",
    "naïve café résumé Müller Ångström — “curly” ‘quotes’",
    "日本語のテキスト 中文 한국어 Ελληνικά русский",
    "emoji 🙂🚀 and a ZWJ family 👨‍👩‍👧",
    "a<|eot_id|>b <|begin_of_text|>x<|end_of_text|>",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "don't won't they're I'm we've she'll he'd DON'T",
    "x",
    "",
]


def corpus(path):
    """About 60 kB of varied text in documents separated by form-feed lines."""
    random.seed(11)
    words = ["the", "river", "town", "bridge", "morning", "light", "people", "school", "market",
             "café", "naïve", "Straße", "日本", "number", "1874", "3.5", "don't", "it's", "über",
             "question", "answer", "teacher", "student", "(note)", "end.", "Yes!", "no?"]
    docs = []
    for _ in range(300):
        sentences = []
        for _ in range(random.randint(1, 5)):
            s = " ".join(random.choice(words) for _ in range(random.randint(4, 14)))
            sentences.append(s[0].upper() + s[1:] + ".")
        docs.append(" ".join(sentences))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\f\n".join(docs) + "\n")


def ours(bitnet, tok, text, work, special):
    path = os.path.join(work, "sample.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))
    args = [bitnet, "tokenize", "--json", "-m", tok, "-f", path]
    args += ["--special"] if special else ["--no-bos"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)["ids"]


def main():
    bitnet, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    corpus(os.path.join(work, "corpus.txt"))
    tok = os.path.join(work, "tok")
    run = subprocess.run([bitnet, "train-tokenizer", "--vocab", "800", "-o", tok,
                          os.path.join(work, "corpus.txt")], capture_output=True, text=True)
    results = [("train-tokenizer runs", [] if run.returncode == 0 else [run.stderr.strip()])]
    if run.returncode != 0:
        return report(results)

    errs = []
    try:
        hf = Tokenizer.from_file(os.path.join(tok, "tokenizer.json"))
    except Exception as e:  # the check is that it loads at all
        return report(results + [("tokenizers loads tokenizer.json", [repr(e)])])
    results.append(("tokenizers loads tokenizer.json", []))
    if hf.get_vocab_size(with_added_tokens=True) != 800:
        errs.append("vocabulary of %d" % hf.get_vocab_size(with_added_tokens=True))
    results.append(("800 tokens", errs))

    for special in (True, False):
        errs = []
        for text in SAMPLES:
            # tokenizers parses special tokens and adds BOS by default; --no-bos and no --special
            # is add_special_tokens=False with the special tokens' text kept as text
            hf.encode_special_tokens = not special
            want = hf.encode(text, add_special_tokens=special).ids
            got = ours(bitnet, tok, text, work, special)
            if got != want:
                errs.append("%r: tokenizers %s, bitnet %s" % (text, want[:16], got[:16]))
        name = "same ids as bitnet tokenize (%s)" % ("BOS, special tokens parsed" if special
                                                     else "no BOS, special-token text as text")
        results.append((name, errs))

    hf.encode_special_tokens = False
    errs = []
    for text in SAMPLES:
        ids = hf.encode(text, add_special_tokens=False).ids
        back = hf.decode(ids, skip_special_tokens=False)
        if back != text:
            errs.append("%r decodes to %r" % (text, back))
    bos = hf.token_to_id("<|begin_of_text|>")
    if bos != 800 - 16 or hf.encode("x").ids[0] != bos:
        errs.append("BOS id %s" % bos)
    added = {t.content: t for t in hf.get_added_tokens_decoder().values()}
    for name in ("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"):
        if name not in added or not added[name].special:
            errs.append("%s is not a special added token" % name)
    if hf.decode([bos] + hf.encode("hi", add_special_tokens=False).ids, skip_special_tokens=True) != "hi":
        errs.append("skip_special_tokens keeps BOS")
    results.append(("decoding and special tokens", errs))

    errs = []
    cfg = json.load(open(os.path.join(tok, "tokenizer_config.json"), encoding="utf-8"))
    if cfg.get("bos_token") != "<|begin_of_text|>" or cfg.get("eos_token") != "<|end_of_text|>":
        errs.append("bos/eos: %s / %s" % (cfg.get("bos_token"), cfg.get("eos_token")))
    try:
        import jinja2

        env = jinja2.Environment()
        text = env.from_string(cfg["chat_template"]).render(
            messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            bos_token=cfg["bos_token"], add_generation_prompt=True)
        want = "<|begin_of_text|>User: Hi<|eot_id|>Assistant: Hello<|eot_id|>Assistant: "
        if text != want:
            errs.append("chat template renders %r" % text)
    except ImportError:
        print("     (jinja2 absent: chat template not rendered)")
    results.append(("tokenizer_config.json", errs))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
