#!/usr/bin/env bash
# readme_examples.sh - the README's C and Python examples (its "Use it as a library" section),
# extracted from README.md and run: the C one compiled against this build's libbitnet.so with
# the repository's warning flags, the Python one against it through BITNET_LIB. Documentation
# that no longer compiles or runs fails here.
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
lib="$(cd "$(dirname "$bin")/../lib" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
section() { # the first ```LANG block after "## Use it as a library"
    awk -v lang="$1" '/^## Use it as a library/ {s = 1} s && $0 == "```" lang {b = 1; next}
        b && /^```/ {exit} b {print}' "$root/README.md"
}
fail=0
san=()
[ "${BN_SANITIZED:-0}" = 1 ] && san=(-fsanitize=address,undefined) # as the library was built
section c >"$tmp/app.c"
section python >"$tmp/app.py"
[ -s "$tmp/app.c" ] && [ -s "$tmp/app.py" ] || { echo "FAIL: README examples not found"; exit 1; }
if ! cc -std=c11 -Wall -Wextra -Werror "${san[@]}" -I"$root/include" "$tmp/app.c" -L"$lib" -lbitnet \
        -Wl,-rpath,"$lib" -o "$tmp/app"; then
    echo "FAIL: the README's C example does not compile"; fail=1
elif ! (cd "$root" && "$tmp/app" >"$tmp/c.out") || [ "$(wc -c <"$tmp/c.out")" -lt 20 ]; then
    echo "FAIL: the README's C example did not generate text"; fail=1
else echo "ok: C example ($(wc -l <"$tmp/app.c") lines) made $(wc -c <"$tmp/c.out") bytes"; fi
if [ "${BN_SANITIZED:-0}" = 1 ]; then
    echo "skipped: the Python example under the sanitizer build"
elif [ ! -x "$root/.venv/bin/python" ]; then
    echo "skipped: the Python example (no .venv)"
else
    if ! (cd "$root" && BITNET_LIB="$lib/libbitnet.so" PYTHONPATH="$root/python" \
            PYTHONDONTWRITEBYTECODE=1 "$root/.venv/bin/python" "$tmp/app.py" >"$tmp/py.out") ||
        [ "$(wc -c <"$tmp/py.out")" -lt 40 ]; then
        echo "FAIL: the README's Python example"; fail=1
    else echo "ok: Python example ($(wc -l <"$tmp/app.py") lines)"; fi
fi
exit $fail
