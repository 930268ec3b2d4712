#!/usr/bin/env python3
"""Write the tokenizer reference fixtures under tests/fixtures/tokenizer/ with Hugging Face
`tokenizers` (the Rust library behind transformers' fast tokenizers) and Jinja2.

The C tokenizer must give exactly the ids and decoded text that `tokenizers` gives. This script
trains a few small vocabularies on a corpus built below (no network, no downloads), writes them
as HF folders (tokenizer.json + tokenizer_config.json) and records what `tokenizers` does with
each of several hundred test strings:

  bpe/            byte-level BPE shaped like LLaMA-3 / BitNet b1.58 2B4T: Split(LLaMA-3 regex) +
                  ByteLevel(use_regex=false), ignore_merges=true, BOS template, specials at the
                  end of the id range, one non-special added token "<tool>". Merges as [a, b].
  bpe-strmerges/  the same vocabulary with merges written as "a b" strings (older format).
  gpt2/           byte-level BPE with the GPT-2 defaults (ByteLevel(use_regex=true)), no BOS.
  spm/            SentencePiece-style BPE in the modern LLaMA-2 tokenizer.json form:
                  normalizer Prepend("▁") + Replace(" ", "▁"), byte_fallback, <0xXX> tokens.
                  Merges rebuilt like transformers' SentencePieceExtractor.
  spm-metaspace/  the same vocabulary with the older Metaspace(prepend_scheme="first") form.
  cases.json      the test strings (raw bytes and the text given to the tokenizer) and, for each
                  vocabulary and string: ids (with BOS), ids_nobos, ids_plain (special tokens not
                  recognised in the text), decode(ids) and decode(ids, skip_special_tokens).
                  Also the strings whose ids depend on BPE ignore_merges, and decode-only
                  cases (id sequences no encode gives: partial UTF-8, bytes split by other
                  tokens, specials in the middle).
  chat.json       chat-template renderings by Jinja2 configured as transformers does.
  bad/            malformed tokenizer.json files, listed with the expected error phrase in
                  bad/MANIFEST.txt.

Invalid UTF-8: the text given to the tokenizer is raw.decode("utf-8", errors="replace"), i.e.
each maximal ill-formed subpart becomes one U+FFFD; cases.json keeps both.

Rerun (after `bash scripts/deps.sh`, which installs the pinned tokenizers and Jinja2 into .venv):

    .venv/bin/python scripts/make_tokenizer_fixtures.py [OUT_DIR]

OUT_DIR defaults to tests/fixtures/tokenizer. The output is deterministic: a rerun rewrites the
same bytes (fixed corpus, fixed seeds, single-threaded training).
"""
import os

# Single-threaded and no hub access: determinism and no network. Set before importing tokenizers.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402

import jinja2  # noqa: E402
import jinja2.ext  # noqa: E402
import jinja2.sandbox  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,  # noqa: E402
                        normalizers, pre_tokenizers, processors, trainers)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "tokenizer")

# The LLaMA-3 pre-tokenizer pattern (tokenizer.json of Meta-Llama-3 and BitNet b1.58 2B4T).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

BPE_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>", "<|reserved_special_token_0|>"]
BPE_NONSPECIAL = "<tool>"
# Words to make into ignore_merges cases (see train_bpe), in order of preference.
IGNORE_MERGES_PREFERRED = [" sentences", " appeared", " failed", " largely", " encoder",
                           " classes", " names", " lines", " files", " named", " larger"]
GPT2_SPECIAL = "<|endoftext|>"
SPM_SPECIALS = ["<unk>", "<s>", "</s>"]

# ---------------------------------------------------------------------------------------------
# Chat templates.
#
# bitnet: the chat_template of microsoft/bitnet-b1.58-2B-4T tokenizer_config.json. Its message
#   expression `message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>'`
#   and the generation prompt 'Assistant: ' are copied from public copies of that file; the
#   first-message BOS clause is the one of the Meta-Llama-3-8B-Instruct template the BitNet one
#   was derived from (BitNet's reference rendering is
#   "<|begin_of_text|>User: ...<|eot_id|>Assistant: "). The hub file itself could not be read
#   from here, so the BOS clause is a reconstruction with exactly that behaviour.
# llama3: the chat_template of meta-llama/Meta-Llama-3-8B-Instruct (verbatim, widely copied).
# chatml: the usual ChatML template (as in the transformers chat-templating docs).
# ---------------------------------------------------------------------------------------------
CHAT_TEMPLATES = {
    "bitnet": ("{% set loop_messages = messages %}{% for message in loop_messages %}"
               "{% set content = message['role'] | capitalize + ': '+ message['content'] | trim"
               " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content"
               " %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
               "{{ 'Assistant: ' }}{% endif %}"),
    "llama3": ("{% set loop_messages = messages %}{% for message in loop_messages %}"
               "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
               "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
               "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
               "{% endif %}"),
    "chatml": ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
               "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
}


