#!/usr/bin/env bash
# sysinfo.sh - end-to-end checks of `bitnet --version/--help`, `sysinfo` and `selftest`.
set -u
bin="$1"
fails=0
check() { # check NAME COMMAND...
    local name="$1"; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

check "--version prints the version" bash -c "'$bin' --version | grep -Eq '^bitnet [0-9]+\.[0-9]+\.[0-9]+$'"
check "--help lists sysinfo" bash -c "'$bin' --help | grep -q sysinfo"
check "no command exits 2" bash -c "'$bin' 2>/dev/null; test \$? -eq 2"
check "unknown command exits 2 with a reason" bash -c "'$bin' frobnicate 2>&1 >/dev/null | grep -q \"unknown command 'frobnicate'\""
check "sysinfo --help" bash -c "'$bin' sysinfo --help | grep -q 'usage: bitnet sysinfo'"
check "sysinfo bad option exits 2" bash -c "'$bin' sysinfo --bogus 2>/dev/null; test \$? -eq 2"
check "sysinfo -t 0 exits 2" bash -c "'$bin' sysinfo -t 0 2>/dev/null; test \$? -eq 2"

json_check() { # json_check ENV_ASSIGNMENT PYTHON_ASSERTIONS
    env $1 "$bin" sysinfo --json -t 3 | python3 -c "
import json, sys
d = json.load(sys.stdin)
$2
"
}
check "sysinfo --json is valid JSON naming the kernel path" json_check "BITNET_LOG=warn" "
assert d['kernel_path'] in ('scalar', 'avx2', 'avx512', 'neon'), d['kernel_path']
assert d['kernel_path'] == d['best_kernel_path']
assert d['threads'] == 3
assert isinstance(d['cpu']['features']['avx2'], bool)
assert d['cpu']['logical_cpus'] >= 1
assert isinstance(d['cuda']['devices'], list)"
check "BITNET_CPU=scalar sysinfo reports scalar" json_check "BITNET_CPU=scalar" "
assert d['kernel_path'] == 'scalar', d['kernel_path']
assert d['kernel_path_reason'] == 'BITNET_CPU=scalar'"
check "BITNET_CPU=scalar sysinfo (text) reports scalar" bash -c "BITNET_CPU=scalar '$bin' sysinfo | grep -q '^kernel path: scalar'"
check "BITNET_CPU=bogus warns and still works" bash -c "BITNET_CPU=bogus '$bin' sysinfo 2>&1 >/dev/null | grep -q 'BITNET_CPU'"
check "selftest passes" bash -c "'$bin' selftest -t 2 | tail -1 | grep -Eq '^[0-9]+ passed, 0 failed$'"
check "selftest --json reports no failure" bash -c "'$bin' selftest --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"failed\"] == 0 and d[\"passed\"] >= 3'"

echo "sysinfo.sh: $fails failed"
exit $((fails > 0))
