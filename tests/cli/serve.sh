#!/usr/bin/env bash
# serve.sh - `bitnet serve` end to end on loopback: curl for the plain endpoints and the
# official openai package (tests/py/serve_client.py) for chat and completions, streamed and
# not, stop strings, seeds, concurrency through the slots, a vanished client, errors; then a
# graceful SIGTERM with streams in flight: each ends (an error event or its [DONE]), the server
# exits 0 promptly.
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
"$py" -c "import openai" 2>/dev/null || { echo "skipped: no openai package in .venv (scripts/deps.sh)"; exit 77; }
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
key="sk-test-$RANDOM"
"$bin" serve --port $port --parallel 4 -t 2 --api-key "$key" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$port/health")" = '{"status":"ok"}' ] && ok "health" || bad "health"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models")
[ "$code" = 401 ] && ok "no key: 401" || bad "no key: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$port/nowhere")
[ "$code" = 404 ] && ok "unknown path: 404" || bad "unknown path: $code"
curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/metrics" |
    grep -q '^bitnet_slots 4$' && ok "metrics" || bad "metrics"
"$py" "$root/tests/py/serve_client.py" "http://127.0.0.1:$port" "$key" || bad "the openai client"
curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/metrics" |
    awk '$1 == "bitnet_requests_total" && $2 >= 20 {found = 1} END {exit !found}' &&
    ok "metrics count the requests" || bad "metrics after the client"
# a bounded queue: one slot and 16 waiting; the rest get 503 with Retry-After
port2=$((port + 1))
"$bin" serve --port $port2 --parallel 1 -t 2 2>/dev/null &
pid2=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port2/health" >/dev/null && break; sleep 0.1; done
for i in $(seq 24); do
    curl -s -D "$tmp/h$i" -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port2/v1/completions" \
        -d '{"prompt":"Once upon a time","max_tokens":200,"temperature":0}' >"$tmp/code$i" &
done
wait $(jobs -p | grep -v "^$pid\$" | grep -v "^$pid2\$") 2>/dev/null
accepted=$(cat "$tmp"/code* | grep -c 200); refused=$(cat "$tmp"/code* | grep -c 503)
# (17 = the slot and the queue; a request that ends before the last arrive makes room for more)
[ "$accepted" -ge 17 ] && [ "$refused" -ge 1 ] && [ $((accepted + refused)) = 24 ] &&
    grep -qi '^retry-after: 1' "$tmp"/h* &&
    ok "a full queue: $accepted answered, $refused refused with 503 and Retry-After" ||
    bad "queue: $accepted answered, $refused refused"
kill $pid2; wait $pid2 2>/dev/null

# graceful shutdown with streams in flight: 24 streams through 4 slots take seconds, and the
# signal comes after half of one; each must end with [DONE] or an error event, none hang
for i in $(seq 24); do
    (curl -s -N -m 60 -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/chat/completions" \
        -d '{"messages":[{"role":"user","content":"Tell me a very long story."}],"max_tokens":220,"temperature":0,"stream":true}' \
        >"$tmp/stream$i" 2>/dev/null; echo $? >"$tmp/rc$i") &
done
sleep 0.5
kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then bad "still running 10 s after SIGTERM"; else
    wait $pid; rc=$?
    [ $rc = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
fi
wait
ended=0 cut=0 closed=0
for i in $(seq 24); do # [DONE], the shutdown's error (event or 503), or refused / closed unread
    if grep -q 'shutting down' "$tmp/stream$i"; then cut=$((cut + 1)); ended=$((ended + 1))
    elif grep -q '\[DONE\]' "$tmp/stream$i"; then ended=$((ended + 1))
    elif [ "$(cat "$tmp/rc$i")" = 7 ] || [ "$(cat "$tmp/rc$i")" = 52 ]; then
        closed=$((closed + 1)); ended=$((ended + 1)); fi
done
[ $ended = 24 ] && ok "24 streams ended cleanly ($cut with the shutdown's error, $closed not let in)" ||
    bad "$((24 - ended)) of 24 streams did not end cleanly"
[ $cut -gt 0 ] && ok "the shutdown cut running streams" || bad "no stream was running at SIGTERM"
grep -q 'stopping' "$tmp/log" && ok "the server said it stopped" || bad "log: $(cat "$tmp/log")"
exit $fail