# =============================================================================================
# Step 1: the test strings (bytes). Order matters: cases.json indexes them.
# =============================================================================================
def b(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def test_strings():
    out = []

    def add(*xs):  # duplicates are dropped (the first occurrence keeps its index)
        for x in xs:
            if b(x) not in out:
                out.append(b(x))

    # --- English prose -------------------------------------------------------------------
    add("Hello world",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!",
        "It was the best of times, it was the worst of times.",
        "A man, a plan, a canal: Panama.",
        "Well... that's odd; isn't it? (Maybe not.)",
        "\"Quoted text\" and 'single quotes' and `backticks`.",
        "She said: \u201cit\u2019s fine\u201d \u2014 then left\u2026",
        "e-mail: someone@example.com, web: https://example.org/path?q=1&r=two#frag",
        "Mr. Smith paid $45.99 for 3 books on 2024-01-15 at 10:30am.",
        "Tokenization splits text into pieces; byte-level BPE never fails.",
        "   Leading spaces and a sentence.",
        "Trailing spaces after a sentence.   ",
        "Multiple    spaces    between    words.",
        "camelCaseWords and snake_case_words and kebab-case-words",
        "ALLCAPS lowercase MiXeD CaSe Title Case",
        "#hashtag @mention $variable %percent ^caret &amp; *star",
        "one\ntwo\nthree",
        "Paragraph one.\n\nParagraph two.\n\n\nParagraph three.",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "I love programming in C and Python.",
        "hello",
        "Hello",
        "HELLO",
        " hello",
        "hello world",
        " Hello World",
        "?!?!?!",
        "...",
        "--",
        "+-*/=<>",
        "(parentheses) [brackets] {braces} <angles>")

    # --- code -----------------------------------------------------------------------------
    add("#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, %s!\\n\", \"world\");\n"
        "    return 0;\n}\n",
        "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
        "for (size_t i = 0; i < n; ++i) {\n\tif (a[i] != b[i])\n\t\treturn -1;\n}",
        "/* block comment */ // line comment\n#define MAX(a, b) ((a) > (b) ? (a) : (b))",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, x=None, *args, **kw):\n"
        "        super().__init__()\n        self.x = x or {}\n",
        "print(f\"{value!r:>10} {other:.3f}\")  # comment",
        "lambda x: [y ** 2 for y in range(x) if y % 3 == 0]",
        "{\"name\": \"bitnet\", \"version\": [1, 58], \"nested\": {\"a\": null, \"b\": true, \"c\": -1.5e3}}",
        "{\n  \"key\": \"value\",\n  \"list\": [\n    1,\n    2\n  ]\n}",
        "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n    echo \"$f\" | wc -c\ndone\n",
        "if [ -z \"${VAR:-}\" ]; then\n  export PATH=\"$HOME/bin:$PATH\"\nfi",
        "git log --oneline | head -n 5 && make -j4 2>&1 | tee build.log",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
        "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
        "x += 1; y -= 2; z *= 3; w /= 4; v %= 5; u <<= 6; t >>= 7;",
        "    four spaces\n        eight spaces\n\ttab\n\t\ttwo tabs",
        "fn main() { let v: Vec<i32> = vec![1, 2, 3]; println!(\"{:?}\", v); }",
        "a->b; c::d; e=>f; g!=h; i==j; k<=l; m>=n; o&&p; q||r;")

    # --- numbers --------------------------------------------------------------------------
    digits = "12345678901234567890"
    for n in range(1, 21):
        add(digits[:n])
    for n in (1, 2, 3, 4, 5, 6, 7, 9, 13, 20):
        add("9" * n)
    for n in (4, 7, 10):
        add(" " + digits[:n])
    add("3.14159", "1,000,000", "v2.0.1", "x1234567", "1234567x", "0x1F", "0b1010", "1e-10",
        "-42", "+7", "$1,234.56", "12:30pm", "2024-01-15T10:30:00Z", "192.168.0.1",
        "+1 (555) 010-9999", "100%", "50/50", "1st 2nd 3rd 4th", "a1b2c3d4", "007",
        "\u22125 (unicode minus)", "\u0663\u0664\u0665 Arabic-Indic digits",
        "\u0967\u0968\u0969 Devanagari digits", "\uff11\uff12\uff13 fullwidth digits",
        "\u216b roman twelve", "\u00bd half \u00b2 squared", "pi=3.14159265358979323846",
        "12 345 678", "1.2.3.4.5", "99 bottles of beer")

    # --- contractions ---------------------------------------------------------------------
    add("don't DON'T Don'T we're WE'LL I'd she's it'S",
        "I'm you're he's she's it's we're they're",
        "I've you'd we'll they'd I'll",
        "I'M YOU'RE HE'S SHE'S IT'S WE'RE THEY'RE",
        "I'VE YOU'D WE'LL THEY'D I'LL",
        "We'Ll yOu'Re I'D tHeY'vE",
        "can't won't shouldn't wouldn't couldn't isn't aren't",
        "'s 't 're 've 'm 'll 'd",
        "'S 'T 'RE 'VE 'M 'LL 'D",
        "rock'n'roll y'all 'tis O'Neil",
        "don\u2019t (curly apostrophe)",
        "John's book and James' car",
        "'quoted'",
        "''s",
        "'",
        "'''",
        "it's'",
        "x's 1's $'s")

    # --- whitespace -----------------------------------------------------------------------
    add("", " ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\n\n\n", "\r\n", "\r", "\r\r",
        "a\rb", " \n ", "\n ", " \n", "hello ", "hello  ", "  hello  ", "hello   world",
        "hello\tworld", "a\n\nb", "a \n\n b", "line1\r\nline2\r\n", "\r\n\r\n", "\n\r",
        "\u00a0", "a\u00a0b", "a \u00a0 b", "\u0085", "a\u0085b", " \u0085 ", "\u2028",
        "a\u2028b", "\u2029", "\u3000", "\u65e5\u672c\u3000\u8a9e", "\u200b", "a\u200bb",
        "\u200d", "a\u200db", "\ufeff", "\ufeffhello", "a\u2009b", " \u2009 ", "\u1680ogham",
        "a\u202fb", "a\u000bb\u000cc", "  \n  \n", "\n \n", "x \n\n y", "\t\tindent",
        "end\n", "trailing spaces   \n", " \u00a0\u2009\u3000 ", "a\t \tb", "\n\n\n\n\n\n",
        "word\n\n\n", "   \n\n\n   x")

    # --- emoji ----------------------------------------------------------------------------
    add("\U0001F600", "\U0001F600\U0001F601\U0001F602", "I \u2764\ufe0f you",
        "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family",
        "\U0001F469\u200D\U0001F4BB coder", "\U0001F1EB\U0001F1F7\U0001F1EF\U0001F1F5 flags",
        "\U0001F1FA\U0001F1F8", "\U0001F44D\U0001F3FD thumbs", "\U0001F44B\U0001F3FF\U0001F44B\U0001F3FB",
        "1\ufe0f\u20e3 2\ufe0f\u20e3 #\ufe0f\u20e3", "\U0001F3F3\ufe0f\u200d\U0001F308",
        "\U0001F9D1\U0001F3FD\u200d\U0001F680", "emoji\U0001F680at\U0001F525end",
        "\u2600\ufe0f \u2601 \u26a1", "\U0001F914\U0001F914 ?", "\u00a9 \u00ae \u2122")

    # --- scripts --------------------------------------------------------------------------
    add("\u4f60\u597d\uff0c\u4e16\u754c\uff01",
        "\u6211\u7231\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002",
        "\u4e2d\u6587\u548cEnglish\u6df7\u5408mixed",
        "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
        "\u79c1\u306f\u65e5\u672c\u8a9e\u3092\u8a71\u3057\u307e\u3059\u3002\u30ab\u30bf\u30ab\u30ca\u3082\u3002",
        "\u30c8\u30fc\u30af\u30ca\u30a4\u30b6\u30fc",
        "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
        "\ud55c\uad6d\uc5b4\ub97c \ubc30\uc6b0\uace0 \uc788\uc5b4\uc694.",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 123 \u062c\u0645\u064a\u0644\u0629",
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
        "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea with niqqud",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
        "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
        "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 "
        "\u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 "
        "\u0431\u0443\u043b\u043e\u043a.",
        "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
        "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2 \u03b1\u03b2\u03b3\u03b4",
        "\u0532\u0561\u0580\u0587 \u0561\u0577\u056d\u0561\u0580\u0570",
        "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
        "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd",
        "\u09b9\u09cd\u09af\u09be\u09b2\u09cb",
        "\u1780\u1798\u17d2\u1796\u17bb\u1787\u17b6",
        "Mixed: English, \u0420\u0443\u0441\u0441\u043a\u0438\u0439, \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, "
        "\u4e2d\u6587, \u0627\u0644\u0639\u0631\u0628\u064a\u0629.",
        "\u4e00", "\u9fa5", "\U00020000 ext-B", "\u3042", "\uac00")

    # --- accented Latin -------------------------------------------------------------------
    add("caf\u00e9", "cafe\u0301", "na\u00efve r\u00e9sum\u00e9", "\u00c5ngstr\u00f6m",
        "A\u030angstro\u0308m", "\u00f1 n\u0303", "Z\u00fcrich", "stra\u00dfe \u1e9e",
        "\u0153uvre \u00c6sir", "\ufb01le \ufb02ow", "\u01c4 \u01c5 \u01c6", "\u0130stanbul \u0131",
        "a\u0300\u0301\u0302\u0303", "\u0301", "e\u0301", "\u00e9\u00e8\u00ea\u00eb",
        "Fran\u00e7ois \u0141\u00f3d\u017a \u010ce\u0161tina")

    # --- fullwidth ------------------------------------------------------------------------
    add("\uff21\uff22\uff23\uff11\uff12\uff13\uff01", "\uff48\uff45\uff4c\uff4c\uff4f",
        "\uff08\uff09\uff3b\uff3d", "\uff1f\uff01\uff0c\uff0e", "\uff76\uff80\uff76\uff85 halfwidth")

    # --- control characters ---------------------------------------------------------------
    add("\x00", "a\x00b", "\x01", "\x07", "\x1b[31mred\x1b[0m", "\x7f", "\x08\x08", "\x1f",
        "\x00\x00\x00", "\u0080\u009f C1 controls", "tab\x09and\x0bvt")

    # --- long words -----------------------------------------------------------------------
    add("a" * 200,
        "https://www.example.com/a/very/long/path/with/many/segments/and_underscores/"
        "index.html?query=parameter&another=value&third=%20encoded%2Fslash#and-a-fragment",
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "antidisestablishmentarianism",
        "ab" * 100,
        "=" * 80,
        " " * 64,
        "\n" * 40,
        "\U0001F600" * 20,
        "0123456789abcdef" * 6)

    # --- special tokens and look-alikes ---------------------------------------------------
    add("<|begin_of_text|>Hi", "a<|eot_id|>b", "<|eot_id", "<|EOT_ID|>", "< |eot_id|>",
        "<s>", "</s>", "<unk>", "<0x41>",
        "<|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>",
        "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|reserved_special_token_0|>",
        "<|eot_id|><|eot_id|>", " <|eot_id|> ", "<|eot_id|>\n", "\n<|eot_id|>",
        "<|eot_id|>hello", "hello <|eot_id|> world", "<|begin_of_text|><|begin_of_text|>x",
        "<tool>", "<tool>call()</tool>", " <tool> ", "<TOOL>",
        "<|endoftext|>", "a<|endoftext|>b", " <|endoftext|> ",
        "<s>hello</s>", " <s> x", "<s> hello", "<s>\n", "<0x0A>", "<0x41><0x42>",
        "\u2581", "\u2581\u2581hello", "hello\u2581world", "<|", "|>", "<||>")

    # --- invalid UTF-8 --------------------------------------------------------------------
    add(b"\x80", b"abc\x80def", b"\xe2\x82", b"\xe2\x82x", b"\xc0\xaf", b"\xed\xa0\x80",
        b"\xf5", b"\xff", b"\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff",
        b"\xe2\x82\xac\xe2\x82", b"\xfe\xff", b"\xff\xfe", b"\xf0\x9f\x98",
        b"\xf0\x9f\x98\x80\xf0\x9f", b"\xc3", b"\xc3(", b"\xe0\x80\x80", b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80", b"\xbf\xbf", b"hello\xc0world", b"\xed\xbf\xbf",
        b"\xef\xbf\xbf", b"\xef\xbf\xbd", b"\x80\x80\x80\x80", b" \x80 ", b"<|eot_id|>\xff")

    # --- every printable ASCII character alone --------------------------------------------
    for c in range(0x20, 0x7f):
        add(chr(c))

    # --- deterministic random mixes -------------------------------------------------------
    pool = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            "      \t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`"
            "\u00e9\u00fc\u00df\u00f1\u0301\u00a0\u0085\u2028\u3000\u200b\ufeff"
            "\u4e2d\u6587\u3042\u30ab\ud55c\u0627\u05e9\u0905\u0e01\u0416\u03a9"
            "\U0001F600\U0001F44D\U0001F3FD\u200d\ufe0f\uff21\u2581")
    rng = random.Random(20240515)
    for _ in range(40):
        n = rng.randint(1, 24)
        add("".join(rng.choice(pool) for _ in range(n)))
    # Random fragments glued to special tokens.
    for _ in range(8):
        left = "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))
        right = "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))
        add(left + rng.choice(BPE_SPECIALS + [GPT2_SPECIAL] + SPM_SPECIALS + [BPE_NONSPECIAL]) + right)
    return out


