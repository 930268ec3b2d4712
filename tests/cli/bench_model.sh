#!/usr/bin/env bash
# bench_model.sh - `bitnet bench model` on the tiny model: the JSON has the issue's shape
# ({"model", "threads", "results": [{"test", "tokens_per_s", "sd"}]}) with positive speeds and
# the model's work per prompt token, the rooflines are measured, the text output names each
# test and bound, and bad arguments are usage errors. Speeds are not judged here.
set -u
bin="$1"
model="$(cd "$(dirname "$0")/../fixtures" && pwd)/tiny-bitnet-hf"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$bin" "$model" <<'PY'
import json, subprocess, sys

bin, model = sys.argv[1:3]
from checks import check, finish


def run(*args):
    return subprocess.run([bin, "bench", "model", *args], capture_output=True, text=True)


r = run("-m", model, "-p", "16,32", "-n", "4", "-r", "2", "-t", "2", "--json")
check("--json exits 0", r.returncode == 0, r.stderr)
try:
    j = json.loads(r.stdout)
except ValueError:
    j = {}
tests = [e.get("test") for e in j.get("results", [])]
check("model, threads, results", j.get("threads") == 2 and "model" in j, r.stdout)
check("tests pp16, pp32, tg4 in order", tests == ["pp16", "pp32", "tg4"], str(tests))
check("positive speeds and sd >= 0",
      all(e["tokens_per_s"] > 0 and e["sd"] >= 0 for e in j.get("results", [])) and tests,
      r.stdout)
def near(a, b):
    return a is not None and b is not None and abs(a / b - 1) < 1e-9


# The tiny model's linear layers, per token: 2 layers x (q, o 256x256; k, v 128x256; gate, up
# 512x256; down 256x512) multiply-adds, two operations each.
check("linear_ops_per_token", j.get("linear_ops_per_token") == 2 * 2 * (2 * 256 * 256 + 2 * 128 *
      256 + 3 * 512 * 256), str(j.get("linear_ops_per_token")))
check("rooflines measured", j.get("read_bandwidth_gbs", 0) > 0 and
      (j.get("isa") == "scalar" or j.get("int8_ceiling_gops", 0) > 0), r.stdout)
# The bytes a generated token reads: the linear layers in the kernels' 2-bit layout (the widths
# are whole blocks of every path), then the head re-encoded as q6_k (generation's default for a
# hidden size of 256): 272 rows of one 210-byte block.
linear = 2 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 512 * 256) // 4
check("weight_bytes_per_token", j.get("weight_bytes_per_token") == linear + 272 * 210,
      str(j.get("weight_bytes_per_token")))
# Each result states its fraction of its bound: pp against the int8 ceiling, tg against the
# read bandwidth over the bytes per token.
for e in j.get("results", []):
    bound = j.get("tg_bound_tokens_per_s" if e["test"].startswith("tg") else
                  "pp_bound_tokens_per_s")
    check(f"{e['test']} fraction of its bound", bound is None or
          near(e.get("fraction_of_bound"), e["tokens_per_s"] / bound), str(e))


# The bounds are what they say: the ceiling over the work per token, the bandwidth over the
# bytes per token (and a bound no test could reach is not a bound to report).
if j.get("int8_ceiling_gops"):
    check("pp bound = int8 ceiling / operations per token", near(
        j.get("pp_bound_tokens_per_s"), j["int8_ceiling_gops"] * 1e9 / j["linear_ops_per_token"]),
          r.stdout)
check("tg bound = read bandwidth / bytes per token", near(
    j.get("tg_bound_tokens_per_s"), j.get("read_bandwidth_gbs", 0) * 1e9 /
    j.get("weight_bytes_per_token", 1)), r.stdout)
r = run("-m", model, "-p", "8", "-n", "2", "-r", "1", "-t", "1", "--kv-type", "f32",
        "--head-type", "file")
check("text output lists pp8 and tg2", r.returncode == 0 and "pp8" in r.stdout and
      "tg2" in r.stdout and "resident after load" in r.stdout and "bounds pp at" in r.stdout
      and "bounds tg at" in r.stdout, r.stdout + r.stderr)
import re
m = re.search(r"ceiling, ([\d.]+) GOP/s, bounds pp at ([\d.]+)", r.stdout)
if j.get("linear_ops_per_token") and m:
    gops, bound = (float(x) for x in m.groups())
    want = gops * 1e9 / j["linear_ops_per_token"]  # the same model, the same work per token
    check("text: the pp bound is the ceiling over the work", abs(bound - want) <=
          0.05 + 0.001 * want + 0.05 * 1e9 / j["linear_ops_per_token"], m.group(0))
for args, says in [(["-m", model, "-p", "x"], "bad value"), ([], "-m MODEL"),
                   (["-m", model, "--kv-type", "q4"], "want f16 or f32"),
                   (["-m", model, "-p", "4096"], "context")]:
    r = run(*args, "-n", "0")
    check("error: %s" % " ".join(args), r.returncode != 0 and says in r.stderr, r.stderr)
finish("bench_model.sh")
PY
