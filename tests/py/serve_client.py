"""serve_client.py - `bitnet serve` through the official openai package (and plain HTTP).

Run by tests/cli/serve.sh against a server it started: base URL and API key as arguments.
Every check asserts real values: greedy answers equal across streaming and not, across requests
run one at a time and eight at once (continuous batching must not change a sequence's tokens),
seeds reproduce sampled text, stop strings cut it, usage counts add up, and errors come in
OpenAI's shape with the right status.
"""
import concurrent.futures as cf
import json
import sys
import time
import urllib.error
import urllib.request

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)
PROMPTS = ["Once upon a time", "The cat sat", "It was a fine morning, and", "Hello there,",
           "In the beginning", "She opened the door", "The weather today", "My favourite food"]


def chat(content, **kw):
    return client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": content}], **kw)


# models and health
models = client.models.list()
assert [m.id for m in models.data] == ["default"], models

# chat, not streamed and streamed: the same greedy text, usage that adds up
r = chat("Tell me a story.", max_tokens=24, temperature=0)
text = r.choices[0].message.content
assert r.choices[0].message.role == "assistant" and len(text) > 0, r
assert r.choices[0].finish_reason in ("length", "stop"), r
assert r.usage.completion_tokens <= 24 and r.usage.total_tokens == (
    r.usage.prompt_tokens + r.usage.completion_tokens), r.usage
streamed, last = "", None
for chunk in chat("Tell me a story.", max_tokens=24, temperature=0, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        streamed += chunk.choices[0].delta.content
    if chunk.choices and chunk.choices[0].finish_reason:
        last = chunk.choices[0].finish_reason
assert streamed == text, (streamed, text)
assert last == r.choices[0].finish_reason, last
print("ok: chat, streamed and not, same greedy text:", repr(text[:40]))

# completions: max_tokens limit gives "length"; streamed equals whole
c = client.completions.create(model="default", prompt="Once upon a time", max_tokens=10,
                              temperature=0)
assert c.usage.completion_tokens == 10 and c.choices[0].finish_reason == "length", c
s = "".join(x.choices[0].text for x in client.completions.create(
    model="default", prompt="Once upon a time", max_tokens=10, temperature=0, stream=True)
    if x.choices)
assert s == c.choices[0].text, (s, c.choices[0].text)
print("ok: completions, limit and stream:", repr(s))

# stop strings: the text ends before the first stop, finish_reason stop
long = client.completions.create(model="default", prompt="Once upon a time", max_tokens=40,
                                 temperature=0).choices[0].text
cut = long[3:8]
st = client.completions.create(model="default", prompt="Once upon a time", max_tokens=40,
                               temperature=0, stop=[cut, "zzzz"])
assert st.choices[0].text == long[:long.index(cut)], (st.choices[0].text, long, cut)
assert st.choices[0].finish_reason == "stop", st
print("ok: stop string", repr(cut))

# seeds: the same seed the same sampled text, another seed (almost surely) other text
a = chat("Say something.", max_tokens=30, temperature=1.0, seed=42).choices[0].message.content
b = chat("Say something.", max_tokens=30, temperature=1.0, seed=42).choices[0].message.content
d = chat("Say something.", max_tokens=30, temperature=1.0, seed=7).choices[0].message.content
assert a == b, (a, b)
assert a != d, (a, d)
print("ok: seed reproducibility")

# eight at once through four slots equal each alone (continuous batching keeps sequences apart)
alone = [client.completions.create(model="default", prompt=p, max_tokens=16,
                                   temperature=0).choices[0].text for p in PROMPTS]
with cf.ThreadPoolExecutor(8) as pool:
    together = list(pool.map(lambda p: client.completions.create(
        model="default", prompt=p, max_tokens=16, temperature=0).choices[0].text, PROMPTS))
assert together == alone, (together, alone)
print("ok: 8 concurrent requests equal each alone")

# a client that goes away mid-stream; the server goes on serving
stream = chat("Tell me a long story.", max_tokens=200, temperature=0, stream=True)
for i, chunk in enumerate(stream):
    if i == 3:
        break
stream.close()
assert chat("Hi", max_tokens=4, temperature=0).choices[0].message.content is not None
print("ok: a vanished client, then more requests")

# logprobs: greedy tokens are the most likely, their texts make the answer, streamed = whole
r = chat("Tell me a story.", max_tokens=12, temperature=0, logprobs=True, top_logprobs=3)
content = r.choices[0].logprobs.content
assert len(content) == r.usage.completion_tokens, (len(content), r.usage)
for e in content:
    assert e.logprob <= 0 and len(e.top_logprobs) == 3, e
    assert e.top_logprobs[0].token == e.token and abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6, e
    assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob, e
assert b"".join(bytes(e.bytes) for e in content).decode() == r.choices[0].message.content
streamed = []
for chunk in chat("Tell me a story.", max_tokens=12, temperature=0, logprobs=True,
                  top_logprobs=3, stream=True):
    if chunk.choices and chunk.choices[0].logprobs and chunk.choices[0].logprobs.content:
        streamed += chunk.choices[0].logprobs.content
assert [(e.token, round(e.logprob, 5)) for e in streamed] == [
    (e.token, round(e.logprob, 5)) for e in content], (streamed, content)
c = client.completions.create(model="default", prompt="Once upon a time", max_tokens=6,
                              temperature=0, logprobs=2)
lp = c.choices[0].logprobs
assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 6, lp
assert all(x <= 0 for x in lp.token_logprobs) and lp.text_offset[0] == 0, lp
assert "".join(lp.tokens) == c.choices[0].text, (lp.tokens, c.choices[0].text)
print("ok: logprobs (chat and completions, streamed and not)")

# a slowloris: a request whose body never finishes holds its own connection only
import socket
from urllib.parse import urlparse
u = urlparse(base)
slow = [socket.create_connection((u.hostname, u.port)) for _ in range(4)]
for sock in slow:
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 key.encode() + b"\r\nContent-Length: 1000\r\n\r\n{\"prompt\": \"a")
t0 = time.time()
assert chat("Hi", max_tokens=4, temperature=0).choices[0].message.content is not None
assert time.time() - t0 < 10, time.time() - t0
for sock in slow:
    sock.close()
