"""serve_load.py - load `bitnet serve` over loopback and report throughput and latency.

    python bench/serve_load.py --bin build/bin/bitnet --model M --parallel 8 \
        --requests 200 --clients 16 --max-tokens 64 [--threads 2] [--soak SECONDS]

Starts the server, sends --requests streamed chat completions from --clients concurrent
clients (greedy, ignore-eos-like: long answers are asked and max_tokens ends them), and prints
one JSON line: errors, aggregate generated tokens/s over the run's wall time, time to first
token and per-token latency (p50, p99), and the server's resident set (start, end; with
--soak, sampled every 10 s while the load repeats for that long). Standard library plus the
openai package's streaming client is not needed: plain HTTP keeps the client cheap.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = ["Tell me a story about a dragon.", "Write a poem about the sea.",
           "Explain how a bicycle works.", "Describe your favourite city.",
           "What is the meaning of friendship?", "Give me a recipe for bread.",
           "Tell me about the moon.", "Why do cats purr?"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_request(port, i, max_tokens, out):
    body = json.dumps({"messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                       "max_tokens": max_tokens, "temperature": 0, "stream": True})
    t0 = time.perf_counter()
    first, times, tokens = None, [], 0
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            out.append({"error": r.status})
            return
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if "error" in ev:
                out.append({"error": ev["error"]["message"]})
                return
            now = time.perf_counter()
            delta = ev["choices"][0]["delta"] if ev.get("choices") else {}
            if delta.get("content"):
                if first is None:
                    first = now - t0
                times.append(now)
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
        gaps = [b - a for a, b in zip(times, times[1:])]
        out.append({"ttft": first, "gaps": gaps, "tokens": tokens})
    except Exception as e:  # a load test counts failures instead of stopping at the first
        out.append({"error": repr(e)})


def run_load(port, n, clients, max_tokens):
    results, lock, nxt = [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            one_request(port, i, max_tokens, results)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--soak", type=float, default=0)
    ap.add_argument("extra", nargs="*", help="more `bitnet serve` options, after --")
    a = ap.parse_args()
    port = free_port()
    cmd = [a.bin, "serve", "-m", a.model, "--port", str(port), "--parallel", str(a.parallel),
           "-c", str(a.ctx)] + (["-t", str(a.threads)] if a.threads else []) + a.extra
    srv = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        one_request(port, 0, 4, [])  # warm up
        rss0 = rss_kb(srv.pid)
        results, wall = run_load(port, a.requests, a.clients, a.max_tokens)
        rss_samples = [rss_kb(srv.pid)]
        end, last_sample = time.time() + a.soak, time.time()
        while time.time() < end:
            more, _ = run_load(port, a.clients * 2, a.clients, a.max_tokens)
            results += more
            if time.time() - last_sample >= 10:  # one sample every 10 s
                rss_samples.append(rss_kb(srv.pid))
                last_sample = time.time()
        if a.soak > 0:
            rss_samples.append(rss_kb(srv.pid))
        ok = [r for r in results if "error" not in r]
        gaps = [g for r in ok for g in r["gaps"]]
        report = {
            "parallel": a.parallel, "requests": len(results), "clients": a.clients,
            "errors": len(results) - len(ok), "wall_s": round(wall, 3),
            "generated_tokens": sum(r["tokens"] for r in ok[:a.requests]),
            "tokens_per_s": round(sum(r["tokens"] for r in ok[:a.requests]) / wall, 2),
            "ttft_p50_s": pct([r["ttft"] for r in ok if r["ttft"] is not None], 50),
            "ttft_p99_s": pct([r["ttft"] for r in ok if r["ttft"] is not None], 99),
            "token_gap_p50_s": pct(gaps, 50), "token_gap_p99_s": pct(gaps, 99),
            "rss_kb_start": rss0, "rss_kb_samples": rss_samples,
            "error_examples": sorted({str(r["error"])[:120] for r in results if "error" in r})[:3],
        }
        print(json.dumps(report))
        return 0 if report["errors"] == 0 else 1
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
