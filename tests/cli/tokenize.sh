#!/usr/bin/env bash
# tokenize.sh - `bitnet tokenize` / `bitnet detokenize` end to end: known ids of the fixture
# vocabularies (tests/fixtures/tokenizer, made with HF tokenizers), the --special/--no-bos
# switches, -f FILE and stdin, the same ids from an HF folder and from the GGUF `bitnet convert`
# makes of it, a round trip through detokenize, and clear errors for bad input.
set -u
bin="$1"
fix="$(cd "$(dirname "$0")/../fixtures" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, expected, actual
    if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; fails=$((fails + 1)); fi
}
ids() { "$bin" tokenize --json "$@" | sed -n 's/.*"ids": \[\([^]]*\)\].*/\1/p'; }

bpe="$fix/tokenizer/bpe"
# ids from tokenizers 0.23.3 (cases.json): BOS 3004, and <|eot_id|> 3008 only with --special
check "bpe with BOS" "3004, 498, 535" "$(ids -m "$bpe" "Hello world")"
check "bpe --no-bos" "498, 535" "$(ids -m "$bpe" --no-bos "Hello world")"
check "bpe --special" "3004, 64, 3008, 65" "$(ids -m "$bpe" --special "a<|eot_id|>b")"
plain=$(ids -m "$bpe" "a<|eot_id|>b")
[[ "$plain" != *3008* ]] && echo "ok   no --special: <|eot_id|> is text" || { echo "FAIL <|eot_id|> parsed without --special: $plain"; fails=$((fails + 1)); }

printf 'caf\xc3\xa9\n\ttab' >"$tmp/in.txt"
check "-f FILE equals stdin" "$(ids -m "$bpe" -f "$tmp/in.txt")" "$(ids -m "$bpe" -f - <"$tmp/in.txt")"
out=$("$bin" detokenize -m "$bpe" $(ids -m "$bpe" --no-bos -f "$tmp/in.txt" | tr -d ,))
check "detokenize round trip" "$(cat "$tmp/in.txt")" "$out"
check "detokenize --skip-special" "Hi" "$("$bin" detokenize -m "$bpe" --skip-special 3004,39,72)"

# the tiny model's folder and the GGUF converted from it tokenize alike
"$bin" convert "$fix/tiny-bitnet-hf" "$tmp/tiny.gguf" --type tq2_0 >/dev/null 2>&1 || { echo "FAIL convert"; fails=$((fails + 1)); }
text='The model says: "héllo, 12345 wörld!"  <|eot_id|>'
check "HF folder == GGUF" "$(ids -m "$fix/tiny-bitnet-hf" --special "$text")" "$(ids -m "$tmp/tiny.gguf" --special "$text")"
check "spm: tokenizer.json file path" "1, 567, 437" "$(ids -m "$fix/tokenizer/spm/tokenizer.json" "Hello world")"

# bad input: one clear line on stderr, non-zero exit, no crash
expect_error() { # name, pattern, command...
    local name="$1" pat="$2"
    shift 2
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne 0 ] && [[ "$err" == *"$pat"* ]]; then echo "ok   $name: $err"; else echo "FAIL $name: rc $rc, [$err]"; fails=$((fails + 1)); fi
}
expect_error "missing model" "tokenizer.json: not found" "$bin" tokenize -m "$tmp/nope" hi
expect_error "no text" "TEXT or -f" "$bin" tokenize -m "$bpe"
expect_error "id out of range" "outside the vocabulary" "$bin" detokenize -m "$bpe" 999999
expect_error "not an id" "not a list of token ids" "$bin" detokenize -m "$bpe" 12x
expect_error "merge naming an unknown token" "merge" "$bin" tokenize -m "$fix/tokenizer/bad/merge-unknown-token" hi
# a Split regex that backtracks exponentially: PCRE2's match limit, reported, not a hang
cat > "$tmp/patho.json" <<'JSON'
{"version":"1.0","added_tokens":[],"normalizer":null,"post_processor":null,
 "pre_tokenizer":{"type":"Sequence","pretokenizers":[
  {"type":"Split","pattern":{"Regex":"(a|aa)+$"},"behavior":"Isolated","invert":false},
  {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},
 "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
  "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
  "vocab":{"a":0,"b":1},"merges":[]}}
JSON
expect_error "regex match limit" "match limit" "$bin" tokenize -m "$tmp/patho.json" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
# single_word added tokens: no word character (the regex crate's Unicode \w) may touch them;
# expected ids from tokenizers 0.23.3 on the bpe fixture plus the added token "zq"
python3 - "$fix/tokenizer/bpe/tokenizer.json" "$tmp/sw.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
nid = max(max(d["model"]["vocab"].values()), max(t["id"] for t in d["added_tokens"])) + 1
d["added_tokens"].append({"id": nid, "content": "zq", "single_word": True, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": False})
json.dump(d, open(sys.argv[2], "w"))
PY
while IFS='|' read -r text want; do
    check "single_word: $text" "$want" "$(ids -m "$tmp/sw.json" --no-bos "$text")"
done <<'CASES'
ézq|337, 89, 80
zqé|89, 80, 337
日zq|696, 98, 89, 80
€zq|1757, 105, 3011
_zq|62, 89, 80
zq_|89, 80, 62
Ⅻzq|2792, 89, 80
²zq|1707, 3011
😀zq|299, 3011
a zq b|64, 220, 3011, 293
CASES
# a Split String pattern is literal text, "\s" included (ids from tokenizers 0.23.3)
python3 - "$fix/tokenizer/bpe/tokenizer.json" "$tmp/str.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"String": "\\s"}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
json.dump(d, open(sys.argv[2], "w"))
PY
check "Split String with a backslash" "83, 270, 59, 82, 83, 270" "$(ids -m "$tmp/str.json" --no-bos 'the\sthe')"
echo "tokenize.sh: $fails failed"
[ $fails -eq 0 ]
