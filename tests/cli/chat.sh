#!/usr/bin/env bash
# chat.sh - `bitnet chat` on the tiny BitNet model with greedy sampling: each reply equals what
# `bitnet run --temp 0 --no-bos -p PROMPT` gives on the conversation chat rendered for it
# (--print-prompt shows it), whether the KV cache was reset for the turn (the bitnet template)
# or its prefix reused (chatml here); the history holds the replies; --system, --template,
# --stop, blank lines, end of input, a missing or unknown template, and a full context.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$bin" "$fx/tiny-bitnet-hf" "$tmp" <<'PY'
import json, os, pty, subprocess, sys

bin, model, tmp = sys.argv[1:4]
from checks import check, finish

BOS = b"<|begin_of_text|>"


def chat(lines, *args, m=model):
    return subprocess.run([bin, "chat", "-m", m, "-t", "2", "--temp", "0", *args],
                          input=lines, capture_output=True)


def prompts(stderr):  # the --print-prompt lines (valid UTF-8 JSON), text as bytes
    out = []
    for line in stderr.split(b"\n"):
        if line.startswith(b"{"):
            d = json.loads(line.decode("utf-8"))
            d["prompt"] = d["prompt"].encode("utf-8")
            out.append(d)
    return out


def lossy(b):  # invalid UTF-8 as --print-prompt and the tokenizer write it: U+FFFD
    return b.decode("utf-8", "replace").encode()


def run(prompt, n):
    r = subprocess.run([bin, "run", "-m", model, "-t", "2", "--temp", "0", "-n", str(n),
                        "--no-bos", "-p", prompt], capture_output=True)
    return r.stdout if r.returncode == 0 else b"<run failed: %s>" % r.stderr


def same_as_run(name, lines, n, *args):
    """Chat's replies, one per line of input, against run on each rendered prompt."""
    r = chat(lines, "-n", str(n), "--print-prompt", *args)
    ps = prompts(r.stderr)
    check(name + ": exit 0, one prompt per user line", r.returncode == 0 and
          len(ps) == lines.count(b"\n"), r.stderr)
    want = b"".join(run(p["prompt"], n) for p in ps)
    check(name + ": replies equal bitnet run on the rendered prompts", r.stdout == want,
          "got %r want %r" % (r.stdout, want))
    return r, ps


two = b"Hello there\nHow are you?\n"
r, ps = same_as_run("bitnet template", two, 8)
if len(ps) == 2:
    check("the model's template is detected", b"chat template bitnet" in r.stderr, r.stderr)
    check("turn 1 is the bitnet format",
          ps[0]["prompt"] == BOS + b"User: Hello there<|eot_id|>Assistant: ", ps[0])
    reply1 = r.stdout.split(b"\n")[0]
    check("turn 2 renders turn 1 and its reply",
          ps[1]["prompt"].startswith(ps[0]["prompt"] + lossy(reply1).strip()[:3]) and
          ps[1]["prompt"].endswith(b"User: How are you?<|eot_id|>Assistant: "), ps[1])
    check("no '> ' prompt when stdin is not a terminal", b"> " not in r.stderr, r.stderr)

# chatml keeps the generated tokens when the reply is re-tokenized, so turn 2 evaluates only
# what is new: the replies must still be those of a fresh evaluation.
r, ps = same_as_run("chatml, cache reused", b"What is your name?\nagain\n", 4,
                    "--template", "chatml")
if len(ps) == 2:
    check("chatml turn 2 reuses the cached tokens of turn 1",
          ps[0]["cached"] == 0 and ps[1]["cached"] > ps[0]["tokens"], ps)

r, ps = same_as_run("--system", b"Hello there\n", 6, "--system", "Be brief.")
check("--system comes first", ps and ps[0]["prompt"] ==
      BOS + b"System: Be brief.<|eot_id|>User: Hello there<|eot_id|>Assistant: ", ps)

base = chat(b"Hello there\n", "-n", "8")
r = chat(b"\n   \nHello there\n\n", "-n", "8")
check("blank lines are skipped", r.returncode == 0 and r.stdout == base.stdout, r.stdout)
r = chat(b"", "-n", "8")
check("end of input at once: exit 0, no output", r.returncode == 0 and r.stdout == b"",
      r.stderr)

reply = base.stdout[:-1]
stop = reply[3:5]
r = chat(two, "-n", "8", "--stop", stop, "--print-prompt")
ps = prompts(r.stderr)
cut = reply[:reply.find(stop)]
check("--stop cuts the reply, and the history holds the cut reply",
      r.returncode == 0 and r.stdout.startswith(cut + b"\n") and len(ps) == 2 and
      ps[1]["prompt"].startswith(ps[0]["prompt"] + lossy(cut).strip() + b"<|eot_id|>User:"),
      (r.stdout, ps))

# a copy of the model whose tokenizer_config.json has no template, or an unknown one
cfg = json.load(open(model + "/tokenizer_config.json"))
for name, template in [("none", None), ("odd", "{{ messages }}")]:
    d = os.path.join(tmp, name)
    os.mkdir(d)
    for f in os.listdir(model):
        if f != "tokenizer_config.json":
            os.symlink(os.path.join(model, f), os.path.join(d, f))
    c = {k: v for k, v in cfg.items() if k != "chat_template"}
    if template:
        c["chat_template"] = template
    json.dump(c, open(os.path.join(d, "tokenizer_config.json"), "w"))
r = chat(two, m=os.path.join(tmp, "none"))
check("no template: a clear error", r.returncode == 1 and b"has no chat template" in r.stderr
      and b"--template" in r.stderr and r.stdout == b"", r.stderr)
r = chat(two, "--template", "bitnet", "-n", "8", m=os.path.join(tmp, "none"))
check("no template, --template bitnet: works", r.returncode == 0 and r.stdout == chat(
    two, "-n", "8").stdout, r.stderr)
r = chat(two, m=os.path.join(tmp, "odd"))
check("unknown template: a clear error", r.returncode == 1 and b"none of the known formats"
      in r.stderr, r.stderr)
r = chat(two, "--template", "vicuna")
check("--template vicuna is a usage error", r.returncode == 2 and b"--template" in r.stderr,
      r.stderr)
r = chat(two, "--temp", "-1")
check("sampling values are checked as in run", r.returncode == 2 and
      r.stderr.startswith(b"bitnet chat: --temp -1:"), r.stderr)

# a terminal: "> " before each line on stderr, and Ctrl-D (EOT in the line discipline) ends
master, slave = pty.openpty()
p = subprocess.Popen([bin, "chat", "-m", model, "-t", "2", "--temp", "0", "-n", "8"],
                     stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.close(slave)
os.write(master, b"Hello there\n\x04")
out, err = p.communicate(timeout=60)
os.close(master)
check("terminal: '> ' on stderr, Ctrl-D ends with exit 0", p.returncode == 0 and
      err.count(b"> ") == 2 and out == base.stdout, (p.returncode, out, err))

# turn 1 is 25 tokens + 8 generated; turn 2 renders to more than 40
r = chat(two, "-n", "8", "-c", "40")
check("a conversation longer than -c: the first reply, then a clear error",
      r.returncode == 1 and r.stdout == base.stdout and b"more than the context of 40"
      in r.stderr and b"ending the chat" in r.stderr, (r.stdout, r.stderr))
r = chat(two, "-c", "30")
check("a reply that fills the context: printed, then a clear error",
      r.returncode == 1 and r.stdout.count(b"\n") == 1 and
      b"context of 30 tokens is full" in r.stderr, (r.stdout, r.stderr))

finish("chat.sh")
PY