# Extra prose and code for the training corpus (not test strings).
PROSE = """
BitNet b1.58 is a large language model whose weights are ternary: every weight is -1, 0 or +1.
The model reads text as tokens. A tokenizer turns a string into a list of integer ids, and the
decoder turns the ids back into text. Byte-level BPE starts from the 256 bytes, so it can encode
any input, and merges frequent pairs of symbols into longer tokens. The merges are applied in the
order they were learned: the pair with the lowest rank is merged first.
Numbers such as 2024, 3.14159 and 1,000,000 are split into groups of at most three digits.
We're testing contractions like don't, can't, it's, I'll, you've and they'd in this paragraph.
The weather today is sunny, with a light breeze from the west and a temperature of 21 degrees.
In the morning the market opens at nine; in the evening the streets are quiet again.
Le tokenizer découpe le texte en morceaux. Les caractères accentués comme é, è, à et ç sont
fréquents en français. Der schnelle braune Fuchs springt über den faulen Hund. Straße, Größe,
Übung, Äpfel. El niño comió una manzana y bebió agua. ¿Dónde está la biblioteca? ¡Hola!
Москва — столица России. Привет, как дела? Это тестовый текст для токенизатора.
Η γλώσσα είναι ελληνική. Καλημέρα σας, τι κάνετε σήμερα;
人工智能正在改变世界。我们今天学习分词器的工作原理。東京は日本の首都です。ひらがなとカタカナ。
한국어 문장을 여기에 씁니다. 오늘 날씨가 좋네요.
مرحبا بكم في هذا الاختبار. שלום לכולם. नमस्ते, आप कैसे हैं? สวัสดีครับ ยินดีต้อนรับ
Emoji appear in chat: 😀 👍 🎉 🚀 ❤️ 👨‍👩‍👧 🇫🇷 — and the tokenizer must keep them intact.
"""

