#!/usr/bin/env bash
# default_model.sh - the model that ships in the repo (models/default.gguf, trained by our own
# trainer: models/README.md): `bitnet run` finds it without -m and writes English, and
# `bitnet perplexity` on its held-out text gives the number models/README.md states.
set -u
bin="$(realpath "$1")"
src="$(cd "$(dirname "$0")/../.." && pwd)"
model="$src/models/default.gguf"
[ -f "$model" ] || { echo "skipped: no models/default.gguf"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, expected, actual
    if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; fails=$((fails + 1)); fi
}

out=$(env -u BITNET_MODEL "$bin" run -p "It was a fine morning, and" -n 60 --temp 0.7 --top-p 0.9 \
      --repeat-penalty 1.1 --seed 42 2> "$tmp/run.err")
check "run without -m exits 0" 0 $?
check "it loads the shipped model" 1 "$(grep -c 'models/default.gguf' "$tmp/run.err")"
echo "$out"
# English: at least 6 distinct of the commonest English words in 60 tokens
common=$(echo "$out" | tr 'A-Z' 'a-z' | tr -c 'a-z\n' ' ' | tr ' ' '\n' |
    grep -x -E 'the|and|of|to|a|in|was|he|she|her|his|that|it|with|for|as|had|be|not|is|at|by|on|i|you|they|which|from' |
    sort -u | wc -l)
check "at least 6 distinct common English words" 1 "$([ "$common" -ge 6 ] && echo 1 || echo "$common")"

# The held-out perplexity models/README.md states (line "held-out perplexity: PPL = X"); the
# whole text under the sanitizers takes minutes, so there only its first windows run.
want=$(sed -n 's/.*held-out perplexity: `PPL = \([0-9.]*\).*/\1/p' "$src/models/README.md" | head -1)
check "the README states a perplexity" 1 "$([ -n "$want" ] && echo 1 || echo 0)"
if [ "${BN_SANITIZED:-0}" = 1 ]; then
    "$bin" perplexity -m "$model" -f "$src/models/heldout.txt" -c 256 --chunks 4 > /dev/null 2>&1
    check "perplexity runs (first windows, sanitizers)" 0 $?
else
    got=$("$bin" perplexity -m "$model" -f "$src/models/heldout.txt" -c 256 2>/dev/null |
          sed -n 's/.*PPL = \([0-9.]*\).*/\1/p')
    check "perplexity reproduces it (0.1%)" 1 "$(awk -v a="$got" -v b="$want" 'BEGIN{d=a-b; if(d<0)d=-d; print (b>0 && d/b < 0.001)}')"
    echo "perplexity $got (README: $want)"
fi

[ $fails -eq 0 ] && echo "default_model.sh: all passed" || echo "default_model.sh: $fails failed"
exit $((fails > 0))
