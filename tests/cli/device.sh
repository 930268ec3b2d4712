#!/usr/bin/env bash
# device.sh - --device on a command that runs a model: cpu is the default and gives the same
# text as no option; auto on a machine without a usable GPU falls back to the CPU with one line
# saying why and the same text; cuda there is refused by name (cuda:0, and why); malformed
# values are usage errors. On a machine with a GPU the cuda cases are left to
# test_cuda_forward and scripts/gpu-check.sh.
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="$root/models/default.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
run() { "$bin" run -m "$model" -p "Once upon a time" -n 12 --temp 0 --ignore-eos "$@"; }

run >"$tmp/plain" 2>/dev/null || bad "run without --device"
run --device cpu >"$tmp/cpu" 2>/dev/null || bad "run --device cpu"
cmp -s "$tmp/plain" "$tmp/cpu" && ok "--device cpu is the default" || bad "--device cpu differs"
if "$bin" sysinfo 2>/dev/null | grep -q '^cuda: *#'; then
    echo "a GPU is here: the cuda cases are test_cuda_forward's"
else
    run --device auto >"$tmp/auto" 2>"$tmp/err" || bad "run --device auto: $(cat "$tmp/err")"
    cmp -s "$tmp/plain" "$tmp/auto" && ok "auto without a GPU gives the CPU's text" ||
        bad "auto differs from the CPU"
    [ "$(grep -c 'device auto: running on the CPU (' "$tmp/err")" = 1 ] &&
        ok "auto says in one line why the CPU runs it" || bad "auto's line: $(cat "$tmp/err")"
    if run --device cuda >/dev/null 2>"$tmp/err"; then bad "--device cuda ran without a GPU"
    elif grep -q 'cuda:0: no usable GPU\|no CUDA support' "$tmp/err"; then
        ok "--device cuda without a GPU refused by name"
    else bad "--device cuda: $(cat "$tmp/err")"; fi
fi
for v in cuda:x cuda:-1 gpu ""; do
    if run --device "$v" >/dev/null 2>"$tmp/err"; then bad "--device '$v' accepted"
    elif grep -q 'want cpu, cuda\|want cuda:N' "$tmp/err"; then ok "--device '$v' is a usage error"
    else bad "--device '$v': $(cat "$tmp/err")"; fi
done
exit $fail