CODE = r"""
#include <stdint.h>
#include <string.h>

typedef struct token {
    const char *text;
    int32_t id;
    float score;
} token_t;

static int cmp_tokens(const void *a, const void *b)
{
    const token_t *x = a, *y = b;
    return strcmp(x->text, y->text);
}

int tokenizer_encode(const tokenizer_t *tok, const char *text, int32_t *ids, size_t max_ids)
{
    size_t n = 0;
    for (size_t i = 0; text[i] != '\0' && n < max_ids; i++) {
        ids[n++] = tok->byte_to_id[(uint8_t)text[i]];
    }
    return (int)n;
}

def merge_pairs(word, ranks):
    while True:
        best = None
        for i in range(len(word) - 1):
            rank = ranks.get((word[i], word[i + 1]))
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            return word
        _, i = best
        word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]

{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}, "added_tokens": []}

for file in build/*.o; do
    if [ -f "$file" ]; then
        echo "object: $file"
    fi
done
"""


def corpus(strings):
    texts = [s.decode("utf-8", errors="replace") for s in strings]
    base = texts + PROSE.strip().split("\n") + CODE.strip().split("\n\n")
    return base * 3


# =============================================================================================
# JSON writing helpers (compact, stable, human-readable enough).
# =============================================================================================
def dump_tokenizer_json(obj, path):
    """Like tokenizers' pretty output, but one vocab entry / one merge per line."""
    model = dict(obj["model"])
    vocab = model.pop("vocab")
    merges = model.pop("merges", None)
    top = dict(obj)
    top["model"] = "@@MODEL@@"
    text = json.dumps(top, ensure_ascii=False, indent=2)
    mtext = json.dumps(model, ensure_ascii=False, indent=2)
    mlines = mtext.rstrip("}").rstrip().rstrip(",")
    parts = [mlines + ","]
    vl = [f"    {json.dumps(k, ensure_ascii=False)}: {v}" for k, v in vocab.items()]
    parts.append('  "vocab": {\n' + ",\n".join(vl) + ("\n  }" if vl else "}"))
    if merges is not None:
        ml = ["    " + json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in merges]
        parts[-1] += ","
        parts.append('  "merges": [\n' + ",\n".join(ml) + ("\n  ]" if ml else "]"))
    model_text = "\n".join(parts) + "\n}"
    model_text = "\n".join(("  " + ln) if i else ln for i, ln in enumerate(model_text.split("\n")))
    text = text.replace('"@@MODEL@@"', model_text)
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_folder(out, name, tok_json, config):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    dump_tokenizer_json(tok_json, os.path.join(d, "tokenizer.json"))
    write_json(os.path.join(d, "tokenizer_config.json"), config)
    # What the C side loads must be what we measured: reload from the file.
    return Tokenizer.from_file(os.path.join(d, "tokenizer.json"))


