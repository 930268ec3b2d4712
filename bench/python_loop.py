"""The Python generation loop against the CLI, runs interleaved in one session.

    BITNET_LIB=build/lib/libbitnet.so PYTHONPATH=python .venv/bin/python bench/python_loop.py \
        --cli build/bin/bitnet --model /tmp/2b4t.gguf [-n 128] [--runs 5] [-t 2]

Both generate greedily with the same settings (the CLI's defaults: q6_k head, f16 cache,
end-of-generation tokens ignored so that every run makes n tokens). The CLI's rate is the one
it prints (its generation time, stdout writes included); Python's is tokens over the wall time
of `for piece in model.generate(..., stream=True): out.write(piece)` less the prompt's time, so
it includes every ctypes call, the UTF-8 decoding and the interpreter between tokens. Two
processes' engines can run at different speeds on a VM whose memory bandwidth drifts, so the
script also gives the in-process figure: the loop's wall time against the engine's own time for
the same tokens (bn_generator_next's insides), which isolates what Python adds.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import bitnet

PROMPT = "The history of the city"


def cli_rate(cli: str, model: str, n: int, threads: int) -> float:
    err = subprocess.run([cli, "run", "-m", model, "-p", PROMPT, "-n", str(n), "--temp", "0",
                          "--ignore-eos", "-t", str(threads)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, check=True).stderr.decode()
    m = re.search(r"generation: (\d+) tokens, ([\d.]+) tokens/s", err)
    assert m and int(m.group(1)) == n, err
    return float(m.group(2))


def python_rate(m: bitnet.Model, n: int) -> tuple[float, float]:
    """Tokens/s over the loop's wall time (less the prompt's), and over the engine's own time
    for the same tokens (bn_generator_next's insides): their gap is what Python costs."""
    with open(os.devnull, "w") as out:
        t0 = time.perf_counter()
        for piece in m.generate(PROMPT, max_tokens=n, temperature=0, ignore_eos=True,
                                stream=True):
            out.write(piece)
        wall = time.perf_counter() - t0
    r = m.last_result
    assert r["completion_tokens"] == n, r
    return n / (wall - r["prompt_seconds"]), n / r["generate_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=2)
    a = ap.parse_args()
    ratios, inproc, py, cl = [], [], [], []
    for i in range(a.runs):
        c = cli_rate(a.cli, a.model, a.n, a.threads)
        # Loaded afresh each run, as the CLI's process does: on this VM a model kept loaded
        # across runs generated 7% slower in later runs whoever held it (bench/RESULTS.md)
        with bitnet.Model(a.model, threads=a.threads, head_type="q6_k") as m:
            p, engine = python_rate(m, a.n)
        cl.append(c), py.append(p), ratios.append(c / p), inproc.append(engine / p)
        print(f"run {i + 1}: CLI {c:.2f} tokens/s, Python {p:.2f} tokens/s (its engine "
              f"{engine:.2f}), Python costs {100 * (c / p - 1):+.2f}% against the CLI, "
              f"{100 * (engine / p - 1):+.2f}% against its own engine time", flush=True)
    pct = lambda r: f"{100 * (r - 1):+.2f}%"  # noqa: E731
    print(f"median: CLI {statistics.median(cl):.2f}, Python {statistics.median(py):.2f} tokens/s; "
          f"against the CLI {pct(statistics.median(ratios))} (min {pct(min(ratios))}, max "
          f"{pct(max(ratios))}); in-process, the loop over the engine "
          f"{pct(statistics.median(inproc))} (max {pct(max(inproc))})")


if __name__ == "__main__":
    sys.exit(main())
