#!/usr/bin/env bash
# serve_load.sh - `bitnet serve` under load on loopback (bench/serve_load.py): 200 streamed
# chat requests from 16 concurrent clients through 8 slots of the shipped model complete with
# no error, then a soak (SERVE_SOAK_SECONDS, default 120; bench/RESULTS.md reports 600) keeps
# the load going while the server's resident set is sampled: it must stay flat (the last sample
# within 10% + 8 MB of the first after the 200).
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
[ -x "$py" ] || { echo "skipped: no .venv (scripts/deps.sh)"; exit 77; }
out=$("$py" "$root/bench/serve_load.py" --bin "$bin" --model "$root/models/default.gguf" \
    --parallel 8 --requests 200 --clients 16 --max-tokens 64 --threads 2 --ctx 256 \
    --soak "${SERVE_SOAK_SECONDS:-120}")
echo "$out"
"$py" - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["errors"] == 0, r["error_examples"]
assert r["requests"] >= 200 and r["generated_tokens"] > 0, r
first, last = r["rss_kb_samples"][0], r["rss_kb_samples"][-1]
assert last <= first * 1.10 + 8192, f"resident set grew from {first} to {last} kB"
print(f"ok: {r['requests']} requests, 0 errors, {r['tokens_per_s']} tokens/s over the first 200; "
      f"RSS {first} -> {last} kB over {len(r['rss_kb_samples'])} samples")
PY