# =============================================================================================
# Step 2: vocabularies.
# =============================================================================================
def byte_decoder():
    """Byte-level alphabet char -> byte (GPT-2's bytes_to_unicode, inverted)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1))
          + list(range(0xAE, 0xFF + 1)))
    cs = bs[:]
    n = 0
    for x in range(256):
        if x not in bs:
            bs.append(x)
            cs.append(256 + n)
            n += 1
    return {chr(c): v for v, c in zip(bs, cs)}


BYTE_DEC = byte_decoder()
BYTE_ENC = {v: k for k, v in BYTE_DEC.items()}


def token_bytes(tok):
    return bytes(BYTE_DEC[c] for c in tok)


def byte_level(s):
    """str -> its byte-level BPE spelling (GPT-2's bytes_to_unicode)."""
    return "".join(BYTE_ENC[x] for x in s.encode("utf-8"))


def bpe_pipeline(tok):
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_bpe(texts):
    tok = bpe_pipeline(Tokenizer(models.BPE(ignore_merges=True)))
    trainer = trainers.BpeTrainer(vocab_size=3000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(texts, trainer)
    js = json.loads(tok.to_str())
    # A trained vocabulary has no token that ignore_merges changes: training applies the merges
    # in rank order, exactly as encoding does. Real LLaMA-3 vocabularies have such tokens, so
    # make some (unless the search finds enough): words of the prose that encode to several
    # tokens get a vocab entry T = A + B and a last-rank merge (A, B), for a split A|B that
    # the rank order never produces. ignore_merges=true then finds T whole; false cannot.
    found = find_ignore_merges_words(js)
    constructed = []
    if len(found) < 3:
        plain = Tokenizer.from_str(json.dumps(js))
        vocab, merges = js["model"]["vocab"], js["model"]["merges"]

        def try_word(w):
            bw = byte_level(w)
            if bw in vocab or w in constructed:
                return False
            seg = [plain.id_to_token(i) for i in plain.encode(w, add_special_tokens=False).ids]
            # seg[0] != left: the rank order never puts left and right side by side, so the
            # last-rank merge (left, right) cannot fire and T is not reachable by merges.
            for k in range(len(bw) - 1, 0, -1):
                left, right = bw[:k], bw[k:]
                if left in vocab and right in vocab and seg[0] != left:
                    vocab[bw] = len(vocab)
                    merges.append([left, right])
                    constructed.append(w)
                    return True
            return False

        for w in IGNORE_MERGES_PREFERRED:
            if len(constructed) == 4:
                break
            try_word(w)
        if len(constructed) < 3:  # fallback: any word-like token + a common suffix
            heads = [t for t in list(vocab) if re.fullmatch("\u0120[a-z]{4,}", t)]
            for suffix in ("s", "d", "ed", "er", "ly", "ing"):
                for h in heads:
                    if len(constructed) < 4:
                        try_word(token_bytes(h).decode() + suffix)
    tok = bpe_pipeline(Tokenizer.from_str(json.dumps(js)))
    n = tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BPE_SPECIALS])
    tok.add_tokens([AddedToken(BPE_NONSPECIAL, special=False, normalized=False)])
    bos = tok.token_to_id("<|begin_of_text|>")
    assert bos == n, (bos, n)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return json.loads(tok.to_str()), constructed


def train_gpt2(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2500, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken(GPT2_SPECIAL, special=True, normalized=False)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return json.loads(tok.to_str())


def spm_merges(vocab):
    """transformers' SentencePieceExtractor: every (a, b) with a, b, a+b in the vocab, by the id
    of a+b, then of a, then of b. Ranking by id = SentencePiece's highest score (-id) first."""
    skip = set(SPM_SPECIALS) | {f"<0x{i:02X}>" for i in range(256)}
    v = {k: i for k, i in vocab.items() if k not in skip}
    merges = []
    for piece, pid in v.items():
        local = []
        for i in range(1, len(piece)):
            left, right = piece[:i], piece[i:]
            if left in v and right in v:
                local.append((v[left], v[right], left, right))
        local.sort()
        merges.extend((pid, l_id, r_id, left, right) for l_id, r_id, left, right in local)
    merges.sort()
    return [[m[3], m[4]] for m in merges]


# The spm character alphabet: printable ASCII (the space is "\u2581" there), some Latin,
# Cyrillic and Greek letters. limit_alphabet keeps exactly these, so everything else (CJK,
# emoji, capital Cyrillic, final sigma, combining marks, controls, newline, tab, ...) is
# encoded with the <0xXX> byte-fallback tokens, as in LLaMA-2.
SPM_ALPHABET = sorted(set(
    [chr(c) for c in range(0x21, 0x7F)] + ["\u2581"]
    + list("\u00e9\u00e8\u00e0\u00e7\u00fc\u00f6\u00e4\u00df\u00f1\u00ed\u00f3\u00e1\u00fa\u00e2\u00ea\u00f4")
    + [chr(c) for c in range(0x0430, 0x0450)]       # Cyrillic small a..ya
    + [chr(c) for c in range(0x03B1, 0x03CA) if c != 0x03C2]))  # Greek small alpha..omega


def train_spm(texts):
    # Train on whitespace-split words with the ▁ prefix, as SentencePiece does
    # (split_by_whitespace); newlines/tabs become spaces so that they fall back to bytes later.
    clean = [re.sub(r"[\t\r\n\x0b\x0c]", " ", t) for t in texts]
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                           normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never",
                                                 split=True)
    trainer = trainers.BpeTrainer(vocab_size=2200, min_frequency=2, show_progress=False,
                                  initial_alphabet=SPM_ALPHABET,
                                  limit_alphabet=len(SPM_ALPHABET), special_tokens=[])
    tok.train_from_iterator(clean, trainer)
    trained = json.loads(tok.to_str())["model"]
    tvocab = trained["vocab"]
    alphabet = sorted((k for k in tvocab if len(k) == 1), key=lambda k: tvocab[k])
    merged = [a + b for a, b in trained["merges"]]
    vocab = {}
    for t in SPM_SPECIALS + [f"<0x{i:02X}>" for i in range(256)]:
        vocab[t] = len(vocab)
    # Merged pieces in merge order (SentencePiece's score order), then the single characters
    # (SentencePiece keeps them at the end of its BPE vocabularies).
    for t in merged + alphabet:
        if t not in vocab:
            vocab[t] = len(vocab)
    merges = spm_merges(vocab)
    model = models.BPE(vocab=vocab, merges=[tuple(m) for m in merges], unk_token="<unk>",
                       byte_fallback=True, fuse_unk=True, ignore_merges=False)
    t = Tokenizer(model)
    t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                         normalizers.Replace(" ", "\u2581")])
    t.pre_tokenizer = None
    t.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                   decoders.Fuse(), decoders.Strip(content=" ", left=1, right=0)])
    t.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPM_SPECIALS])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                     special_tokens=[("<s>", 1)])
    js = json.loads(t.to_str())
    assert js["model"]["merges"] == merges
    return js


