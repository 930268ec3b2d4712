#!/usr/bin/env bash
# train_data.sh - `bitnet train-tokenizer` and `bitnet tokenize-data` end to end on a small
# corpus made here: the tokenizer folder loads and has the special tokens where they belong, is
# the same on a second run; the token files hold every document as BOS + text + end-of-text with
# the counts printed; the split depends only on the documents and the seed (not on how they are
# spread over files, their order or the thread count); bad arguments exit 2, bad input 1.
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, expected, actual
    if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; fails=$((fails + 1)); fi
}
ids() { "$bin" tokenize --json "$@" | sed -n 's/.*"ids": \[\([^]]*\)\].*/\1/p'; }

# 120 documents separated by form-feed lines (the corpus convention), a few with two paragraphs
python3 - "$tmp" <<'PY'
import random, sys
random.seed(7)
subjects = ["The river", "A small town", "The old bridge", "Every teacher", "The market",
            "Our neighbour", "The railway", "A quiet garden", "The baker", "Café Müller"]
verbs = ["remembers", "crosses", "watches", "carries", "follows", "welcomes", "changes"]
objects = ["the morning light", "twelve visitors", "the long winter", "a letter from 1874",
           "three stone arches", "the evening bread", "4.5 tonnes of coal", "everyone's story"]
docs = []
for d in range(120):
    paras = []
    for p in range(1 + (d % 3 == 0)):
        paras.append(" ".join("%s %s %s." % (random.choice(subjects), random.choice(verbs),
                                              random.choice(objects)) for _ in range(random.randint(2, 6))))
    docs.append("\n\n".join(paras))
open(sys.argv[1] + "/corpus.txt", "w").write("\n\f\n".join(docs) + "\n")
# the same documents over two files, in another order
half = len(docs) // 2
open(sys.argv[1] + "/part1.txt", "w").write("\n\f\n".join(reversed(docs[half:])))
open(sys.argv[1] + "/part2.txt", "w").write("\f\n" + "\n\f\n".join(docs[:half]) + "\n\f\n")
open(sys.argv[1] + "/ndocs", "w").write(str(len(docs)))
PY
ndocs=$(cat "$tmp/ndocs")

# ---- train-tokenizer
out=$("$bin" train-tokenizer --vocab 600 -o "$tmp/tok" "$tmp/corpus.txt" 2>&1)
rc=$?
check "train-tokenizer runs" "0" "$rc"
[[ "$out" == *"600 tokens"*"16 special"* ]] && echo "ok   summary: $out" || { echo "FAIL summary: $out"; fails=$((fails + 1)); }
[ -f "$tmp/tok/tokenizer.json" ] && [ -f "$tmp/tok/tokenizer_config.json" ] && echo "ok   both files" || { echo "FAIL files missing"; fails=$((fails + 1)); }
# 584 normal tokens, then <|begin_of_text|> 584, <|end_of_text|> 585, <|eot_id|> 593
check "BOS first" "584" "$(ids -m "$tmp/tok" "x" | cut -d, -f1)"
check "special tokens" "584, 585, 593" "$(ids -m "$tmp/tok" --special --no-bos "<|begin_of_text|><|end_of_text|><|eot_id|>")"
check "text round trip" "The river crosses 3 arches." "$("$bin" detokenize -m "$tmp/tok" --skip-special $(ids -m "$tmp/tok" "The river crosses 3 arches." | tr -d ,))"
n_the=$(ids -m "$tmp/tok" --no-bos " the" | tr -d ' ')
[[ "$n_the" != *,* ]] && echo "ok   ' the' is one learned token ($n_the)" || { echo "FAIL ' the' is several tokens: $n_the"; fails=$((fails + 1)); }
grep -q '"chat_template"' "$tmp/tok/tokenizer_config.json" && echo "ok   chat template" || { echo "FAIL no chat template"; fails=$((fails + 1)); }
"$bin" train-tokenizer --vocab 600 -o "$tmp/tok2" "$tmp/corpus.txt" >/dev/null 2>&1
cmp -s "$tmp/tok/tokenizer.json" "$tmp/tok2/tokenizer.json" && echo "ok   same text, same tokenizer.json" || { echo "FAIL tokenizer.json differs between runs"; fails=$((fails + 1)); }
"$bin" train-tokenizer --vocab 600 -o "$tmp/tok3" "$tmp/part1.txt" "$tmp/part2.txt" >/dev/null 2>&1
cmp -s "$tmp/tok/tokenizer.json" "$tmp/tok3/tokenizer.json" && echo "ok   documents over two files, reordered: same tokenizer" || { echo "FAIL the file layout changed the tokenizer"; fails=$((fails + 1)); }

