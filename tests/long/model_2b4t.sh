#!/usr/bin/env bash
# model_2b4t.sh (make test-long) - the engine at the real microsoft/bitnet-b1.58-2B-4T shape,
# from `bitnet synth` (random ternary weights, 1.2 GB per file, written to a temporary
# directory and removed):
#   - the same weights in TQ2_0, TQ1_0 and I2_S give the same greedy tokens;
#   - resident memory after load stays within weights + KV cache + 64 MiB (bench model's JSON);
#   - bench model runs and reports positive speeds (speed itself is bench/RESULTS.md's business).
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: [$2] vs [$3]"; fails=$((fails + 1)); fi; }

for t in tq2_0 tq1_0 i2_s; do
    "$bin" synth --shape bitnet-2b4t --type $t --seed 5 "$tmp/$t.gguf" >/dev/null || fails=$((fails + 1))
done
want=$("$bin" run -m "$tmp/tq2_0.gguf" -p "The river" -n 12 --temp 0 -t 2 2>/dev/null)
for t in tq1_0 i2_s; do
    check "$t greedy tokens == tq2_0" "$want" "$("$bin" run -m "$tmp/$t.gguf" -p "The river" -n 12 --temp 0 -t 2 2>/dev/null)"
    rm -f "$tmp/$t.gguf"
done
json=$("$bin" bench model -m "$tmp/tq2_0.gguf" -p 32 -n 8 -r 1 -t 2 --json)
python3 - "$json" <<'PY' || fails=$((fails + 1))
import json, sys
j = json.loads(sys.argv[1])
limit = j["weight_bytes_per_token"] + j["kv_bytes"] + 64 * 2**20
ok = j["resident_bytes"] <= limit and all(r["tokens_per_s"] > 0 for r in j["results"])
print(("ok  " if ok else "FAIL") + " resident %.1f MiB <= weights + KV + 64 MiB = %.1f MiB; %s"
      % (j["resident_bytes"] / 2**20, limit / 2**20,
         ", ".join("%s %.1f tok/s" % (r["test"], r["tokens_per_s"]) for r in j["results"])))
sys.exit(0 if ok else 1)
PY
echo "model_2b4t.sh: $fails failed"
[ $fails -eq 0 ]
