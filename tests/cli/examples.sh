#!/usr/bin/env bash
# examples.sh - the programs in examples/ (built against libbitnet.so from include/bitnet.h
# alone) on the shipped model, each held to the CLI: generate's greedy text is `bitnet run
# --temp 0`'s; batch's text for each prompt is generate's for that prompt alone; chat's replies
# are `bitnet chat --temp 0`'s; logits_npy's file is byte for byte `bitnet logits --all`'s.
set -u
bin="$1"
ex="$(dirname "$bin")/../examples"
model="$(cd "$(dirname "$0")/../.." && pwd)/models/default.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME FILE1 FILE2
    if cmp -s "$2" "$3"; then echo "ok: $1"; else
        echo "FAIL: $1"; diff "$2" "$3" | head -20; fail=1; fi
}
[ -x "$ex/generate" ] || { echo "FAIL: examples not built in $ex"; exit 1; }

prompts=("It was a fine morning, and" "The history of the city" "She said")
for i in 0 1 2; do
    "$ex/generate" "$model" "${prompts[$i]}" 24 >"$tmp/gen$i" 2>/dev/null || fail=1
    "$bin" run -m "$model" -p "${prompts[$i]}" -n 24 --temp 0 --head-type file 2>/dev/null |
        head -c "$(stat -c %s "$tmp/gen$i")" >"$tmp/run$i"
    check "generate = bitnet run ($i)" "$tmp/run$i" "$tmp/gen$i"
    [ "$(stat -c %s "$tmp/gen$i")" -gt 40 ] || { echo "FAIL: short text $i"; fail=1; }
done
# The CLI ends with a newline that generate does not print: compare generate's bytes only.

"$ex/batch" "$model" 24 "${prompts[@]}" >"$tmp/batch" 2>"$tmp/batch.err" || { cat "$tmp/batch.err"; fail=1; }
for i in 0 1 2; do printf '[%d] %s%s\n' "$i" "${prompts[$i]}" "$(cat "$tmp/gen$i")"; done >"$tmp/alone"
check "batch of 3 = each alone" "$tmp/alone" "$tmp/batch"

printf 'Hello there\nWhat is the river called?\n' >"$tmp/questions"
"$ex/chat" "$model" llama3 <"$tmp/questions" >"$tmp/chat" 2>"$tmp/chat.err" || { cat "$tmp/chat.err"; fail=1; }
"$bin" chat -m "$model" --template llama3 --temp 0 -n 96 --head-type file <"$tmp/questions" \
    >"$tmp/chat.cli" 2>/dev/null
check "chat = bitnet chat" "$tmp/chat.cli" "$tmp/chat"
[ "$(grep -c . "$tmp/chat")" -ge 2 ] || { echo "FAIL: two replies"; fail=1; }

"$ex/logits_npy" "$model" "Hello world, once more" "$tmp/ex.npy" >/dev/null || fail=1
"$bin" logits -m "$model" -p "Hello world, once more" --all --out "$tmp/cli.npy" || fail=1
check "logits_npy = bitnet logits --all" "$tmp/cli.npy" "$tmp/ex.npy"

# Errors come back as messages, not crashes.
if "$ex/generate" /nonexistent.gguf "x" 2>"$tmp/err"; then echo "FAIL: missing model accepted"; fail=1
elif ! grep -q "nonexistent.gguf" "$tmp/err"; then echo "FAIL: message: $(cat "$tmp/err")"; fail=1
else echo "ok: a missing model is named"; fi
exit $fail