# ---- tokenize-data
out=$("$bin" tokenize-data -m "$tmp/tok" -o "$tmp/d" --val-fraction 0.25 --seed 3 "$tmp/corpus.txt" 2>&1)
check "tokenize-data runs" "0" "$?"
echo "$out" | sed 's/^/     /'
ntrain=$(echo "$out" | sed -n 's/^documents: \([0-9]*\) training, \([0-9]*\) validation.*/\1/p')
nval=$(echo "$out" | sed -n 's/^documents: \([0-9]*\) training, \([0-9]*\) validation.*/\2/p')
check "every document on one side" "$ndocs" "$((ntrain + nval))"
[ "$nval" -gt 10 ] && [ "$nval" -lt 55 ] && echo "ok   about a quarter held out ($nval)" || { echo "FAIL $nval of $ndocs held out with 0.25"; fails=$((fails + 1)); }
# the files against the printed counts, and their structure: every document BOS ... EOS
python3 - "$tmp/d" "$out" "$ntrain" "$nval" <<'PY' || fails=$((fails + 1))
import re, struct, sys
prefix, out, ntrain, nval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = re.search(r"tokens: (\d+) training, (\d+) validation", out)
bad = []
for name, ndoc, ntok in (("train", ntrain, int(m.group(1))), ("val", nval, int(m.group(2)))):
    b = open("%s.%s.tok" % (prefix, name), "rb").read()
    magic, version, width, count, vocab, eot, _hash = struct.unpack_from("<8sIIQIIQ", b)
    ids = struct.unpack_from("<%dH" % count, b, 64)
    if (magic, version, width, vocab, eot) != (b"BNTOKENS", 1, 2, 600, 585): bad.append(name + " header")
    if count != ntok or len(b) != 64 + 2 * count: bad.append(name + " count %d vs %d" % (count, ntok))
    if ids.count(584) != ndoc or ids.count(585) != ndoc: bad.append(name + " BOS/EOS per document")
    if ids and (ids[0] != 584 or ids[-1] != 585): bad.append(name + " starts with BOS, ends with EOS")
    if any(ids[i] == 585 and ids[i + 1] != 584 for i in range(len(ids) - 1)): bad.append(name + " EOS then BOS")
    if b[40:64] != bytes(24): bad.append(name + " reserved bytes")
print(("FAIL token files: " + ", ".join(bad)) if bad else "ok   token files: header, counts, BOS + text + EOS per document")
sys.exit(1 if bad else 0)
PY
# the validation text holds the held-out documents, separated by blank lines
python3 - "$tmp/corpus.txt" "$tmp/d.val.txt" "$nval" <<'PY' || fails=$((fails + 1))
import sys
docs = set(open(sys.argv[1]).read().strip("\n").split("\n\f\n"))
val = open(sys.argv[2]).read()
held = val[:-1].split("\n\n") if val else []
n = int(sys.argv[3])
# documents have inner blank lines too: count the held-out ones by finding each corpus document
found = sum(1 for d in docs if ("\n\n" + d + "\n\n") in ("\n\n" + val[:-1] + "\n\n"))
ok = val.endswith("\n") and found == n and all(any(p in d for d in docs) for p in held)
print(("ok   " if ok else "FAIL ") + "val.txt holds the %d held-out documents (found %d)" % (n, found))
sys.exit(0 if ok else 1)
PY

# the split depends only on the documents and the seed
"$bin" tokenize-data -m "$tmp/tok" -o "$tmp/e" --val-fraction 0.25 --seed 3 -t 1 "$tmp/part1.txt" "$tmp/part2.txt" >/dev/null 2>&1
check "same split over other files and order" "$(sort "$tmp/d.val.txt" | md5sum)" "$(sort "$tmp/e.val.txt" | md5sum)"
check "same token count" "$(stat -c %s "$tmp/d.train.tok")" "$(stat -c %s "$tmp/e.train.tok")"
"$bin" tokenize-data -m "$tmp/tok" -o "$tmp/f" --val-fraction 0.25 --seed 3 -t 2 "$tmp/corpus.txt" >/dev/null 2>&1
cmp -s "$tmp/d.train.tok" "$tmp/f.train.tok" && cmp -s "$tmp/d.val.tok" "$tmp/f.val.tok" && echo "ok   -t 2 gives the same files" || { echo "FAIL threads changed the files"; fails=$((fails + 1)); }
"$bin" tokenize-data -m "$tmp/tok" -o "$tmp/g" --val-fraction 0.25 --seed 4 "$tmp/corpus.txt" >/dev/null 2>&1
cmp -s "$tmp/d.val.txt" "$tmp/g.val.txt" && { echo "FAIL another seed, the same split"; fails=$((fails + 1)); } || echo "ok   another seed, another split"
out=$("$bin" tokenize-data -m "$tmp/tok" -o "$tmp/h" --val-fraction 0 "$tmp/corpus.txt" 2>&1)
[[ "$out" == *"$ndocs training, 0 validation"* ]] && [ "$(stat -c %s "$tmp/h.val.tok")" == 64 ] && echo "ok   --val-fraction 0: an empty validation file" || { echo "FAIL --val-fraction 0: $out"; fails=$((fails + 1)); }

