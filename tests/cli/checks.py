"""checks.py - the pass/fail bookkeeping of the CLI tests written in Python (run.sh, chat.sh,
perplexity.sh, bench_model.sh): one line per check, the count of failures, the exit status."""
import sys

fails = 0


def check(name, ok, detail=""):
    global fails
    print(("ok   " + name) if ok else ("FAIL " + name + ": " + str(detail)))
    fails += not ok


def finish(script):
    print("%s: %d failed" % (script, fails))
    sys.exit(1 if fails else 0)
