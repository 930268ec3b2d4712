#!/usr/bin/env bash
# run.sh - `bitnet run` on the tiny BitNet model: --stop strings (the output is the greedy
# output cut before the stop string that ends first, nothing of it printed; held-back text is
# released at the end), -n 0 and -n -1, the timing lines on stderr, and a one-line usage error
# naming the option for every out-of-range sampling value.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$bin" "$fx/tiny-bitnet-hf" <<'PY'
import re, subprocess, sys

bin, model = sys.argv[1:3]
from checks import check, finish


def run(*args):
    return subprocess.run([bin, "run", "-m", model, "-t", "2", *args], capture_output=True)


PROMPT = ["-p", "The cat sat on the mat.", "--temp", "0"]
full = run(*PROMPT, "-n", "30")
check("greedy run exits 0", full.returncode == 0, full.stderr.decode())
body = full.stdout[:-1]  # the output ends with one newline
check("output ends with a newline", full.stdout.endswith(b"\n") and len(body) > 8,
      repr(full.stdout))


def cut(*stops):  # the greedy output before the stop string that ends first
    ends = [(body.find(s) + len(s), body.find(s)) for s in stops if s in body]
    return body[:min(ends)[1]] if ends else body


def with_stops(*stops):
    args = [a for s in stops for a in (b"--stop", s)]
    return run(*PROMPT, "-n", "30", *args)


# stop strings made of the greedy output itself (bytes without NUL, passed as argv bytes)
mid = next(k for k in range(5, len(body) - 3) if 0 not in body[k:k + 3])
for name, stops in [
    ("a 3-byte stop string in the middle", [body[mid:mid + 3]]),
    ("a stop string at the very start", [body[:2]]),
    ("two stop strings: the one that ends first", [body[mid:mid + 3], body[mid - 3:mid - 1]]),
]:
    r = with_stops(*stops)
    want = cut(*stops) + b"\n"
    check("--stop: " + name, r.returncode == 0 and r.stdout == want and
          b"stopped by a stop string" in r.stderr, "got %r want %r" % (r.stdout, want))

r = with_stops(b"no such text")
check("--stop that never occurs: output unchanged", r.stdout == full.stdout, repr(r.stdout))
# The output's last bytes begin this stop string, so they are held back while generating and
# must be released when generation ends without it.
tail = body[-2:] + b"\x01\x02"
r = with_stops(tail)
check("--stop: held-back tail is released at the end", r.stdout == full.stdout,
      "got %r want %r" % (r.stdout, full.stdout))

r = run(*PROMPT, "-n", "0")
err = r.stderr.decode()
check("-n 0: exit 0, nothing on stdout", r.returncode == 0 and r.stdout == b"", repr(r.stdout))
check("-n 0: prompt evaluated, no generation", re.search(
    r"prompt: \d+ tokens, [0-9.]+ tokens/s; generation: 0 tokens", err) is not None, err)

r = run(*PROMPT, "-n", "5")
err = r.stderr.decode()
check("timing: load time", re.search(r"^loaded .* in [0-9.]+ s$", err, re.M) is not None, err)
check("timing: prompt and generation tokens/s", re.search(
    r"^prompt: \d+ tokens, [0-9.]+ tokens/s; generation: 5 tokens, [0-9.]+ tokens/s; "
    r"stopped by the -n limit$", err, re.M) is not None, err)

r = run(*PROMPT, "-n", "-1", "-c", "24")
err = r.stderr.decode()
m = re.search(r"prompt: (\d+) tokens.*generation: (\d+) tokens.*stopped by (.*)$", err, re.M)
# The context holds 24 positions: the prompt's, then one per generated token but the last,
# which is sampled from the final position's logits and never evaluated.
ok = m is not None and (int(m.group(2)) == 24 - int(m.group(1)) + 1 and
                        m.group(3) == "the end of the context" or
                        m.group(3) == "an end-of-generation token")
check("-n -1: generates until the context is full", r.returncode == 0 and ok, err)

r = run(*PROMPT, "-n", "100", "-c", "16")
check("-n beyond the context stops at its end, exit 0", r.returncode == 0 and
      b"stopped by the end of the context" in r.stderr, r.stderr.decode())

for opt, value, words in [
    ("--temp", "-1", ">= 0"), ("--temp", "nan", ">= 0"), ("--temp", "x", "not a number"),
    ("--top-p", "0", "(0, 1]"), ("--top-p", "1.5", "(0, 1]"), ("--top-k", "-1", ">= 0"),
    ("--top-k", "2.5", "whole number"), ("--min-p", "-0.1", "[0, 1]"),
    ("--min-p", "1.5", "[0, 1]"), ("--repeat-penalty", "0", "> 0"),
    ("--repeat-penalty", "-1", "> 0"), ("--repeat-last-n", "-2", ">= -1"),
    ("--frequency-penalty", "inf", "finite"), ("--presence-penalty", "nan", "finite"),
    ("--seed", "-1", "unsigned"), ("-n", "-2", ">= -1"), ("--stop", "", "empty"),
]:
    r = run("-p", "x", opt, value)
    err = r.stderr.decode()
    ok = (r.returncode == 2 and err.count("\n") == 1 and err.startswith("bitnet run: " + opt)
          and words in err and r.stdout == b"")
    check("%s %s is refused, naming the option" % (opt, value or "''"), ok,
          "exit %d: %r" % (r.returncode, err))
r = run("-p", "x", "--temp")
check("a missing value is a usage error", r.returncode == 2 and b"--temp" in r.stderr,
      r.stderr.decode())

h = subprocess.run([bin, "run", "--help"], capture_output=True, text=True).stdout
check("--help documents --stop, -n 0 and -n -1",
      "--stop TEXT" in h and "-n 0" in h and "-n -1" in h, h)

finish("run.sh")
PY