# ---- bad arguments: exit 2 and a message; bad input: exit 1; no output left behind
expect() { # name, exit code, pattern, command...
    local name="$1" want="$2" pat="$3"
    shift 3
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq "$want" ] && [[ "$err" == *"$pat"* ]]; then echo "ok   $name: $err"; else echo "FAIL $name: rc $rc, [$err]"; fails=$((fails + 1)); fi
}
c="$tmp/corpus.txt"
expect "tokenize-data without -m" 2 "-m TOKENIZER" "$bin" tokenize-data -o "$tmp/x" "$c"
expect "tokenize-data without -o" 2 "-o PREFIX" "$bin" tokenize-data -m "$tmp/tok" "$c"
expect "tokenize-data without files" 2 "FILES" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x"
expect "--val-fraction 1" 2 "0 <= F < 1" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" --val-fraction 1 "$c"
expect "--val-fraction abc" 2 "0 <= F < 1" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" --val-fraction abc "$c"
expect "--val-fraction nan" 2 "0 <= F < 1" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" --val-fraction nan "$c"
expect "--seed -1" 2 "--seed" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" --seed -1 "$c"
expect "-t 0" 2 "thread count" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" -t 0 "$c"
expect "unknown option" 2 "unknown option" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" --bogus "$c"
cp "$c" "$tmp/corpus.val.txt"
expect "output over the input" 2 "input text" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/corpus" "$tmp/corpus.val.txt"
rm -f "$tmp/corpus.val.txt"
expect "missing input" 1 "nope.txt" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" "$tmp/nope.txt"
expect "missing tokenizer" 1 "not found" "$bin" tokenize-data -m "$tmp/none" -o "$tmp/x" "$c"
printf '\f\n\n\f\n' >"$tmp/empty.txt"
expect "no documents" 1 "no text" "$bin" tokenize-data -m "$tmp/tok" -o "$tmp/x" "$tmp/empty.txt"
ls "$tmp"/x.* >/dev/null 2>&1 && { echo "FAIL outputs left behind by failures"; fails=$((fails + 1)); } || echo "ok   no outputs left by failures"
expect "train-tokenizer without --vocab" 2 "--vocab" "$bin" train-tokenizer -o "$tmp/t" "$c"
expect "--vocab too small" 2 "at least 256" "$bin" train-tokenizer --vocab 200 -o "$tmp/t" "$c"
expect "--vocab abc" 2 "--vocab" "$bin" train-tokenizer --vocab abc -o "$tmp/t" "$c"
expect "--special 5" 2 "--special" "$bin" train-tokenizer --vocab 600 --special 5 -o "$tmp/t" "$c"
expect "train-tokenizer without -o" 2 "-o OUT_DIR" "$bin" train-tokenizer --vocab 600 "$c"
expect "train-tokenizer without files" 2 "FILES" "$bin" train-tokenizer --vocab 600 -o "$tmp/t"
expect "train-tokenizer unknown option" 2 "unknown option" "$bin" train-tokenizer --vocab 600 -o "$tmp/t" -x "$c"
expect "train-tokenizer missing input" 1 "nope.txt" "$bin" train-tokenizer --vocab 600 -o "$tmp/t" "$tmp/nope.txt"
expect "train-tokenizer -o a file" 1 "cannot make the folder" "$bin" train-tokenizer --vocab 600 -o "$c" "$c"
expect "train-tokenizer no documents" 1 "no text" "$bin" train-tokenizer --vocab 600 -o "$tmp/t" "$tmp/empty.txt"
[ -e "$tmp/t" ] && { echo "FAIL a folder was made by a failed run"; fails=$((fails + 1)); } || echo "ok   no folder left by failures"
for cmd in tokenize-data train-tokenizer; do
    "$bin" $cmd --help | grep -q "form feed" && echo "ok   $cmd --help" || { echo "FAIL $cmd --help"; fails=$((fails + 1)); }
done

echo "$fails failed"
[ $fails -eq 0 ]