print("ok: 4 unfinished bodies do not hold up other requests")

# errors in OpenAI's shape
for kw, status, param in [({"temperature": 3.5}, 400, "temperature"),
                          ({"max_tokens": 10**6}, 400, "max_tokens"),
                          ({"n": 2}, 400, "n"), ({"logprobs": 9}, 400, "logprobs")]:
    try:
        client.completions.create(model="default", prompt="x", **kw)
        raise AssertionError(f"{kw} accepted")
    except openai.APIStatusError as e:
        assert e.status_code == status, (kw, e.status_code)
        assert e.body["param"] == param and e.body["message"], e.body
bad = openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0)
try:
    bad.models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401
print("ok: errors (400 with the param, 401 for a wrong key)")


def raw(path, data, headers=None):
    req = urllib.request.Request(base + path, data=data, method="POST",
                                 headers={"Authorization": "Bearer " + key, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


for body in [b"{not json", b"[1,2]", b'{"messages": "hi"}', b'{"messages": [{"role": 5}]}',
             '{"prompt": "\udcff"}'.encode("utf-8", "surrogatepass"), b'{"prompt": 1e999}']:
    code, out = raw("/v1/chat/completions" if b"messages" in body else "/v1/completions", body)
    assert code == 400 and "error" in json.loads(out), (body, code, out)
code, out = raw("/v1/completions", b'{"prompt": "' + b"a" * (2 << 20) + b'"}')
assert code == 413, code
code, out = raw("/tokenize", json.dumps({"content": "Hello world"}).encode())
ids = json.loads(out)["tokens"]
code, out = raw("/detokenize", json.dumps({"tokens": ids}).encode())
assert json.loads(out)["content"] == "Hello world", out
print("ok: malformed bodies 400, oversized 413, tokenize round trip")
