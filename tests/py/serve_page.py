"""serve_page.py - the chat page of `bitnet serve` in a real browser (headless Chromium driven
through the DevTools protocol): load /, type a message into the page's box and press its Send
button, watch the answer grow while it streams, compare the final text with the API's greedy
answer for the same conversation, and take a screenshot.

    serve_page.py BASE_URL SCREENSHOT.png
"""
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

base, shot = sys.argv[1], sys.argv[2]
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if chromium is None:
    print("skipped: no chromium")
    sys.exit(77)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
profile = tempfile.mkdtemp()
browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
                            "--window-size=1000,700", "about:blank"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
            ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
            break
        except (OSError, StopIteration):
            time.sleep(0.1)
    ws = websocket.create_connection(ws_url, timeout=30)
    ids = iter(range(1, 10**6))

    def call(method, **params):
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg.get("result", {})

    def js(expr):
        return call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get("value")

    call("Page.enable")
    call("Page.navigate", url=base + "/?temperature=0&max_tokens=48")
    for _ in range(100):
        if js("document.readyState") == "complete" and js("!!document.getElementById('send')"):
            break
        time.sleep(0.1)
    js("document.getElementById('input').value = 'Tell me a story.';"
       "document.getElementById('send').click(); true")
    seen, state = [], None
    for _ in range(600):
        state = js("(document.querySelector('.msg.assistant, .msg.error') || {dataset: {}})"
                   ".dataset.state || null")
        text = js("(document.querySelector('.msg.assistant, .msg.error') || {}).textContent || ''")
        if not seen or text != seen[-1]:
            seen.append(text)
        if state in ("done", "error"):
            break
        time.sleep(0.02)
    assert state == "done", (state, seen[-1:])
    final = seen[-1]
    png = base64.b64decode(call("Page.captureScreenshot", format="png")["data"])
    with open(shot, "wb") as f:
        f.write(png)
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a story."}],
                       "temperature": 0, "max_tokens": 48}).encode()
    want = json.load(urllib.request.urlopen(urllib.request.Request(
        base + "/v1/chat/completions", data=body,
        headers={"Content-Type": "application/json"})))["choices"][0]["message"]["content"]
    assert final == want, (final, want)
    partial = [t for t in seen if 0 < len(t) < len(final)]
    print(f"ok: the page streamed the answer ({len(partial)} partial states seen, "
          f"{len(final)} characters, equal to the API's); screenshot {shot} ({len(png)} bytes)")
    assert len(png) > 5000
finally:
    browser.terminate()
    browser.wait(timeout=10)
    shutil.rmtree(profile, ignore_errors=True)