def spm_metaspace(spm_js):
    js = json.loads(json.dumps(spm_js))
    js["normalizer"] = None
    js["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                           "prepend_scheme": "first", "split": False}
    js["decoder"] = {"type": "Metaspace", "replacement": "\u2581",
                     "prepend_scheme": "first", "split": False}
    return js


def strmerges(js):
    js = json.loads(json.dumps(js))
    for a, bb in js["model"]["merges"]:
        assert " " not in a and " " not in bb
    js["model"]["merges"] = [f"{a} {bb}" for a, bb in js["model"]["merges"]]
    return js


def with_ignore_merges(js, flag):
    js = json.loads(json.dumps(js))
    js["model"]["ignore_merges"] = flag
    return Tokenizer.from_str(json.dumps(js))


def find_ignore_merges_words(bpe_js):
    """Vocab tokens that BPE with ignore_merges=false splits into several ids, while
    ignore_merges=true keeps whole: word-like ones (optional leading space + letters)."""
    tok_yes = with_ignore_merges(bpe_js, True)
    tok_no = with_ignore_merges(bpe_js, False)
    found = []
    for t, i in bpe_js["model"]["vocab"].items():
        try:
            s = token_bytes(t).decode("utf-8")
        except (UnicodeDecodeError, KeyError):
            continue
        if not re.fullmatch(r" ?[a-z]{3,}", s):
            continue
        if tok_yes.encode(s, add_special_tokens=False).ids != [i]:
            continue
        no = tok_no.encode(s, add_special_tokens=False).ids
        if len(no) > 1:
            found.append((i, s, no))
    return found


# =============================================================================================
# Step 3: expected ids and decodings.
# =============================================================================================
def expectations(tok, texts):
    rows = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=True).ids
        nobos = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        try:
            plain = tok.encode(text, add_special_tokens=False).ids
        finally:
            tok.encode_special_tokens = False
        rows.append({"ids": ids, "ids_nobos": nobos, "ids_plain": plain,
                     "decoded_hex": tok.decode(ids, skip_special_tokens=False).encode().hex(),
                     "decoded_skip_hex": tok.decode(ids, skip_special_tokens=True).encode().hex()})
    return rows


# Decode-only cases: id sequences that no encode produces (partial UTF-8, bytes around other
# tokens, specials in the middle), given as token strings per vocabulary.
DECODE_ONLY = {
    "spm": [["<0xE2>", "<0x82>", "a"], ["<0xE2>", "<0x82>", "<0xAC>"], ["<0xE2>", "a", "<0x82>"],
            ["<0xC0>", "<0xAF>"], ["<0xF0>", "<0x9F>", "<0x98>"], ["<0x80>"],
            ["<s>", "<0x41>", "</s>"], ["\u2581", "\u2581a"], ["\u2581a", "<s>", "\u2581b"],
            ["<unk>", "\u2581a"], ["\u2581", "<0x0A>", "\u2581b"], ["a", "\u2581"], ["<s>"]],
    "bpe": [["\u00e2\u0124", "a"], ["\u00f0", "\u0141", "\u013a"], ["\u00f0", "\u0141", "\u013a", "\u0122"],
            ["\u0122"], ["\u0120"], ["<|eot_id|>", "\u0120a"], ["<tool>", "\u0120a"],
            ["\u010a", "\u0120"], ["<|begin_of_text|>", "\u00e2", "<|eot_id|>", "\u0124"],
            ["\u00ff", "\u00fe"]],
}
DECODE_ONLY["spm-metaspace"] = DECODE_ONLY["spm"]
DECODE_ONLY["gpt2"] = [[GPT2_SPECIAL if t in BPE_SPECIALS else t for t in seq]
                       for seq in DECODE_ONLY["bpe"] if BPE_NONSPECIAL not in seq]


def decode_only(toks):
    rows = []
    for name, seqs in DECODE_ONLY.items():
        tok = toks[name]
        for seq in seqs:
            ids = [tok.token_to_id(t) for t in seq]
            assert None not in ids, (name, seq)
            rows.append({"vocab": name, "ids": ids,
                         "decoded_hex": tok.decode(ids, skip_special_tokens=False).encode().hex(),
                         "decoded_skip_hex": tok.decode(ids, skip_special_tokens=True).encode().hex()})
    return rows


