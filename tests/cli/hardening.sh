#!/usr/bin/env bash
# hardening.sh - the CLI as a hostile user meets it (issue 13): outputs never destroy what is not
# OUT's regular file (symbolic links written through, FIFOs and devices refused, an output that
# is an input refused, the umask respected, no temporary file left by SIGINT); a failed write to
# stdout is a failure for every command; BITNET_LOG with any value never hangs; Ctrl-C stops
# generation and prints the timing line; the seed is random unless given; -t takes what the
# pool runs; prompts from files and stdin; valid JSON from files with bad UTF-8; the smaller
# inconsistencies (exit codes, --help, --out -).
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$bin" "$fx" <<'PY'
import hashlib, json, os, re, shutil, signal, stat, subprocess, sys, tempfile, time

bin, fx = sys.argv[1:3]
make_model = os.path.join(os.path.dirname(bin), "make_model")
hf = os.path.join(fx, "tiny-bitnet-hf")
from checks import check, finish

work = tempfile.mkdtemp(prefix="bn_hardening_")
W = lambda *p: os.path.join(work, *p)


def run(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([bin, *args], **kw)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def temps(folder=None):
    return [n for n in os.listdir(folder or work) if ".tmp." in n]


model = W("tiny.gguf")
r = run("convert", hf, model, "--type", "tq2_0")
check("convert the tiny model", r.returncode == 0, r.stderr)

# ---- BITNET_LOG: any value, any case, never a hang ------------------------------------------
for value in ["bogus", "1", "DEBUG", "Warn"]:
    env = dict(os.environ, BITNET_LOG=value)
    try:
        r = run("info", model, env=env, timeout=30)
        warned = r.stderr.count(b"BITNET_LOG=")
        check("BITNET_LOG=%s: info runs" % value, r.returncode == 0 and
              warned == (1 if value in ("bogus", "1") else 0), r.stderr[-300:])
    except subprocess.TimeoutExpired:
        check("BITNET_LOG=%s: info runs" % value, False, "hung")

# ---- outputs ---------------------------------------------------------------------------------
os.symlink("target.gguf", W("link.gguf"))
r = run("quantize", model, W("link.gguf"), "--type", "i2_s")
check("an output through a symbolic link writes its target",
      r.returncode == 0 and os.path.islink(W("link.gguf")) and os.path.isfile(W("target.gguf")),
      r.stderr)
os.mkfifo(W("fifo"))
r = run("quantize", model, W("fifo"), "--type", "i2_s")
check("a FIFO as the output is refused and stays a FIFO",
      r.returncode == 1 and b"FIFO" in r.stderr and stat.S_ISFIFO(os.lstat(W("fifo")).st_mode),
      r.stderr)
try:  # a device node of our own (the numbers of /dev/full), never a system device
    os.mknod(W("full"), 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    r = run("convert", hf, W("full"))
    check("a device node as the output is refused and stays one",
          r.returncode == 1 and stat.S_ISCHR(os.lstat(W("full")).st_mode), r.stderr)
except PermissionError:
    print("skip device node: no CAP_MKNOD")
copy = W("hf")
subprocess.run(["cp", "-r", hf, copy], check=True)
before = digest(W("hf", "model.safetensors"))
r = run("convert", copy, W("hf", "model.safetensors"))
check("convert DIR DIR/model.safetensors is refused, the input intact",
      r.returncode == 1 and b"destroy" in r.stderr and
      digest(W("hf", "model.safetensors")) == before and not temps(W("hf")), r.stderr)
os.symlink(model, W("link-to-model.gguf"))
before = digest(model)
r = run("quantize", model, W("link-to-model.gguf"), "--type", "tq1_0")
check("quantize onto (a link to) its own input is refused", r.returncode == 1 and
      digest(model) == before and b"destroy" in r.stderr, r.stderr)
old = os.umask(0o027)
r = run("quantize", model, W("masked.gguf"), "--type", "tq1_0")
os.umask(old)
check("a new output respects the umask (027: 0640)",
      r.returncode == 0 and stat.S_IMODE(os.stat(W("masked.gguf")).st_mode) == 0o640,
      oct(stat.S_IMODE(os.stat(W("masked.gguf")).st_mode)) if r.returncode == 0 else r.stderr)
os.symlink("logits-target.npy", W("logits-link.npy"))
r = run("logits", "-m", model, "-p", "Hello", "--out", W("logits-link.npy"))
check("logits --out writes through a symbolic link",
      r.returncode == 0 and os.path.islink(W("logits-link.npy")) and
      open(W("logits-target.npy"), "rb").read(6) == b"\x93NUMPY", r.stderr)
for name, args in [("the model", ["-m", model, "-p", "Hello", "--out", model]),
                   ("a file of the model's folder",
                    ["-m", copy, "-p", "Hello", "--out", W("hf", "config.json")]),
                   ("the prompt file", ["-m", model, "-f", W("hf", "config.json"), "--out",
                                        W("hf", "config.json")])]:
    before = digest(args[args.index("--out") + 1])
    r = run("logits", *args)
    check("logits --out onto %s is refused" % name, r.returncode == 1 and b"destroy" in r.stderr
          and digest(args[args.index("--out") + 1]) == before, r.stderr)
# An HF folder is converted in memory: nothing is written, so no TMPDIR is needed
r = run("run", "-m", hf, "-p", "Hello", "-n", "2", "--temp", "0",
        env=dict(os.environ, TMPDIR=W("no", "such", "folder")))
check("an HF folder loads without writing a temporary file", r.returncode == 0, r.stderr)
r = run("logits", "-m", model, "-p", "Hello", "--out", "-")
check("logits --out - writes the .npy to stdout",
      r.returncode == 0 and r.stdout[:6] == b"\x93NUMPY", r.stderr)

# SIGINT or SIGTERM while a big output is being written: the temporary file goes, and the
# process dies of the signal
for sig in (signal.SIGINT, signal.SIGTERM):
    p = subprocess.Popen([bin, "synth", "--shape", "bitnet-2b4t", "--type", "tq2_0",
                          W("big.gguf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        if any(n.startswith("big.gguf.tmp.") for n in os.listdir(work)):
            break
        time.sleep(0.01)
    saw = any(n.startswith("big.gguf.tmp.") for n in os.listdir(work))
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    check("%s during synth: the temporary file is removed" % sig.name,
          saw and rc == -sig and not any(n.startswith("big.gguf") for n in os.listdir(work)),
          (saw, rc, os.listdir(work)))

# ---- stdout failures are failures -----------------------------------------------------------
cases = [
    ("--help", ["--help"]),
    ("info", ["info", model]),
    ("sysinfo", ["sysinfo"]),
    ("selftest", ["selftest"]),
    ("tokenize", ["tokenize", "-m", model, "Hello world"]),
    ("detokenize", ["detokenize", "-m", model, "1,2,3"]),
    ("run", ["run", "-m", model, "-p", "Hello", "-n", "8", "--temp", "0"]),
    ("bench model", ["bench", "model", "-m", model, "-p", "8", "-n", "4", "-r", "1"]),
    ("perplexity", ["perplexity", "-m", model, "-f", W("text.txt"), "-c", "32", "--chunks", "2"]),
]
with open(W("text.txt"), "w") as f:
    f.write("The cat sat on the mat. " * 40)
for name, args in cases:
    ok = run(*args)
    with open("/dev/full", "wb") as full:
        r = run(*args, stdout=full, capture_output=False, stderr=subprocess.PIPE)
    check("%s > /dev/full exits non-zero (and 0 normally)" % name,
          ok.returncode == 0 and r.returncode != 0 and b"No space left" in r.stderr,
          (ok.returncode, r.returncode, r.stderr[-200:]))
    r = subprocess.run([bin, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120, pass_fds=(), close_fds=True,
                       preexec_fn=lambda: os.close(1))
    check("%s with stdout closed exits non-zero" % name, r.returncode != 0, r.stderr[-200:])
r = run("chat", "-m", model, "-n", "4", input=b"Hello\n", stdout=open("/dev/full", "wb"),
        capture_output=False, stderr=subprocess.PIPE)
check("chat > /dev/full exits non-zero", r.returncode != 0, r.stderr[-200:])

# ---- users ------------------------------------------------------------------------------------
long = W("long.gguf")
subprocess.run([make_model, long, "--ctx", "65536"], check=True)
p = subprocess.Popen([bin, "run", "-m", long, "-p", "Hello", "-n", "-1", "-c", "65536",
                      "--temp", "0", "--ignore-eos"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
first = p.stdout.read(1)
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=60)
check("Ctrl-C in run: exit 130 and the timing line",
      first and p.returncode == 130 and b"stopped by an interrupt" in err, (p.returncode, err))

p = subprocess.Popen([bin, "chat", "-m", long, "-n", "-1", "-c", "65536", "--temp", "0",
                      "--ignore-eos", "--template", "bitnet"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdin.write(b"Hello\n")
p.stdin.flush()
first = p.stdout.read(1)
p.send_signal(signal.SIGINT)  # ends this reply, not the chat
time.sleep(0.5)
p.stdin.write(b"Again\n")
p.stdin.close()
time.sleep(0.5)
p.send_signal(signal.SIGINT)  # and the second one
out = first + p.stdout.read()
err = p.stderr.read()
p.wait(timeout=60)
check("Ctrl-C in chat stops a reply; the conversation goes on",
      first and p.returncode == 0 and out.count(b"\n") >= 2, (p.returncode, err[-300:]))

# A padded vocabulary: 64 embedding rows past the tokenizer's 512 tokens. Sampling nearly
# uniformly over 300 steps would pick one of them at once if they were not masked, and such an
# id has no text to print.
padded = W("padded.gguf")
subprocess.run([make_model, padded, "--pad", "64"], check=True)
r = run("run", "-m", padded, "-p", "Hello", "-n", "300", "--temp", "50", "--top-k", "0",
        "--top-p", "1", "--min-p", "0", "--ignore-eos")
check("a padded vocabulary's extra rows are never sampled",
      r.returncode == 0 and b"generation: 300 tokens" in r.stderr, r.stderr[-300:])

seeds = []
for _ in range(2):
    r = run("run", "-m", model, "-p", "Hello", "-n", "4", "--temp", "0.8")
    m = re.search(rb"seed: (\d+) \(--seed \1 repeats this run\)", r.stderr)
    seeds.append((m.group(1) if m else None, r.stdout))
check("without --seed a new seed is drawn and printed",
      seeds[0][0] and seeds[1][0] and seeds[0][0] != seeds[1][0], seeds)
again = run("run", "-m", model, "-p", "Hello", "-n", "4", "--temp", "0.8", "--seed",
            seeds[0][0].decode() if seeds[0][0] else "1")
check("--seed repeats a run", again.stdout == seeds[0][1] and b"seed:" not in again.stderr,
      (again.stdout, seeds[0][1]))
r = run("run", "-m", model, "-p", "Hello", "-t", "257")
check("-t above the pool's limit is a usage error naming -t",
      r.returncode == 2 and b"-t 257" in r.stderr and b"256" in r.stderr, r.stderr)

greedy = run("run", "-m", model, "-p", "Once upon a time", "-n", "8", "--temp", "0").stdout
with open(W("prompt.txt"), "w") as f:
    f.write("Once upon a time")
r = run("run", "-m", model, "-f", W("prompt.txt"), "-n", "8", "--temp", "0")
check("run -f FILE reads the prompt from a file", r.stdout == greedy and r.returncode == 0,
      r.stderr)
r = run("run", "-m", model, "-p", "-", "-n", "8", "--temp", "0", input=b"Once upon a time")
check("run -p - reads the prompt from stdin", r.stdout == greedy and r.returncode == 0, r.stderr)
big = "Once upon a time " * 12000  # 200 KB: over the 128 KiB an argument can be
r = run("run", "-m", long, "-f", "-", "-n", "0", "-c", "4096", input=big.encode())
m = re.search(rb"the prompt has (\d+) tokens", r.stderr)
check("a prompt of 200 KB through stdin is read whole", m and int(m.group(1)) > 100000,
      r.stderr[-300:])

r = run("run", "-m", model, "-p", "Hello", "--temp", "1e309")
check("--temp 1e309 is out of range, not 'not a number'",
      r.returncode == 2 and b"out of range" in r.stderr, r.stderr)
r = run("detokenize", "-m", model)
check("detokenize without ids is a usage error", r.returncode == 2, r.stderr)
r = run("detokenize", "-m", model, "-", input=b"1, 2\n3\n")
check("detokenize - reads ids from stdin", r.returncode == 0 and
      r.stdout == run("detokenize", "-m", model, "1,2,3").stdout, r.stderr)
r = run("bench", "model", "-m", model, "-p", "0", "-n", "0")
check("bench model -p 0 -n 0 is a usage error", r.returncode == 2, r.stderr)
r = run("convert", hf, W("x.gguf"), "--type", "q4_0")
check("convert --type q4_0 is a usage error (exit 2)", r.returncode == 2, r.stderr)
r = run("logits", "--help")
check("logits --help lists every option", r.returncode == 0 and all(
    o in r.stdout for o in [b"-m,", b"-p,", b"-f,", b"--ids", b"--all", b"--out", b"-c,", b"-t,",
                            b"--no-bos", b"--kv-type", b"--head-type"]), r.stdout)
r = run("run", "--help")
check("run --help documents the sampling order and the --stop limit",
      b"llama.cpp" in r.stdout and b"16" in r.stdout and b"temperature" in r.stdout, r.stdout)
r = run("info", os.path.join(hf, "model.safetensors"))
check("info on a lone .safetensors shows no empty hyper-parameters",
      r.returncode == 0 and b"architecture:" not in r.stdout and b"hidden 0" not in r.stdout,
      r.stdout[:300])

# text from the file with bad UTF-8 and control characters: valid JSON
weird = W("weird.gguf")
subprocess.run([make_model, weird], check=True)
data = bytearray(open(weird, "rb").read())
i = data.find(b"random-test")
data[i:i + 11] = b"bad\xff\x1b[2J\x07xy"  # same length: invalid UTF-8, ESC, BEL
open(weird, "wb").write(bytes(data))
r = run("info", "--json", weird)
try:
    doc = json.loads(r.stdout.decode("utf-8"))
    ok = "\ufffd" in doc["name"] and "\x1b" in doc["name"]
except (ValueError, KeyError) as e:
    ok = False
check("info --json with bad UTF-8 in the file is valid JSON", r.returncode == 0 and ok,
      r.stdout[:200])
if shutil.which("script"):  # util-linux: run it on a pseudo-terminal, as a user would
    r = subprocess.run(["script", "-qc", "'%s' info '%s'" % (bin, weird), "/dev/null"],
                       capture_output=True, timeout=60)
    check("info on a terminal shows control characters from the file escaped",
          b"\\x1b[2J\\x07" in r.stdout and b"\x1b[2J" not in r.stdout, r.stdout[:300])
    # an error message quoting the file: escaped on the terminal too
    bad_arch = W("bad-arch.gguf")
    data = bytearray(open(model, "rb").read())
    i = data.find(b"bitnet", data.find(b"general.architecture"))
    data[i:i + 6] = b"\x1b[2J\x07y"
    open(bad_arch, "wb").write(bytes(data))
    r = subprocess.run(["script", "-qc", "'%s' run -m '%s' -p hi" % (bin, bad_arch), "/dev/null"],
                       capture_output=True, timeout=60)
    check("an error naming the file's text is escaped on a terminal",
          b"\\x1b[2J" in r.stdout and b"\x1b[2J" not in r.stdout, r.stdout[:300])
else:
    print("skip terminal escaping: no script(1)")
r = run("bench", "model", "-m", weird, "-p", "4", "-n", "2", "-r", "1", "--json")
try:
    json.loads(r.stdout.decode("utf-8"))
    ok = True
except ValueError:
    ok = False
check("bench model --json with bad UTF-8 in the file is valid JSON", r.returncode == 0 and ok,
      r.stdout[:200])

# chat: a NUL in a line is reported; special-token text typed by the user is text by default
r = run("chat", "-m", model, "-n", "2", "--temp", "0", input=b"a\x00b\nHello\n")
check("chat says a line holds a NUL", r.returncode == 0 and b"NUL" in r.stderr, r.stderr)
lines = {}
for flag in ([], ["--special"]):
    r = run("chat", "-m", model, "-n", "1", "--temp", "0", "--print-prompt", *flag,
            input=b"<|eot_id|>\n")
    m = re.search(rb'"tokens":\s*(\d+)', r.stderr)
    lines[bool(flag)] = int(m.group(1)) if m else None
check("chat: typed <|eot_id|> is text unless --special",
      lines[False] and lines[True] and lines[False] > lines[True], lines)

shutil.rmtree(work, ignore_errors=True)
finish("hardening.sh")
PY
