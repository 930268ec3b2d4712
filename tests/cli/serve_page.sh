#!/usr/bin/env bash
# serve_page.sh - the chat page of `bitnet serve` (GET /) in headless Chromium: a message typed
# into the page and sent streams back, equal to the API's greedy answer; a screenshot is kept
# in the build tree (serve_page.png) to look at. Skips without chromium or the .venv.
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
"$py" -c "import websocket" 2>/dev/null || { echo "skipped: no websocket-client in .venv (scripts/deps.sh)"; exit 77; }
command -v chromium >/dev/null || { echo "skipped: no chromium (scripts/deps.sh installs it)"; exit 77; }
port=$((20000 + RANDOM % 20000))
"$bin" serve --port $port --parallel 2 -t 2 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
page=$(curl -s "http://127.0.0.1:$port/")
case "$page" in *"<title>BitNet-C chat</title>"*) echo "ok: GET / serves the page" ;;
    *) echo "FAIL: GET / gave: ${page:0:200}"; exit 1 ;; esac
shot="$(dirname "$bin")/../serve_page.png"
timeout 120 "$py" "$root/tests/py/serve_page.py" "http://127.0.0.1:$port" "$shot"