def dump_cases(path, obj):
    """One JSON object; every string entry and every per-string row on a line of its own."""
    c = lambda x: json.dumps(x, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    lines = ["{",
             f'"generator":{c(obj["generator"])},',
             f'"tokenizers_version":{c(obj["tokenizers_version"])},',
             '"strings":[']
    lines.append(",\n".join(c(s) for s in obj["strings"]))
    lines.append("],")
    lines.append('"vocabs":{')
    vparts = []
    for name, rows in obj["vocabs"].items():
        vparts.append(f"{c(name)}:[\n" + ",\n".join(c(r) for r in rows) + "\n]")
    lines.append(",\n".join(vparts))
    lines.append("},")
    lines.append('"ignore_merges":[')
    lines.append(",\n".join(c(r) for r in obj["ignore_merges"]))
    lines.append("],")
    lines.append('"decode_only":[')
    lines.append(",\n".join(c(r) for r in obj["decode_only"]))
    lines.append("]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# =============================================================================================
# Step 4: chat templates rendered as transformers does.
# =============================================================================================
def render_chat(template, messages, add_generation_prompt, bos_token, eos_token):
    # transformers.utils.chat_template_utils._compile_jinja_template: an immutable sandboxed
    # environment with trim_blocks and lstrip_blocks, loop controls, a tojson filter that keeps
    # non-ASCII, and the raise_exception global.
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages,
                                            add_generation_prompt=add_generation_prompt,
                                            bos_token=bos_token, eos_token=eos_token)


CHAT_CONVERSATIONS = [
    ([{"role": "user", "content": "Hello!"}], True),
    ([{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "What is 2+2?"}], True),
    ([{"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello! How can I help?"},
      {"role": "user", "content": "Tell me a joke."}], True),
    ([{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Capital of France?"},
      {"role": "assistant", "content": "Paris."}], False),
    ([{"role": "user", "content": "  padded content with spaces \n\n"},
      {"role": "assistant", "content": "\nline one\nline two\n"},
      {"role": "user", "content": "\t tabs and\r\nCRLF \t"}], True),
    ([{"role": "user", "content": ""}], True),
    ([{"role": "user", "content": "\u65e5\u672c\u8a9e \U0001F600 caf\u00e9 \u00a0nbsp\u00a0"},
      {"role": "assistant", "content": "\u00c7a va? \u2713 \u041f\u0440\u0438\u0432\u0435\u0442"}],
     False),
    ([{"role": "user", "content": "Literal <|eot_id|> and {{ not_a_tag }} and {% raw %}"}], True),
    # Jinja's trim is Python's str.strip(): every str.isspace() character, which is more than
    # the tokenizer regex's \s (U+001C..U+001F are stripped too). capitalize lowers the rest.
    ([{"role": "user", "content": "\x1c\x85\u3000\u2028 exotic whitespace \u00a0\x1f\u2009"},
      {"role": "ASSISTANT", "content": "ok"}], True),
    ([{"role": "system", "content": "Tools available."},
      {"role": "tool", "content": "{\"result\": 42}"},
      {"role": "user", "content": "multi\n\nparagraph\n\n"}], True),
    ([], True),
]


def make_chat():
    bos, eos = "<|begin_of_text|>", "<|eot_id|>"
    cases = []
    for name, tmpl in CHAT_TEMPLATES.items():
        for messages, gen in CHAT_CONVERSATIONS:
            cases.append({"template": name, "messages": messages, "add_generation_prompt": gen,
                          "rendered": render_chat(tmpl, messages, gen, bos, eos)})
    return {"generator": "scripts/make_tokenizer_fixtures.py", "jinja2_version": jinja2.__version__,
            "templates": CHAT_TEMPLATES, "bos_token": bos, "eos_token": eos, "cases": cases}


# =============================================================================================
# Step 5: malformed tokenizer.json files.
# =============================================================================================
def small_gpt2():
    """A tiny valid byte-level BPE tokenizer.json (shrunk from the gpt2 layout)."""
    vocab = {"a": 0, "b": 1, "c": 2, "d": 3, "\u0120": 4, "ab": 5, "abc": 6, "\u0120a": 7,
             "cd": 8}
    merges = [["a", "b"], ["ab", "c"], ["\u0120", "a"], ["c", "d"]]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 9, "content": GPT2_SPECIAL, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False,
                          "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def small_spm():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for i in range(256):
        vocab[f"<0x{i:02X}>"] = len(vocab)
    for t in ["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab"]:
        vocab[t] = len(vocab)
    js = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, t in enumerate(SPM_SPECIALS)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }
    js["model"]["merges"] = spm_merges(vocab)
    return js


def bad_cases():
    """(folder, expected error phrase, tokenizer.json text)."""
    def g():
        return small_gpt2()

    def text(js):
        return json.dumps(js, ensure_ascii=False, indent=1)

    out = []
    full = text(g())
    out.append(("bad-json", "JSON", full[: len(full) // 2]))
    js = g(); del js["model"]
    out.append(("no-model", "model", text(js)))
    js = g(); js["model"] = "BPE"
    out.append(("model-not-object", "model", text(js)))
    js = g(); js["model"]["type"] = "WordPiece"
    out.append(("unknown-model-type", "model.type", text(js)))
    js = g(); js["model"]["vocab"] = [["a", 0], ["b", 1]]
    out.append(("vocab-not-object", "vocab", text(js)))
    js = g(); js["model"]["vocab"]["d"] = -4
    out.append(("vocab-id-negative", "vocab", text(js)))
    js = g(); js["model"]["vocab"]["d"] = "3"
    out.append(("vocab-id-not-integer", "vocab", text(js)))
    js = g(); js["model"]["vocab"]["d"] = 2
    out.append(("duplicate-id", "duplicate", text(js)))
    js = g(); js["model"]["merges"].append(["x", "y"])
    out.append(("merge-unknown-token", "merge", text(js)))
    js = g(); js["model"]["merges"].append(["b", "c"])
    out.append(("merge-result-unknown", "merge", text(js)))
    js = g(); js["model"]["merges"][0] = "ab"
    out.append(("merge-no-space", "merge", text(js)))
    js = g(); js["model"]["merges"][0] = ["a", "b", "c"]
    out.append(("merge-wrong-arity", "merge", text(js)))
    js = g(); del js["added_tokens"][0]["content"]
    out.append(("added-token-no-content", "content", text(js)))
    js = g(); js["added_tokens"][0]["id"] = 5
    out.append(("added-token-collides", "added", text(js)))
    js = g(); js["pre_tokenizer"] = {"type": "FancyPreTokenizer"}
    out.append(("unknown-pre-tokenizer-type", "pre_tokenizer", text(js)))
    js = g(); js["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(unclosed"},
                                     "behavior": "Isolated", "invert": False}
    out.append(("bad-split-regex", "regex", text(js)))
    js = g(); js["model"]["vocab"] = {}; js["model"]["merges"] = []; js["added_tokens"] = []
    out.append(("empty-vocab", "vocab", text(js)))
    js = small_spm()
    js["model"]["vocab"] = {k: v for k, v in js["model"]["vocab"].items()
                            if not k.startswith("<0x")}
    js["model"]["vocab"] = {k: i for i, k in enumerate(js["model"]["vocab"])}
    js["model"]["merges"] = spm_merges(js["model"]["vocab"])
    out.append(("byte-fallback-missing-bytes", "<0x", text(js)))
    js = g(); js["model"]["vocab"]["d"] = 10 ** 12
    out.append(("huge-id", "vocab", text(js)))
    return out


def write_bad(out):
    d = os.path.join(out, "bad")
    os.makedirs(d, exist_ok=True)
    # The undamaged bases must load.
    Tokenizer.from_str(json.dumps(small_gpt2()))
    Tokenizer.from_str(json.dumps(small_spm()))
    manifest = []
    hf_verdicts = []
    for name, phrase, text in bad_cases():
        os.makedirs(os.path.join(d, name), exist_ok=True)
        with open(os.path.join(d, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(text if name == "bad-json" else text + "\n")
        manifest.append(f"{name}\t{phrase}")
        try:
            Tokenizer.from_str(text)
            hf_verdicts.append((name, "loads in tokenizers"))
        except Exception as e:  # noqa: BLE001 - we report whatever tokenizers says
            hf_verdicts.append((name, "rejected: " + str(e).split("\n")[0][:100]))
    with open(os.path.join(d, "MANIFEST.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(manifest) + "\n")
    return hf_verdicts


# =============================================================================================
def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    for sub in ("bpe", "bpe-strmerges", "gpt2", "spm", "spm-metaspace", "bad"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    os.makedirs(out, exist_ok=True)

    raw = test_strings()
    texts_for_corpus = corpus(raw)

    bpe_js, constructed = train_bpe(texts_for_corpus)
    gpt2_js = train_gpt2(texts_for_corpus)
    spm_js = train_spm(texts_for_corpus)

    # ignore_merges: words that only ignore_merges=true keeps whole. Not part of the corpus.
    found = find_ignore_merges_words(bpe_js)
    if len(found) < 3:
        raise SystemExit(f"only {len(found)} ignore_merges words found; edit the corpus")
    # Prefer the constructed ones (whole words), then the longest.
    found.sort(key=lambda f: (f[1] not in constructed, -len(f[1]), f[1]))
    chosen = found[:4]
    im_strings = []
    for k, (_, word, _) in enumerate(chosen):
        if word.startswith(" "):
            sent = ["Here is" + word + " in a sentence.", "We said" + word + ", twice:" + word + "!",
                    "Say" + word + "\nthen stop", "and" + word][k % 4]
        else:
            sent = word + " starts this sentence."
        im_strings.append(b(sent))
    first_im = len(raw)
    raw = raw + im_strings
    texts = [s.decode("utf-8", errors="replace") for s in raw]

    bpe_config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                  "chat_template": CHAT_TEMPLATES["bitnet"],
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    spm_config = {"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>",
                  "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizerFast"}
    gpt2_config = {"bos_token": GPT2_SPECIAL, "eos_token": GPT2_SPECIAL}

    toks = {
        "bpe": write_folder(out, "bpe", bpe_js, bpe_config),
        "bpe-strmerges": write_folder(out, "bpe-strmerges", strmerges(bpe_js), bpe_config),
        "gpt2": write_folder(out, "gpt2", gpt2_js, gpt2_config),
        "spm": write_folder(out, "spm", spm_js, spm_config),
        "spm-metaspace": write_folder(out, "spm-metaspace", spm_metaspace(spm_js), spm_config),
    }
    vocabs = {name: expectations(t, texts) for name, t in toks.items()}
    assert vocabs["bpe"] == vocabs["bpe-strmerges"], "string merges must give the same ids"

    tok_no = with_ignore_merges(bpe_js, False)
    im_rows = []
    for k, (tid, word, split) in enumerate(chosen):
        i = first_im + k
        no = tok_no.encode(texts[i], add_special_tokens=False).ids
        assert no != vocabs["bpe"][i]["ids_nobos"], (word, no)
        assert tid in vocabs["bpe"][i]["ids_nobos"]
        im_rows.append({"string_index": i, "token": word, "token_id": tid,
                        "constructed": word in constructed,
                        "token_ids_without_ignore_merges": split,
                        "ids_without_ignore_merges": no})

    cases = {"generator": "scripts/make_tokenizer_fixtures.py",
             "tokenizers_version": tokenizers.__version__,
             "strings": [{"input_hex": r.hex(), "text_hex": t.encode().hex()}
                         for r, t in zip(raw, texts)],
             "vocabs": vocabs,
             "ignore_merges": im_rows,
             "decode_only": decode_only(toks)}
    dump_cases(os.path.join(out, "cases.json"), cases)
    write_json(os.path.join(out, "chat.json"), make_chat())
    verdicts = write_bad(out)

    print(f"strings: {len(raw)}")
    for name, t in toks.items():
        print(f"{name}: vocab size {t.get_vocab_size()} "
              f"(model {len(json.loads(t.to_str())['model']['vocab'])})")
    for r in im_rows:
        print(f"ignore_merges: {r['token']!r} id {r['token_id']} -> {r['token_ids_without_ignore_merges']}"
              f" in string {r['string_index']}")
    for name, v in verdicts:
        print(f"bad/{name}: {v}")


if __name__ == "__main__":
    main()
