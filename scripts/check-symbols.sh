#!/bin/sh
# check-symbols.sh LIB HEADER - the shared library exports exactly the functions HEADER declares
# with BN_API: nothing internal leaks (so internals may change without breaking programs), and
# nothing declared is missing (a BN_API function left out of the build, or hidden by mistake).
set -eu
lib=$1
header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The text symbols the library defines (dynamic table), without versions.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWwDdBbRrVv]$/ {print $3}' | sed 's/@.*//' |
    sort -u >"$tmp/exported"
# Every name declared "BN_API type name(": the word just before the first "(".
sed -n 's/^BN_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$header" |
    sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
    echo "check-symbols: no BN_API declarations found in $header" >&2
    exit 1
fi
status=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "check-symbols: $lib exports names $header does not declare:" >&2
    echo "$extra" | sed 's/^/  /' >&2
    status=1
fi
if [ -n "$missing" ]; then
    echo "check-symbols: $header declares names $lib does not export:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    status=1
fi
[ $status -eq 0 ] && echo "check-symbols: $(wc -l <"$tmp/declared") API functions, nothing else exported"
exit $status
