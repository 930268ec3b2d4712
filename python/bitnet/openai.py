"""OpenAI-shaped completion dicts (the shapes llama-cpp-python and OpenAI's API return)."""

from __future__ import annotations

import time
import uuid
from typing import Iterator


def _usage(model) -> dict:
    r = model.last_result
    return {"prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
            "total_tokens": r["prompt_tokens"] + r["completion_tokens"]}


def _choice(kind: str, text: str | None, finish: str | None, first: bool, stream: bool) -> dict:
    if kind == "text_completion":
        return {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish}
    if not stream:
        return {"index": 0, "message": {"role": "assistant", "content": text},
                "logprobs": None, "finish_reason": finish}
    delta = {"role": "assistant", "content": text} if first else \
        ({"content": text} if text is not None else {})
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def completion(model, pieces: Iterator[str], kind: str, stream: bool):
    """The whole answer as one dict, or (stream) an iterator of chunk dicts."""
    head = {"id": ("cmpl-" if kind == "text_completion" else "chatcmpl-") + uuid.uuid4().hex,
            "object": kind, "created": int(time.time()), "model": model.info["name"]}
    if not stream:
        text = "".join(pieces)
        return {**head, "choices": [_choice(kind, text, model.last_result["finish_reason"],
                                            True, False)], "usage": _usage(model)}

    def chunks() -> Iterator[dict]:
        chunk = {**head, "object": kind if kind == "text_completion" else kind + ".chunk"}
        first = True
        for piece in pieces:
            yield {**chunk, "choices": [_choice(kind, piece, None, first, True)]}
            first = False
        yield {**chunk, "choices": [_choice(kind, None if not first else "",
                                            model.last_result["finish_reason"], first, True)],
               "usage": _usage(model)}
    return chunks()
