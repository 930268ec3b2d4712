#!/usr/bin/env bash
# bad_files.sh - `bitnet info` on every corrupted fixture in tests/fixtures/bad (made by
# scripts/make_bad_files.py): each must exit 1 with exactly one line on stderr, starting
# "bitnet: error:", nothing on stdout, within 10 s (no crash, no hang). The undamaged original
# must load, so it is the damage that each case detects.
set -u
bin="$1"
dir="$(cd "$(dirname "$0")/../fixtures" && pwd)"
fails=0 count=0
for f in "$dir"/bad/*; do
    count=$((count + 1))
    err=$(timeout 10 "$bin" info "$f" 2>&1 >/tmp/bad_files_stdout.$$)
    rc=$?
    lines=$(printf '%s\n' "$err" | wc -l)
    if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || [[ "$err" != "bitnet: error: "* ]] || [ -s /tmp/bad_files_stdout.$$ ]; then
        echo "FAIL $(basename "$f"): exit $rc, stderr: $err"
        fails=$((fails + 1))
    else
        echo "ok   $(basename "$f"): $err"
    fi
done
rm -f /tmp/bad_files_stdout.$$
if ! "$bin" info "$dir/good-small.gguf" >/dev/null; then
    echo "FAIL the undamaged good-small.gguf does not load"
    fails=$((fails + 1))
fi
if [ "$count" -lt 30 ]; then
    echo "FAIL only $count corrupted fixtures (want at least 30)"
    fails=$((fails + 1))
fi
echo "$((count + 1 - fails)) passed, $fails failed"
exit $((fails > 0))
